"""Stand-ins for the command-line tools a GitHub runner has and this machine cannot use here (no registry, no
network, no container daemon for jobs): ``docker``, ``trivy``, ``terraform``, ``npm``, ``gh`` and the Python
scanners the ``python-tools`` action installs.

``sandbox.actions_runner`` puts a directory of small wrappers (``install_bin``) on the job's PATH, so the shipped
``run:`` scripts execute for real with bash and only the tool each one calls is replaced. Every stand-in

- names what it replaces (``stand-in for docker build: ...`` on stderr) and appends that line to the file
  ``$REHEARSAL_STANDINS``, which the runner reads back after each step (a step that used one is reported so);
- refuses what the real tool refuses for the inputs the workflows give it (the message the real tool prints,
  cited beside it), so a workflow that points at a missing directory or image fails here as it would on GitHub;
- does the observable thing the job relies on (``docker push`` puts the image manifest into ECR, in moto).

A command of a tool that no stand-in implements exits 127: the step fails, never succeeds silently.
Nothing here is used by the bot.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

TOOLS = ("docker", "trivy", "terraform", "npm", "gh", "checkov", "pip-audit", "bandit", "zizmor", "semgrep")


class Refused(Exception):
    """What the real tool would print before exiting non-zero."""


def install_bin(where: Path) -> Path:
    """A directory of wrappers, one per tool, each running this module with the sandbox's interpreter."""
    where.mkdir(parents=True, exist_ok=True)
    root = Path(__file__).resolve().parent.parent
    for tool in TOOLS:
        path = where / tool
        path.write_text(f'#!/bin/sh\nPYTHONPATH="{root}" exec "{sys.executable}" -m sandbox.standin_tools {tool} '
                        '"$@"\n')
        path.chmod(0o755)
    return where


def _state() -> Path:
    """Per-run state shared by the stand-ins (images built, registries logged in, trivy's database)."""
    path = Path(os.environ.get("REHEARSAL_STATE") or Path(os.environ.get("RUNNER_TEMP", "/tmp")) / "standin-state")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _note(what: str) -> None:
    print(f"stand-in for {what}", file=sys.stderr)
    log = os.environ.get("REHEARSAL_STANDINS")
    if log:
        with open(log, "a") as fh:
            fh.write(what + "\n")


