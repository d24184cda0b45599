"""The first real run, rehearsed on loopback: the pipeline as a user installs it, driven by the bot.

- the repository: ``chatops-bot install-workflows`` into a fresh git repository (tagged releases);
- GitHub: the GitHub fake, whose runs really execute the installed workflow's job (``sandbox.actions_runner``)
  when the bot dispatches it, with the variables Terraform would set from the example tfvars
  (``infra/modules/github-environments`` evaluated for ``infra/environments/production.tfvars``);
- AWS: moto's server, seeded with what exists before the first deploy (the ECR images the build job pushed,
  the Lambda function with its first version, the canary alarm);
- the job's Python: a virtualenv without this project, into which the job itself installs the vendored
  engine's hash-pinned requirements (from PyPI, like a runner would).

Used by the first-run rehearsal test (tests/contract/test_first_run.py) and by ``make demo``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import venv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3

from sandbox import github_payloads as gp
from sandbox.actions_runner import JobResult, LocalRunner
from sandbox.rehearsal_parts import Edge, lay_out, seed_web, seed_worker

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
ACCOUNT = "123456789012"
REGION = "us-east-1"
# The repository secrets the workflows read (infra-ci), as a team sets them; test values, never real ones.
SECRETS = {"TF_PLAN_KEY": "rehearsal-plan-key-not-a-secret", "TF_GITHUB_READ_TOKEN": "ghp-rehearsal-read",
           "TF_GITHUB_TOKEN": "ghp-rehearsal-write"}
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
           "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}
log = logging.getLogger(__name__)


def _hcl(path: Path) -> dict[str, Any]:
    from sandbox import hcl

    return _clean(hcl.load(path))


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items() if not str(k).startswith("__")}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def terraform_variables(tfvars_name: str = "production") -> dict[str | None, dict[str, str]]:
    """The GitHub Actions variables ``infra/modules/github-environments`` sets, by environment (None: repository),
    for the example root (``infra/examples/complete``) applied with ``infra/environments/<name>.tfvars``.

    Evaluates the module's own maps (variable -> role suffix, variable -> environment field) and naming rule;
    a contract test checks this reading against the module text."""
    module = _hcl(INFRA / "modules" / "github-environments" / "main.tf")
    local: dict[str, Any] = {}
    for block in module.get("locals", []):
        local.update(block)
    tfvars = _hcl(INFRA / "environments" / f"{tfvars_name}.tfvars")
    prefix = "chatops"  # infra/examples/complete: role_name_prefix = "chatops"
    envs: dict[str, Any] = tfvars["github_environments"]
    out: dict[str | None, dict[str, str]] = {}
    for env, cfg in envs.items():
        values = {str(k): str(v) for k, v in (cfg.get("variables") or {}).items()}
        for name, field in local["environment_target_variables"].items():
            if cfg.get(field) is not None:
                values[name] = str(cfg[field])
        for name, suffix in local["environment_role_variables"].items():
            values[name] = f"arn:aws:iam::{cfg['aws_account_id']}:role/{prefix}-{env}-github-{suffix}"
        out[env] = values
    repo: dict[str, str] = {"AWS_REGION": str(tfvars.get("aws_region", REGION))}
    for env, cfg in envs.items():
        repo[local["plan_role_variable_prefix"] + env.upper().replace("-", "_")] = (
            f"arn:aws:iam::{cfg['aws_account_id']}:role/{prefix}-{env}-github-{local['plan_role_suffix']}")
    if tfvars.get("api_function_names"):
        repo["API_FUNCTION_NAME"] = str(tfvars["api_function_names"][0])
    if tfvars.get("api_ecr_repository_names"):
        repo["API_ECR_REPOSITORY"] = str(tfvars["api_ecr_repository_names"][0])
    if tfvars.get("bot_base_url"):
        repo["CHATOPS_URL"] = str(tfvars["bot_base_url"])
    out[None] = repo
    return out


def git_sha(repo: Path, ref: str) -> str:
    done = subprocess.run(["git", "rev-parse", f"{ref}^{{commit}}"], cwd=repo, capture_output=True, text=True,
                          check=True)
    return done.stdout.strip()


def protected_environments(tfvars_name: str = "production") -> list[str]:
    """Environments whose jobs wait for the bot's custom deployment protection rule."""
    tfvars = _hcl(INFRA / "environments" / f"{tfvars_name}.tfvars")
    if tfvars.get("chatops_app_id") is None:
        return []
    return [env for env, cfg in tfvars.get("github_environments", {}).items() if cfg.get("use_protection_rule")]


