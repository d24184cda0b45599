"""A local runner for the shipped workflows: one job, run on this machine the way a GitHub runner would.

It reads the workflow as ``install-workflows`` laid it into a repository and runs its steps for real:
``run:`` scripts with ``bash --noprofile --norc -eo pipefail`` and the step's evaluated ``env``, the
repository's own composite actions (``./.github/actions/*``), reusable workflows
(``uses: ./.github/workflows/x.yml``), ``GITHUB_OUTPUT`` / ``GITHUB_ENV`` files, and ``if:`` conditions.
The pinned third-party actions are replaced by stand-ins that do what the job relies on:

- ``actions/checkout``: the repository directory is the workspace;
- ``actions/setup-python``: the given interpreter (a virtualenv *without* this project) is first on PATH,
  so the vendored engine and its hash-pinned requirements are what the job really uses;
- ``aws-actions/configure-aws-credentials``: the role and the OIDC subject the job would present are checked
  by ``assume(role_arn, subject)`` (a trust policy), then moto's endpoint and test credentials are set;
- ``aws-actions/amazon-ecr-login``: outputs the account's registry host;
- ``actions/upload-artifact`` / ``download-artifact``: a directory per artifact name;
- ``actions/setup-node``, ``hashicorp/setup-terraform``: the tools are on PATH (as stand-ins, below).

Tools a runner has that cannot run here (``docker``, ``trivy``, ``terraform``, ``npm``, ``gh``, the scanners) are
stand-ins on PATH (``sandbox.standin_tools``), so ``run:`` scripts still execute for real; so are the repository's
composite actions that download from outside (``setup-trivy``, ``python-tools``, ``accessibility``) or start a
container (``lambda-test``: the image's handler answers on loopback and the action's ``invoke.py`` runs for real).
A job's ``services:`` are started before its first step by ``sandbox.service_containers`` (``postgres:<tag>`` is a
fresh database on this machine's PostgreSQL; any other service fails the job, naming it).
Every stand-in a step used is recorded in ``JobResult.stand_ins``; a step that is neither executed nor stood in
fails the job.

Nothing here is used by the bot; the demo and the rehearsal test (tests/contract) use it with moto's server and
the GitHub fake.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sandbox import service_containers, standin_tools
from sandbox.actions_runner_standins import ACTION_STAND_INS, StandInFailed
from sandbox.expressions import condition, interpolate, to_string

REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
AWS_TEST_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}


class JobFailed(RuntimeError):
    pass


@dataclass
class JobResult:
    outcome: str
    outputs: dict[str, str]
    steps: list[tuple[str, str]] = field(default_factory=list)  # (step name, outcome)
    roles: list[tuple[str, str]] = field(default_factory=list)  # (role ARN, OIDC subject)
    log: str = ""
    stand_ins: list[tuple[str, str]] = field(default_factory=list)  # (step name, what stood in for what)
    job: str = ""
    seconds: float = 0.0


@dataclass
class _Job:
    """The state of one job while it runs."""

    contexts: dict[str, Any]
    env: dict[str, str]
    result: JobResult
    failed: bool = False
    workdir: Path | None = None
    current: str = ""  # the step running (what its stand-ins are recorded under)


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), path
    return data


def _needs(job: dict[str, Any]) -> list[str]:
    needs = job.get("needs") or []
    return [needs] if isinstance(needs, str) else list(needs)


def _matrix(job: dict[str, Any], contexts: dict[str, Any]) -> list[dict[str, Any]]:
    """The legs of ``strategy.matrix``: ``include`` (a list or a ``fromJSON`` expression) or the product of
    the axes (https://docs.github.com/en/actions/how-tos/write-workflows/choose-what-workflows-do/run-job-variations)."""
    def deep(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: deep(v) for k, v in value.items()}
        if isinstance(value, list):
            return [deep(v) for v in value]
        return interpolate(value, contexts)

    spec = deep((job.get("strategy") or {}).get("matrix"))
    if not spec:
        return [{}]
    if not isinstance(spec, dict):
        raise JobFailed(f"strategy.matrix must be a mapping, not {spec!r}")
    legs: list[dict[str, Any]] = [{}]
    for axis, values in spec.items():
        if axis not in ("include", "exclude"):
            legs = [{**leg, axis: value} for leg in legs for value in values]
    include = spec.get("include") or []
    if legs == [{}] and include:
        legs = [dict(item) for item in include]
    elif include:
        raise JobFailed("matrix include beside axes is not supported by this runner")
    if not legs or legs == [{}]:
        raise JobFailed("the matrix has no legs")
    return legs


def _read_kv_file(path: Path) -> dict[str, str]:
    """GITHUB_OUTPUT / GITHUB_ENV: ``name=value`` lines and ``name<<DELIM`` heredocs."""
    out: dict[str, str] = {}
    lines = path.read_text().splitlines() if path.exists() else []
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            j = lines.index(delim, i + 1)
            out[name] = "\n".join(lines[i + 1:j])
            i = j + 1
            continue
        if "=" in line:
            name, value = line.split("=", 1)
            out[name] = value
        i += 1
    return out


class LocalRunner:
    def __init__(self, repo: Path, *, python_bin: Path, variables: Callable[[str | None], dict[str, str]],
                 github: Mapping[str, str], aws_endpoint: str | Mapping[str, str], aws_region: str = "us-east-1",
                 assume: Callable[[str, str], None] | None = None,
                 secrets: Mapping[str, str] | None = None,
                 postgres_admin: str = service_containers.ADMIN_DSN) -> None:
        self.repo = repo
        self.postgres_admin = postgres_admin  # the server that stands in for postgres service containers
        self.secrets = dict(secrets or {})
        self.python_bin = python_bin
        self.variables = variables
        self.github = dict(github)
        self.aws_endpoint = aws_endpoint
        self.aws_region = aws_region
        self.assume = assume
        self.artifacts = Path(tempfile.mkdtemp(prefix="runner-artifacts-"))
        self.executed: list[tuple[str, str, str]] = []  # (workflow, job, outcome) of every job run
        self.standin_bin = standin_tools.install_bin(self.artifacts.parent / f"{self.artifacts.name}-bin")

    # ------------------------------------------------------------------ jobs
    def run(self, workflow: str, job_id: str, *, inputs: Mapping[str, str], event: str = "workflow_dispatch",
            ref: str = "refs/heads/main", needs: Mapping[str, Any] | None = None,
            matrix: Mapping[str, Any] | None = None, event_payload: Mapping[str, Any] | None = None) -> JobResult:
        started = time.monotonic()
        doc = _load(self.repo / ".github" / "workflows" / workflow)
        job = doc["jobs"][job_id]
        wf_inputs = self._inputs(doc, inputs, event)
        github = {**self.github, "event_name": event, "ref": ref, "ref_name": ref.rsplit("/", 1)[-1],
                  "workflow": doc.get("name", workflow), "job": job_id, "event": dict(event_payload or {})}
        contexts: dict[str, Any] = {"inputs": wf_inputs, "github": github, "needs": dict(needs or {}),
                                    "matrix": dict(matrix or {}), "env": {}, "steps": {}, "secrets": self.secrets}
        contexts["vars"] = self.variables(None)
        env_name = self._environment(job, contexts)
        contexts["vars"] = self.variables(env_name)
        if "uses" in job:
            called = self._call_reusable(job, contexts, event=event, ref=ref)
            self.executed.append((workflow, job_id, called.outcome))
            return called
        env = {k: to_string(interpolate(v, contexts)) for k, v in (doc.get("env") or {}).items()}
        contexts["env"] = env
        env.update({k: to_string(interpolate(v, contexts)) for k, v in (job.get("env") or {}).items()})
        context = f"environment:{env_name}" if env_name else ("pull_request" if event == "pull_request" else
                                                                f"ref:{ref}")
        # the repository's subject template is repo, context, job_workflow_ref (infra/modules/github-environments):
        # GitHub appends the file the job is defined in at the run's ref (https://docs.github.com/en/actions/
        # reference/security/oidc, "Customizing the subject claims"); the subject here omits the leading repo:<o>/<r>:
        repository = self.github.get("repository", "")
        subject = f"{context}:job_workflow_ref:{repository}/.github/workflows/{workflow}@{ref}"
        state = _Job(contexts={**contexts, "runner": {"temp": tempfile.mkdtemp(prefix="runner-temp-")},
                               "oidc_subject": subject}, env=env, result=JobResult("success", {}))
        defaults = ((job.get("defaults") or {}).get("run") or {}).get("working-directory")
        state.workdir = self.repo / to_string(interpolate(defaults, contexts)) if defaults else self.repo
        services = self._services(job, state)
        try:
            for step in job.get("steps", []) if services is not None else []:
                self._step(step, state, scope=state.contexts)
        finally:
            if services is not None:
                services.stop()
        outputs = {k: to_string(interpolate(v, state.contexts)) for k, v in (job.get("outputs") or {}).items()}
        state.result.outputs = outputs
        state.result.outcome = "failure" if state.failed else "success"
        state.result.job = job_id
        state.result.seconds = time.monotonic() - started
        self.executed.append((workflow, job_id, state.result.outcome))
        return state.result

    def _services(self, job: dict[str, Any], state: _Job) -> service_containers.Started | None:
        """``services:`` start before the first step ("Initialize containers"); None when they cannot, and the
        job fails without running a step, as on GitHub (sandbox.service_containers)."""
        if not job.get("services"):
            return service_containers.Started()
        try:
            started = service_containers.start(job["services"], container=job.get("container"),
                                               admin_dsn=self.postgres_admin,
                                               interpolate=lambda v: to_string(interpolate(v, state.contexts)))
        except service_containers.ServiceFailed as exc:
            state.failed = True
            state.result.log += f"\n[Initialize containers] failed: {exc}"
            state.result.steps.append(("Initialize containers", "failure"))
            return None
        state.result.steps.append(("Initialize containers", "success"))
        state.result.stand_ins.extend(("Initialize containers", note) for note in started.notes)
        return started

    def run_workflow(self, workflow: str, *, inputs: Mapping[str, str], event: str = "workflow_dispatch",
                     ref: str = "refs/heads/main",
                     event_payload: Mapping[str, Any] | None = None) -> dict[str, JobResult]:
        """Every job of a workflow in `needs` order; a job whose `if:` is false (or whose needs failed) is
        skipped, as GitHub does; a matrix job runs once per leg (its result: failure if any leg failed, the
        outputs of the last leg). Returns the jobs that ran."""
        doc = _load(self.repo / ".github" / "workflows" / workflow)
        jobs: dict[str, Any] = doc["jobs"]
        done: dict[str, JobResult] = {}
        results: dict[str, str] = {}
        while len(results) < len(jobs):
            ready = [j for j in jobs if j not in results and all(n in results for n in _needs(jobs[j]))]
            if not ready:
                raise JobFailed(f"{workflow}: a cycle in `needs`")
            for job_id in ready:
                needs = {n: {"result": results[n], "outputs": done[n].outputs if n in done else {}}
                         for n in _needs(jobs[job_id])}
                contexts = {"inputs": self._inputs(doc, inputs, event), "needs": needs, "github": {
                    **self.github, "event_name": event, "ref": ref, "event": dict(event_payload or {})},
                    "vars": self.variables(None)}
                failed_need = any(needs[n]["result"] != "success" for n in needs)  # skipped counts, like GitHub
                status = {"success": not failed_need, "failure": failed_need, "always": True,
                          "cancelled": False}.__getitem__
                if not condition(jobs[job_id].get("if"), contexts, status):
                    results[job_id] = "skipped"
                    continue
                legs = [self.run(workflow, job_id, inputs=inputs, event=event, ref=ref, needs=needs, matrix=leg,
                                 event_payload=event_payload) for leg in _matrix(jobs[job_id], contexts)]
                merged = legs[-1]
                for leg_result in legs[:-1]:
                    merged.steps = leg_result.steps + merged.steps
                    merged.roles = leg_result.roles + merged.roles
                    merged.stand_ins = leg_result.stand_ins + merged.stand_ins
                    merged.log = leg_result.log + merged.log
                merged.outcome = "failure" if any(r.outcome != "success" for r in legs) else "success"
                done[job_id] = merged
                results[job_id] = merged.outcome
        return done

    def _inputs(self, doc: dict[str, Any], given: Mapping[str, str], event: str) -> dict[str, Any]:
        on = doc.get("on", doc.get(True)) or {}
        spec = ((on.get("workflow_dispatch") or on.get("workflow_call") or {}) if isinstance(on, dict) else {})
        values: dict[str, Any] = {}
        for name, meta in (spec.get("inputs") or {}).items():
            values[name] = (meta or {}).get("default", "" if (meta or {}).get("type") != "boolean" else False)
        values.update(given)
        unknown = set(given) - set(spec.get("inputs") or {})
        if unknown:
            raise JobFailed(f"inputs {sorted(unknown)} are not declared by the workflow")
        return values

    def _environment(self, job: dict[str, Any], contexts: dict[str, Any]) -> str | None:
        env = job.get("environment")
        if env is None:
            return None
        name = env.get("name") if isinstance(env, dict) else env
        return to_string(interpolate(name, contexts)) or None

    def _call_reusable(self, job: dict[str, Any], contexts: dict[str, Any], *, event: str, ref: str) -> JobResult:
        path = str(job["uses"])
        if not path.startswith("./.github/workflows/"):
            raise JobFailed(f"only local reusable workflows are supported, not {path}")
        called = _load(self.repo / path)
        inputs = {k: interpolate(v, contexts) for k, v in (job.get("with") or {}).items()}
        results: dict[str, JobResult] = {}
        for job_id in called["jobs"]:
            result = self.run(path.rsplit("/", 1)[-1], job_id, inputs={k: to_string(v) for k, v in inputs.items()},
                              event=event, ref=ref)
            results[job_id] = result
            if result.outcome != "success":
                return result
        last = results[list(results)[-1]]
        outs = ((called.get("on", called.get(True)) or {}).get("workflow_call") or {}).get("outputs") or {}
        jobs_ctx = {j: {"outputs": r.outputs, "result": r.outcome} for j, r in results.items()}
        last.outputs = {k: to_string(interpolate(v["value"], {"jobs": jobs_ctx})) for k, v in outs.items()}
        for r in results.values():
            if r is not last:
                last.steps = r.steps + last.steps
                last.roles = r.roles + last.roles
        return last

    # ------------------------------------------------------------------ steps
    def _status(self, state: _Job) -> Callable[[str], bool]:
        return lambda s: {"success": not state.failed, "failure": state.failed, "always": True,
                          "cancelled": False}[s]

    def _step(self, step: dict[str, Any], state: _Job, *, scope: dict[str, Any],
              action_dir: Path | None = None) -> None:
        name = str(step.get("name") or step.get("uses") or str(step.get("run", ""))[:40])
        state.current = name
        if not condition(step.get("if"), scope, self._status(state)):
            state.result.steps.append((name, "skipped"))
            self._record(step, scope, "skipped", {})
            return
        try:
            outputs = self._execute(step, state, scope=scope, action_dir=action_dir)
        except JobFailed as exc:
            state.failed = True
            state.result.log += f"\n[{name}] failed: {exc}"
            state.result.steps.append((name, "failure"))
            self._record(step, scope, "failure", {})
            return
        state.result.steps.append((name, "success"))
        self._record(step, scope, "success", outputs)

    @staticmethod
    def _record(step: dict[str, Any], scope: dict[str, Any], outcome: str, outputs: dict[str, str]) -> None:
        if step.get("id"):
            scope["steps"][step["id"]] = {"outputs": outputs, "outcome": outcome, "conclusion": outcome}

    def _execute(self, step: dict[str, Any], state: _Job, *, scope: dict[str, Any],
                 action_dir: Path | None) -> dict[str, str]:
        env = {**state.env, **{k: to_string(interpolate(v, scope)) for k, v in (step.get("env") or {}).items()}}
        if action_dir is not None:
            env["GITHUB_ACTION_PATH"] = str(action_dir)
        with_ = {k: interpolate(v, scope) for k, v in (step.get("with") or {}).items()}
        if "run" in step:
            script = to_string(interpolate(step["run"], scope))
            workdir = step.get("working-directory")
            cwd = self.repo / to_string(interpolate(workdir, scope)) if workdir else (state.workdir or self.repo)
            return self._shell(script, env, state, cwd=cwd)
        uses = str(step["uses"])
        stand_in = ACTION_STAND_INS.get(uses)
        if stand_in is not None:
            try:
                what, outputs = stand_in(self, with_, state.env, Path(state.contexts["runner"]["temp"]))
            except StandInFailed as exc:
                raise JobFailed(str(exc)) from exc
            state.result.stand_ins.append((state.current, f"{uses}: {what}"))
            return outputs
        if uses.startswith("./.github/actions/"):
            return self._composite(self.repo / uses, with_, state, env)
        action = uses.split("@", 1)[0]
        outputs = self._stand_in(action, with_, state)
        state.result.stand_ins.append((state.current, f"{action}: {THIRD_PARTY_STAND_INS[action]}"))
        return outputs

    def _composite(self, path: Path, with_: dict[str, Any], state: _Job, env: dict[str, str]) -> dict[str, str]:
        action = _load(path / "action.yml")
        inputs: dict[str, Any] = {}
        outer = state.contexts
        for name, meta in (action.get("inputs") or {}).items():
            default = (meta or {}).get("default", "")
            inputs[name] = with_[name] if name in with_ else interpolate(default, outer)
            if (meta or {}).get("required") and name not in with_ and not default:
                raise JobFailed(f"{path.name}: input {name} is required")
        unknown = set(with_) - set(action.get("inputs") or {})
        if unknown:
            raise JobFailed(f"{path.name}: unexpected inputs {sorted(unknown)}")
        scope = {**outer, "inputs": inputs, "steps": {}, "env": {**state.env, **env},
                 "github": {**outer["github"], "action_path": str(path)}}
        inner = _Job(contexts=scope, env={**state.env, **env}, result=state.result, workdir=self.repo,
                     current=state.current)
        for step in action["runs"]["steps"]:
            self._step(step, inner, scope=scope, action_dir=path)
            state.env.update({k: v for k, v in inner.env.items() if k not in env or inner.env[k] != env[k]})
            if inner.failed:
                raise JobFailed(f"{path.name}: a step failed")
        outs = action.get("outputs") or {}
        return {k: to_string(interpolate(v.get("value"), scope)) for k, v in outs.items()}

    def _shell(self, script: str, env: dict[str, str], state: _Job, *, cwd: Path) -> dict[str, str]:
        temp = Path(state.contexts["runner"]["temp"])
        out_file, env_file = temp / f"out-{uuid.uuid4().hex}", temp / f"env-{uuid.uuid4().hex}"
        out_file.touch()
        env_file.touch()
        script_file = temp / f"step-{uuid.uuid4().hex}.sh"
        script_file.write_text(script)
        used = temp / f"standins-{uuid.uuid4().hex}"
        full = {
            "PATH": f"{self.python_bin}:{self.standin_bin}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "REHEARSAL_STANDINS": str(used), "REHEARSAL_STANDIN_BIN": str(self.standin_bin),
            "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8",
            "GITHUB_WORKSPACE": str(self.repo), "GITHUB_OUTPUT": str(out_file), "GITHUB_ENV": str(env_file),
            "GITHUB_STEP_SUMMARY": str(temp / "summary.md"), "RUNNER_TEMP": str(temp),
            "GITHUB_SHA": self.github.get("sha", ""), "GITHUB_REPOSITORY": self.github.get("repository", ""),
            "GITHUB_RUN_ID": self.github.get("run_id", "1"), "GITHUB_RUN_ATTEMPT": "1",
            "GITHUB_SERVER_URL": self.github.get("server_url", ""), "GITHUB_API_URL": self.github.get("api_url", ""),
            "GITHUB_REF": state.contexts["github"]["ref"], "CI": "true",
            **state.env, **env,
        }
        done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_file)], cwd=cwd,
                              env=full, capture_output=True, text=True, timeout=300)
        state.result.log += done.stdout + done.stderr
        if used.exists():
            state.result.stand_ins.extend((state.current, line) for line in used.read_text().splitlines())
        state.env.update(_read_kv_file(env_file))
        if done.returncode != 0:
            raise JobFailed(f"exit {done.returncode}: {done.stderr.strip()[-400:]}")
        return _read_kv_file(out_file)

    def _stand_in(self, action: str, with_: dict[str, Any], state: _Job) -> dict[str, str]:
        if action in THIRD_PARTY_STAND_INS and action not in ("aws-actions/configure-aws-credentials",
                                                               "actions/upload-artifact",
                                                               "actions/download-artifact"):
            return {"registry": REGISTRY} if action == "aws-actions/amazon-ecr-login" else {}
        if action == "aws-actions/configure-aws-credentials":
            role = to_string(with_.get("role-to-assume"))
            subject = state.contexts["oidc_subject"]
            if not role:
                raise JobFailed("configure-aws-credentials: role-to-assume is empty")
            if self.assume is not None:
                self.assume(role, subject)  # raises JobFailed when the trust policy refuses the subject
            state.result.roles.append((role, subject))
            endpoint = self.aws_endpoint
            if not isinstance(endpoint, str):  # one moto server per AWS account, like one account per environment
                account = role.split(":")[4] if role.count(":") >= 5 else ""
                if account not in endpoint:
                    raise JobFailed(f"configure-aws-credentials: no AWS account {account!r} in this sandbox")
                endpoint = endpoint[account]
            state.env.update({**AWS_TEST_ENV, "AWS_ENDPOINT_URL": endpoint,
                              "AWS_REGION": to_string(with_.get("aws-region")) or self.aws_region,
                              "AWS_DEFAULT_REGION": to_string(with_.get("aws-region")) or self.aws_region})
            return {}
        if action in ("actions/upload-artifact", "actions/download-artifact"):
            return self._artifact(action, with_)
        raise JobFailed(f"no stand-in for {action}: the step can neither run here nor be stood in")

    def _artifact(self, action: str, with_: dict[str, Any]) -> dict[str, str]:
        """Artifacts of this run (github.run_id), by name. upload-artifact's ``path`` is newline-separated
        globs relative to the workspace; ``if-no-files-found: error`` fails the step when nothing matched, and
        download-artifact fails for a name the run did not upload
        (https://github.com/actions/upload-artifact#inputs, https://github.com/actions/download-artifact#inputs)."""
        name = to_string(with_.get("name", "artifact"))
        store = self.artifacts / self.github.get("run_id", "1") / name
        paths = [p.strip() for p in to_string(with_.get("path", ".")).splitlines() if p.strip()]
        if action.endswith("download-artifact"):
            if not store.is_dir():
                raise JobFailed(f"download-artifact: Artifact not found for name: {name}")
            target = Path(paths[0]) if paths else Path(".")
            shutil.copytree(store, target if target.is_absolute() else self.repo / target, dirs_exist_ok=True)
            return {}
        found = 0
        for pattern in paths:
            base = Path(pattern) if Path(pattern).is_absolute() else self.repo / pattern
            for match in (sorted(base.parent.glob(base.name)) if any(c in pattern for c in "*?[") else [base]):
                if match.is_dir():
                    found += 1
                    shutil.copytree(match, store, dirs_exist_ok=True)
                elif match.is_file():
                    found += 1
                    store.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(match, store / match.name)
        if not found and to_string(with_.get("if-no-files-found")) == "error":
            raise JobFailed(f"upload-artifact: No files were found with the provided path: {' '.join(paths)}")
        return {}


# What each third-party action's stand-in does instead (recorded in JobResult.stand_ins).
THIRD_PARTY_STAND_INS = {
    "actions/checkout": "the installed repository is the workspace",
    "actions/setup-python": "the job virtualenv (without this project) is first on PATH",
    "actions/setup-node": "the machine's node and npm (npm as a stand-in) are on PATH",
    "hashicorp/setup-terraform": "terraform on PATH (the stand-in; real for fmt where a binary exists)",
    "aws-actions/configure-aws-credentials": "the role's trust policy is checked, then moto's endpoint and test "
                                             "credentials are set",
    "aws-actions/amazon-ecr-login": "outputs the registry host",
    "actions/upload-artifact": "copied into this run's artifact directory",
    "actions/download-artifact": "copied from this run's artifact directory",
}