def _opt(args: list[str], *names: str) -> str | None:
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                return args[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def _positional(args: list[str], with_value: tuple[str, ...]) -> list[str]:
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in with_value:
            skip = True
        elif not arg.startswith("-"):
            out.append(arg)
    return out


# ---------------------------------------------------------------------------------------------------- docker
def _images() -> dict[str, dict[str, str]]:
    path = _state() / "docker-images.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _save_images(images: dict[str, dict[str, str]]) -> None:
    (_state() / "docker-images.json").write_text(json.dumps(images))


def _image(ref: str) -> dict[str, str]:
    images = _images()
    key = ref if ":" in ref.rsplit("/", 1)[-1] else ref + ":latest"
    if key not in images:
        # the daemon's answer for an unknown local image, e.g. `docker tag` in a GitHub job:
        # https://github.com/divviup/prio-server/pull/155 ("Error response from daemon: No such image: ...")
        raise Refused(f"Error response from daemon: No such image: {ref}")
    return images[key]


def docker(args: list[str]) -> int:
    cmd, rest = (args[0], args[1:]) if args else ("", [])
    if cmd == "build":
        tag = _opt(rest, "--tag", "-t")
        context = _positional(rest, ("--tag", "-t", "--file", "-f", "--label"))
        if not tag or len(context) != 1:
            raise Refused('ERROR: "docker buildx build" requires exactly 1 argument.')
        ctx = Path(context[0])
        if not ctx.is_dir():
            # https://docs.docker.com/build/concepts/context/ ; the CLI: 'unable to prepare context: path "x" not found'
            raise Refused(f'ERROR: unable to prepare context: path "{ctx}" not found')
        dockerfile = Path(_opt(rest, "--file", "-f") or ctx / "Dockerfile")
        if not dockerfile.is_file():
            raise Refused(f"ERROR: failed to solve: failed to read dockerfile: open {dockerfile}: no such file or "
                          "directory")
        digest = hashlib.sha256()
        for f in sorted(p for p in ctx.rglob("*") if p.is_file()):
            digest.update(f.relative_to(ctx).as_posix().encode() + f.read_bytes())
        images = _images()
        images[tag if ":" in tag else tag + ":latest"] = {"id": "sha256:" + digest.hexdigest(),
                                                          "context": str(ctx.resolve()),
                                                          "dockerfile": str(dockerfile.resolve())}
        _save_images(images)
        _note(f"docker build (no image is built: the context {ctx} and its Dockerfile are checked, the image "
              f"{tag} recorded with a content digest)")
        return 0
    if cmd == "tag":
        source, target = _positional(rest, ())[:2]
        images = _images()
        images[target] = _image(source)
        _save_images(images)
        _note(f"docker tag {source} {target}")
        return 0
    if cmd == "login":
        registry = _positional(rest, ("--username", "-u"))[0]
        if "--password-stdin" in rest and not sys.stdin.read().strip():
            raise Refused("Error: Cannot perform an interactive login from a non TTY device")
        (_state() / f"login-{registry}").write_text("1")
        _note(f"docker login {registry}")
        print("Login Succeeded")
        return 0
    if cmd == "push":
        return _push(_positional(rest, ())[0])
    if cmd == "inspect":
        ref = _positional(rest, ("--format", "-f"))[0]
        image = _image(ref)
        fmt = _opt(rest, "--format", "-f") or ""
        if fmt != "{{index .RepoDigests 0}}" or "repo_digest" not in image:
            raise Refused("stand-in docker inspect supports --format '{{index .RepoDigests 0}}' of a pushed "
                          f"image, not {fmt!r}")
        _note(f"docker inspect {ref}")
        print(image["repo_digest"])
        return 0
    print(f"stand-in for docker: `docker {cmd}` is not implemented here", file=sys.stderr)
    return 127


def _push(target: str) -> int:
    image = _image(target)
    registry, _, path = target.partition("/")
    repository, _, tag = path.rpartition(":")
    if not (_state() / f"login-{registry}").exists():
        # what docker prints pushing to ECR without a login: https://github.com/aws/aws-cli/issues/3042
        # (AWS docs, https://docs.aws.amazon.com/AmazonECR/latest/userguide/common-errors-docker.html)
        raise Refused("no basic auth credentials")
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1, "digest": image["id"]},
        "layers": []})
    done = subprocess.run(["aws", "ecr", "put-image", "--repository-name", repository, "--image-tag", tag,
                           "--image-manifest", manifest, "--output", "json"], capture_output=True, text=True)
    if done.returncode != 0:
        if "RepositoryNotFoundException" in done.stderr:
            # ECR's answer to a push into a repository that does not exist ("name unknown: The repository with name
            # 'x' does not exist in the registry with id '...'", the AWS docs page above)
            raise Refused(f"name unknown: The repository with name '{repository}' does not exist in the registry")
        if "ImageAlreadyExistsException" not in done.stderr:
            raise Refused(done.stderr.strip())
        digest = json.loads(subprocess.run(
            ["aws", "ecr", "describe-images", "--repository-name", repository, "--image-ids", f"imageTag={tag}",
             "--output", "json"], capture_output=True, text=True, check=True).stdout)["imageDetails"][0]["imageDigest"]
    else:
        digest = json.loads(done.stdout)["image"]["imageId"]["imageDigest"]
    _scan_on_push(repository, digest)
    images = _images()
    images[target] = {**image, "repo_digest": f"{registry}/{repository}@{digest}"}
    _save_images(images)
    _note(f"docker push {target} (the manifest is put into ECR: aws ecr put-image, here moto)")
    print(f"{tag}: digest: {digest}")
    return 0