def job_python(where: Path) -> Path:
    """A virtualenv for the jobs, without this project (so nothing but the vendored engine can be imported);
    returns its bin directory. Runner tools the workflows call (`aws`, `jq`) come from PATH."""
    target = where / "job-venv"
    if not (target / "bin" / "python").exists():
        venv.EnvBuilder(with_pip=False, clear=True).create(target)
        if not _copy_pip(target):
            venv.EnvBuilder(with_pip=True, clear=False).create(target)  # ensurepip: 5 s of pip installing itself
    return target / "bin"


def _copy_pip(target: Path) -> bool:
    """Put this interpreter's installed pip (its package and dist-info, the same Python version: the job venv is made
    from sys.executable) into the job venv, with the `pip` and `pip3` commands: what setup-python leaves on a
    runner, in 0.2 s instead of ensurepip's 5 s. False when there is no pip to copy."""
    try:
        import pip
    except ImportError:
        return False
    source = Path(pip.__file__).parent.parent
    infos = sorted(source.glob(f"pip-{pip.__version__}.dist-info"))
    purelib = subprocess.run([str(target / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()"
                              "['purelib'])"], capture_output=True, text=True, check=True).stdout.strip()
    if not infos or not purelib:
        return False
    shutil.copytree(source / "pip", Path(purelib) / "pip", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(infos[0], Path(purelib) / infos[0].name)
    for name in ("pip", "pip3"):
        script = target / "bin" / name
        script.write_text(f"#!{target / 'bin' / 'python'}\nimport sys\nfrom pip._internal.cli.main import main\n"
                          "sys.exit(main())\n")
        script.chmod(0o755)
    return True


def install_repository(dest: Path, *, tags: dict[str, str]) -> Path:
    """install-workflows into a new git repository holding the example parts (web/, services/worker/, infra/:
    sandbox.rehearsal_parts), so every workflow and job is installed; one commit per tag, tagged."""
    dest.mkdir(parents=True, exist_ok=True)
    lay_out(dest)
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    ident = ["-c", "user.name=Rehearsal", "-c", "user.email=rehearsal@example.invalid"]

    def git(*args: str) -> None:
        subprocess.run(["git", *ident, *args], cwd=dest, env=env, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    done = subprocess.run([sys.executable, "-m", "bot", "install-workflows", str(dest)], cwd=ROOT,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"install-workflows failed: {done.stderr or done.stdout}")
    git("add", "-A")
    git("commit", "-q", "-m", "install the chatops pipeline")
    for tag in tags:
        (dest / "RELEASE").write_text(tag + "\n")
        git("add", "RELEASE")
        git("commit", "-q", "-m", f"release {tag}")
        git("tag", tag)
    return dest


class AwsAccount:
    """The production account as moto's server holds it before the first chat deploy."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def client(self, name: str) -> Any:
        return boto3.client(name, endpoint_url=self.endpoint, region_name=REGION, aws_access_key_id="testing",
                            aws_secret_access_key="testing")

    def seed(self, *, function: str, repository: str, releases: list[str], alarms: list[str]) -> dict[str, str]:
        """ECR images per release (what the build job pushed), the function on the first image, the alarms OK."""
        ecr, lam, cw, iam = (self.client(n) for n in ("ecr", "lambda", "cloudwatch", "iam"))
        ecr.create_repository(repositoryName=repository)
        digests = {}
        for release in releases:
            config = {"digest": "sha256:" + hashlib.sha256(release.encode()).hexdigest(), "size": 1,
                      "mediaType": "application/vnd.docker.container.image.v1+json"}
            manifest = json.dumps({"schemaVersion": 2, "config": config, "layers": [],
                                   "mediaType": "application/vnd.docker.distribution.manifest.v2+json"})
            image = ecr.put_image(repositoryName=repository, imageManifest=manifest, imageTag=release)["image"]
            digests[release] = image["imageId"]["imageDigest"]
        role = iam.create_role(RoleName=f"{function}-exec", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        uri = ecr.describe_repositories(repositoryNames=[repository])["repositories"][0]["repositoryUri"]
        lam.create_function(FunctionName=function, Role=role, PackageType="Image",
                            Code={"ImageUri": f"{uri}@{digests[releases[0]]}"}, Publish=False)
        for alarm in alarms:
            cw.put_metric_alarm(AlarmName=alarm, MetricName="Errors", Namespace="AWS/Lambda", Statistic="Sum",
                                Period=60, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
            cw.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="rehearsal")
        return digests

    def alias(self, function: str, alias: str = "live") -> dict[str, Any]:
        lam = self.client("lambda")
        answer = lam.get_alias(FunctionName=function, Name=alias)
        config = lam.get_function_configuration(FunctionName=function, Qualifier=answer["FunctionVersion"])
        record = json.loads(config.get("Description") or "{}")
        return {"version": answer["FunctionVersion"], "release": record.get("r"),
                "weights": (answer.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}}


class Pipeline:
    """Runs the installed workflows' jobs when the GitHub fake runs a dispatched workflow."""

    def __init__(self, *, repo: Path, python_bin: Path, github: Any, aws_endpoint: str | dict[str, str],
                 variables: dict[str | None, dict[str, str]],
                 assume: Callable[[str, str], None] | None = None, lock: asyncio.Lock | None = None) -> None:
        self.repo = repo
        self.github = github
        self.variables = variables
        self.results: list[tuple[str, JobResult]] = []
        self._lock = lock or asyncio.Lock()
        self.runner = LocalRunner(
            repo, python_bin=python_bin, variables=lambda env: {**variables[None], **variables.get(env, {})},
            github={"repository": github.repository, "api_url": github.url, "server_url": github.url,
                    "token": github.token, "sha": "", "run_id": "1"},
            aws_endpoint=aws_endpoint, assume=assume, secrets=SECRETS)

    def _version(self, ref: str) -> str:
        """What the package job computes (`python -m chatops_release version` at the ref), run for real."""
        tmp = Path(tempfile.mkdtemp(prefix="rehearsal-checkout-"))
        try:
            subprocess.run(["git", "worktree", "add", "-q", "--detach", str(tmp), ref], cwd=self.repo, check=True,
                           capture_output=True)
            env = {**os.environ, "PYTHONPATH": str(self.repo / ".github" / "chatops-release")}
            done = subprocess.run([sys.executable, "-m", "chatops_release", "version", "--repo", str(tmp)],
                                  capture_output=True, text=True, env=env, check=True)
            return str(json.loads(done.stdout)["version"])
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tmp)], cwd=self.repo, capture_output=True)
            shutil.rmtree(tmp, ignore_errors=True)

    async def execute(self, run: gp.Run) -> str:
        """The GitHub fake's executor: run the job a dispatch of this workflow deploys with."""
        async with self._lock:  # one job at a time: the workflows' concurrency groups serialize releases
            self.runner.github.update({"sha": run.head_sha, "run_id": str(run.id), "actor": run.actor})
            try:
                return await self._execute(run)
            except Exception:  # a fault in the rehearsal itself: the run fails visibly, never hangs
                log.exception("rehearsal could not run %s", run.workflow.file)
                return "failure"

    async def _execute(self, run: gp.Run) -> str:
        workflow, inputs = run.workflow.file, dict(run.inputs)
        ref = f"refs/tags/{run.head_branch}" if run.head_branch in self.github.tags else \
            f"refs/heads/{run.head_branch}"
        if workflow == "api-ci.yml":
            version = await asyncio.to_thread(self._version, run.head_branch)
            needs = {"package": {"result": "success", "outputs": {"version": version}}}
            result = await asyncio.to_thread(self.runner.run, workflow, "deploy", inputs=inputs, ref=ref,
                                             event=run.event, needs=needs)
            result.job = "deploy"
            self.results.append((workflow, result))
        else:  # every job of the workflow, in `needs` order, for real (stand-ins where a tool cannot run here)
            jobs = await asyncio.to_thread(self.runner.run_workflow, workflow, inputs=inputs, ref=ref,
                                           event=run.event)
            self.results.extend((workflow, r) for r in jobs.values())
            failed = [r for r in jobs.values() if r.outcome != "success"]
            result = failed[0] if failed else list(jobs.values())[-1] if jobs else JobResult("failure", {})
            if not jobs or (workflow == "rollback.yml" and len(jobs) < 2 and not failed):
                result.outcome = "failure"  # nothing ran (or only rollback's lookup): never a silent success
                result.log += f"\n{workflow}: no job ran"
        if result.outcome != "success":
            log.warning("rehearsal job %s failed: %s", workflow, result.log[-2000:])
        return result.outcome