def _scan_on_push(repository: str, digest: str) -> None:
    """ECR scans an image when it is pushed into a repository with ``scanOnPush`` ("Scan on push", basic
    scanning: https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-scanning-basic.html); moto does not,
    so the push stand-in starts that scan itself (moto then reports its fixed findings)."""
    described = subprocess.run(["aws", "ecr", "describe-repositories", "--repository-names", repository,
                                "--output", "json"], capture_output=True, text=True, check=True)
    config = json.loads(described.stdout)["repositories"][0].get("imageScanningConfiguration") or {}
    if config.get("scanOnPush"):
        subprocess.run(["aws", "ecr", "start-image-scan", "--repository-name", repository, "--image-id",
                        f"imageDigest={digest}"], capture_output=True, text=True, check=True)


# ---------------------------------------------------------------------------------------------------- trivy
def trivy(args: list[str]) -> int:
    if args[:1] == ["--version"]:
        print("Version: stand-in")
        return 0
    cmd, rest = args[0], args[1:]
    db = _state() / "trivy-db"
    if cmd == "image" and "--download-db-only" in rest:
        db.write_text("1")
        _note("trivy image --download-db-only (no database is downloaded)")
        return 0
    if cmd == "image":
        if "--skip-db-update" in rest and not db.exists():
            # trivy's refusal when no database was downloaded (aquasecurity/trivy pkg/db/db.go, NeedsUpdate:
            # "The first run cannot skip downloading DB"; the CLI prints "DB error: --skip-db-update cannot be
            # specified on the first run")
            raise Refused("--skip-db-update cannot be specified on the first run")
        ref = _positional(rest, ("--severity", "--exit-code"))[0]
        _image(ref)  # trivy reads the image from the local daemon first: an unknown image is an error
        _note(f"trivy image {ref} (no vulnerability scan: the image is known and the database was fetched)")
        print(f"{ref}: 0 vulnerabilities found by the stand-in")
        return 0
    if cmd == "config":
        target = Path(_positional(rest, ("--severity", "--exit-code"))[0])
        if not target.exists():
            raise Refused(f"FATAL stat {target}: no such file or directory")
        if not list(target.rglob("*.tf")):
            raise Refused(f"no Terraform files under {target}")
        _note(f"trivy config {target} (no misconfiguration scan; the directory holds Terraform)")
        return 0
    print(f"stand-in for trivy: `trivy {cmd}` is not implemented here", file=sys.stderr)
    return 127


# ---------------------------------------------------------------------------------------------------- terraform
def _real_terraform() -> str | None:
    here = os.environ.get("REHEARSAL_STANDIN_BIN", "")
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != here)
    return shutil.which("terraform", path=path)


def terraform(args: list[str]) -> int:
    chdir = Path(".")
    if args and args[0].startswith("-chdir="):
        chdir, args = Path(args[0].split("=", 1)[1]), args[1:]
    cmd, rest = args[0], args[1:]
    if cmd == "fmt":
        real = _real_terraform()
        if real:  # fmt needs no provider and no network: the real binary checks the files
            return subprocess.run([real, "fmt", *rest], cwd=chdir).returncode
        _note("terraform fmt (no terraform binary on this machine: formatting not checked)")
        return 0
    if not chdir.is_dir() or not list(chdir.glob("*.tf")):
        # terraform in a directory without configuration ("Terraform initialized in an empty directory!" for init,
        # "No configuration files" for the others)
        raise Refused(f"Error: No configuration files in {chdir}")
    marker = chdir / ".terraform" / "standin-init"
    if cmd == "init":
        backend = _opt(rest, "-backend-config")
        if backend and not (chdir / backend).is_file():
            raise Refused(f"Error: Failed to read file: The file {backend!r} could not be read.")
        marker.parent.mkdir(exist_ok=True)
        marker.write_text(backend or "")
        _note(f"terraform init in {chdir} (providers are not downloaded: no registry here)")
        print("Terraform has been successfully initialized!")
        return 0
    if not marker.exists():
        # every command that needs providers refuses to run before init ("Error: Missing required provider" /
        # "Please run terraform init", https://developer.hashicorp.com/terraform/cli/commands/init)
        raise Refused("Error: Inconsistent dependency lock file ... To make the initial dependency selections, "
                      'run:\n  terraform init')
    if cmd == "validate":
        _note(f"terraform validate in {chdir} (the real schema check is tests/infra/test_provider_schema.py)")
        print("Success! The configuration is valid.")
        return 0
    if cmd == "plan":
        var_file = _opt(rest, "-var-file")
        if var_file and not (chdir / var_file).is_file():
            raise Refused(f"Error: Failed to read variables file: Given variables file {var_file} does not exist.")
        out = _opt(rest, "-out")
        resources = sum(text.count('\nresource "') for text in (p.read_text() for p in chdir.glob("*.tf")))
        summary = "No changes. Your infrastructure matches the configuration."
        if out:
            (chdir / out).write_text(json.dumps({"var_file": var_file, "summary": summary,
                                                 "resources": resources}))
        _note(f"terraform plan in {chdir} with {var_file} (nothing is planned against AWS)")
        print(summary)
        return 0  # -detailed-exitcode: 0 = no changes
    if cmd in ("show", "apply"):
        plan_file = chdir / _positional(rest, ())[-1]
        if not plan_file.is_file():
            raise Refused(f"Error: Failed to load plan file: open {plan_file.name}: no such file or directory")
        plan = json.loads(plan_file.read_text())  # a file that is not our saved plan fails, like a corrupt plan
        _note(f"terraform {cmd} {plan_file.name} (the stand-in's saved plan)")
        print(plan["summary"] if cmd == "show" else "Apply complete! Resources: 0 added, 0 changed, 0 destroyed.")
        return 0
    print(f"stand-in for terraform: `terraform {cmd}` is not implemented here", file=sys.stderr)
    return 127


# ---------------------------------------------------------------------------------------------------- npm
def npm(args: list[str]) -> int:
    prefix = Path(_opt(args, "--prefix") or ".")
    where = prefix.name if str(prefix) != "." else Path.cwd().name
    cmd = _positional(args, ("--prefix", "--audit-level", "--omit"))
    if not (prefix / "package.json").is_file():
        # npm's ENOENT for a directory without package.json ("npm error enoent Could not read package.json")
        raise Refused(f"npm error enoent Could not read package.json: {prefix / 'package.json'}")
    if cmd[:1] == ["ci"]:
        if not (prefix / "package-lock.json").is_file():
            # https://docs.npmjs.com/cli/v10/commands/npm-ci: "The project must have an existing package-lock.json";
            # npm's message: https://github.com/jolicode/docker-starter/pull/305
            raise Refused("npm error The `npm ci` command can only install with an existing package-lock.json")
        (prefix / "node_modules").mkdir(exist_ok=True)
        _note(f"npm ci in {where} (nothing is downloaded: the lockfile is checked)")
        return 0
    if not (prefix / "node_modules").is_dir() and cmd[:1] in (["test"], ["run"]):
        raise Refused("sh: 1: next: not found (run npm ci first)")
    if cmd[:1] == ["test"]:
        reports = prefix / "reports"
        (reports / "coverage").mkdir(parents=True, exist_ok=True)
        (reports / "junit.xml").write_text(
            '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="jest tests" tests="1" failures="0" '
            'errors="0" time="0.01">\n<testsuite name="stand-in" tests="1" failures="0" errors="0" skipped="0" '
            'time="0.01">\n<testcase classname="stand-in" name="the site renders" time="0.01"/>\n</testsuite>\n'
            "</testsuites>\n")
        (reports / "coverage" / "lcov.info").write_text("TN:\nend_of_record\n")
        _note("npm test (Jest does not run here: tests/workflows/test_examples.py runs the real one; a JUnit file "
              "with one passing test is written)")
        return 0
    if cmd[:2] == ["run", "build"]:
        build_id = hashlib.sha256(str(time.time_ns()).encode()).hexdigest()[:21]
        out = prefix / "out"
        (out / "_next" / "static" / "chunks").mkdir(parents=True, exist_ok=True)
        (out / "index.html").write_text(f"<!DOCTYPE html><html lang=\"en\"><title>site</title><p>{build_id}</p>")
        (out / "_next" / "static" / "chunks" / f"main-{build_id[:12]}.js").write_text("console.log(1)\n")
        (prefix / ".next").mkdir(exist_ok=True)
        (prefix / ".next" / "BUILD_ID").write_text(build_id)
        _note(f"npm run build (next build does not run here: a static export with build id {build_id} is written "
              "to out/)")
        return 0
    if cmd[:1] == ["audit"]:
        _note(f"npm audit in {where} (the advisory database is not reachable here)")
        print("found 0 vulnerabilities")
        return 0
    print(f"stand-in for npm: `npm {' '.join(cmd)}` is not implemented here", file=sys.stderr)
    return 127