class _Health:
    """The deployed API's health endpoint (API_HEALTH_URL) on loopback, standing in for the real API."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/health"
        import threading

        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()


class FirstRun:
    """Wire a Stack's GitHub fake to the installed pipeline, one moto server per environment account.

    ``tfvars`` names the managing state's tfvars (its github_environments give each environment's account and
    variables). ``seed(env)`` returns what exists in that account before the first chat deploy.
    """

    FUNCTION, REPOSITORY = "payments-api", "payments-api"

    def __init__(self, stack: Any, workdir: Path, *, environments: tuple[str, ...] = ("staging", "production"),
                 tags: tuple[str, ...] = ("v1.4.1", "v1.4.2"), tfvars: str = "production",
                 assume: Callable[[str, str], None] | None = None, python_bin: Path | None = None) -> None:
        self.stack, self.workdir, self.environments, self.tags = stack, workdir, environments, tags
        self.tfvars, self.assume, self.python_bin = tfvars, assume, python_bin
        self.accounts: dict[str, AwsAccount] = {}
        self._servers: list[Any] = []
        self._health: _Health | None = None
        self.pipeline: Pipeline | None = None
        self.pipelines: list[Pipeline] = []
        self.edges: dict[str, Edge] = {}
        self.variables: dict[str | None, dict[str, str]] | None = None
        self.repo = workdir / "repo"

    def release_version(self, tag: str) -> str:
        return tag.removeprefix("v")  # what `chatops_release version` prints at that tag

    def start(self) -> Pipeline:
        for key, value in AWS_ENV.items():
            os.environ.setdefault(key, value)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        install_repository(self.repo, tags=dict.fromkeys(self.tags, ""))
        variables = terraform_variables(self.tfvars)
        self._health = _Health()
        endpoints: dict[str, str] = {}
        servers = {env: self._moto() for env in self.environments}  # each its own process: like its own account
        for env in self.environments:
            endpoint = self._ready(*servers[env])
            account_id = variables[env]["AWS_API_DEPLOY_ROLE_ARN"].split(":")[4]
            endpoints[account_id] = endpoint
            account = AwsAccount(endpoint)
            account.seed(function=self.FUNCTION, repository=self.REPOSITORY,
                         releases=[self.release_version(t) for t in self.tags],
                         alarms=[variables[env]["API_ALARM_NAME"]])
            seed_worker(account, env)
            distribution = seed_web(account, variables[env]["WEB_BUCKET"])
            edge = Edge(account, distribution)
            self.edges[env] = edge
            self.accounts[env] = account
            variables[env].update({"API_HEALTH_URL": self._health.url, "RELEASE_TRAFFIC_STEPS": "10,100",
                                   "RELEASE_BAKE_SECONDS": "0", "RELEASE_FINAL_BAKE_SECONDS": "1",
                                   "WEB_DISTRIBUTION_ID": distribution, "SITE_URL": edge.url})
        if "production" in self.environments:  # an output of production's github-oidc (known after apply)
            production = variables["production"]["AWS_API_DEPLOY_ROLE_ARN"].split(":")[4]
            variables[None]["AWS_SECURITY_ROLE_ARN"] = f"arn:aws:iam::{production}:role/chatops-production-github-" \
                                                       "security-scan"
        self.variables = variables
        github = self.stack.github
        lock = asyncio.Lock()  # one job at a time across repositories: they share the installed checkout
        python_bin = self.python_bin or job_python(self.workdir)
        for fake in [github, *getattr(github, "children", {}).values()]:
            for tag in self.tags:
                fake.add_ref(tag, git_sha(self.repo, tag))
            for env in protected_environments(self.tfvars):
                fake.protect(env, "custom")
            pipeline = Pipeline(repo=self.repo, python_bin=python_bin, github=fake, aws_endpoint=endpoints,
                                variables=variables, assume=self.assume, lock=lock)
            fake.executor = pipeline.execute
            self.pipelines.append(pipeline)
        self.pipeline = self.pipelines[0]
        return self.pipeline

    def web(self, env: str) -> dict[str, Any]:
        """The site in that environment's account: live origin path, objects in the bucket, invalidations."""
        from sandbox.rehearsal_parts import web_state

        assert self.variables is not None
        return web_state(self.accounts[env], self.variables[env]["WEB_BUCKET"],
                         self.variables[env]["WEB_DISTRIBUTION_ID"])

    def _moto(self) -> tuple[subprocess.Popen[bytes], str]:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._servers.append(proc)
        return proc, f"http://127.0.0.1:{port}"

    @staticmethod
    def _ready(proc: subprocess.Popen[bytes], endpoint: str) -> str:
        import time
        import urllib.request

        deadline = time.monotonic() + 30
        while True:
            try:
                request = urllib.request.Request(f"{endpoint}/moto-api/config", method="POST",
                                                 data=json.dumps({"lambda": {"use_docker": False}}).encode(),
                                                 headers={"Content-Type": "application/json"})
                urllib.request.urlopen(request, timeout=5).close()
                return endpoint
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto's server did not start") from None
                time.sleep(0.2)

    def stop(self) -> None:
        for fake in [self.stack.github, *getattr(self.stack.github, "children", {}).values()]:
            fake.executor = None
        for edge in self.edges.values():
            edge.stop()
        for proc in self._servers:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self._health is not None:
            self._health.stop()

    def released_before(self, env: str, tag: str) -> None:
        """A release that happened before the bot was installed (so there is something to roll back to)."""
        from bot.actions.release import LambdaReleaser, ShiftPlan

        account = self.accounts[env]
        ecr = account.client("ecr")
        uri = ecr.describe_repositories(repositoryNames=[self.REPOSITORY])["repositories"][0]["repositoryUri"]
        digest = ecr.describe_images(repositoryName=self.REPOSITORY, imageIds=[
            {"imageTag": self.release_version(tag)}])["imageDetails"][0]["imageDigest"]
        LambdaReleaser(account.client("lambda"), sleep=lambda _: None).deploy(
            function=self.FUNCTION, alias="live", image_uri=f"{uri}@{digest}", release=self.release_version(tag),
            plan=ShiftPlan(steps=(100,), bake_seconds=0), health=lambda _: None)