# ---------------------------------------------------------------------------------------------------- gh
def gh(args: list[str]) -> int:
    """``gh api`` against the GitHub fake (GITHUB_API_URL), as the GitHub CLI would call GitHub's REST API."""
    import urllib.error
    import urllib.request

    if args[:1] != ["api"]:
        print(f"stand-in for gh: `gh {' '.join(args[:1])}` is not implemented here", file=sys.stderr)
        return 127
    rest = args[1:]
    method = _opt(rest, "-X", "--method") or "GET"
    path = _positional(rest, ("-X", "--method", "-F", "--field", "--jq"))[0]
    body = None
    field = _opt(rest, "-F", "--field")
    if field:
        name, _, value = field.partition("=")
        body = json.dumps({name: Path(value[1:]).read_text() if value.startswith("@") else value}).encode()
        method = _opt(rest, "-X", "--method") or "POST"
    token = os.environ.get("GH_TOKEN") or os.environ.get("GITHUB_TOKEN") or ""
    request = urllib.request.Request(f"{os.environ['GITHUB_API_URL']}/{path.lstrip('/')}", data=body, method=method,
                                     headers={"Authorization": f"Bearer {token}",
                                              "Accept": "application/vnd.github+json",
                                              "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            data = json.loads(r.read() or b"null")
    except urllib.error.HTTPError as exc:
        raise Refused(f"gh: {exc.read().decode(errors='replace')[:200]} (HTTP {exc.code})") from exc
    _note(f"gh api {method} {path} (the GitHub fake answers)")
    jq = _opt(rest, "--jq")
    if jq:
        return subprocess.run(["jq", "-r", jq], input=json.dumps(data), text=True).returncode
    print(json.dumps(data))
    return 0


# ---------------------------------------------------------------------------------------------------- scanners
def scanner(tool: str, args: list[str]) -> int:
    """checkov, pip-audit, bandit, zizmor, semgrep (what actions/python-tools installs from PyPI by hash).

    Nothing is scanned. What is checked: the tool's set was installed by python-tools in this job, and the
    inputs the workflow points it at exist (a scan of a missing directory is refused: it would prove nothing)."""
    installed = (_state() / "python-tools").read_text().split() if (_state() / "python-tools").exists() else []
    sets = {"checkov": "checkov", "pip-audit": "pip-audit", "bandit": "lint", "zizmor": "lint", "semgrep": "semgrep"}
    if sets[tool] not in installed:
        raise Refused(f"{tool}: command not found (actions/python-tools with tools: {sets[tool]} was not run)")
    if tool == "checkov":
        target = Path(_opt(args, "--directory", "-d") or ".")
        if not target.is_dir():
            # the stand-in's own rule (message not taken from checkov): a directory that is not there scans nothing
            raise Refused(f"Directory {target} does not exist")
    if tool == "zizmor":
        target = Path(_positional(args, ())[-1])
        if not list(target.rglob("*.yml")):
            raise Refused(f"zizmor: no inputs collected from {target}")
    if tool == "pip-audit":
        req = _opt(args, "--requirement", "-r")
        if req and not Path(req).is_file():
            raise Refused(f"pip-audit: {req}: no such file")
    _note(f"{tool} {' '.join(args[:3])} (scanner not installed here; its inputs exist)")
    return 0


def main(argv: list[str]) -> int:
    tool, args = argv[0], argv[1:]
    handlers = {"docker": docker, "trivy": trivy, "terraform": terraform, "npm": npm, "gh": gh}
    try:
        if tool in handlers:
            return handlers[tool](args)
        return scanner(tool, args)
    except Refused as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except (IndexError, ValueError) as exc:
        print(f"stand-in for {tool}: cannot read the arguments {args!r}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
