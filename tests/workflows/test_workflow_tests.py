"""Properties of the shipped workflow YAML: tests gate builds, pushes and deploys; thresholds are wired; every
test step is reported; a Lambda image is invoked before it is pushed; every tool a workflow installs is pinned.

The pinning checker is tested on bad snippets too (it must be able to fail), and the lint over the installed
layout (.github/workflows + .github/actions) runs actionlint with shellcheck and shellcheck over the composite
actions' scripts, which actionlint does not read.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS_DIR = ROOT / "workflows"
ACTIONS_DIR = WORKFLOWS_DIR / "actions"
BIN = Path(sys.executable).parent
WORKFLOWS = sorted(p for p in WORKFLOWS_DIR.glob("*.yml") if p.name != "zizmor.yml")
ACTIONS = sorted(ACTIONS_DIR.glob("*/action.yml"))
WEB_EXAMPLE = ROOT / "examples" / "web"
SHA256 = re.compile(r"\b[0-9a-f]{64}\b")

Step = dict[str, Any]


def load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), path
    return data


def jobs(name: str) -> dict[str, Any]:
    return dict(load(WORKFLOWS_DIR / name)["jobs"])


def text_of(step: Step) -> str:
    """What a step does: its script, or the command it hands to the retry action."""
    return str(step.get("run", "")) + str((step.get("with") or {}).get("command", ""))


def uses(step: Step, action: str) -> bool:
    return str(step.get("uses", "")) == f"./.github/actions/{action}"


def index(steps: list[Step], predicate: Any, what: str) -> int:
    found = [i for i, s in enumerate(steps) if predicate(s)]
    assert found, f"no step {what}"
    return found[0]


def is_test(step: Step) -> bool:
    return bool(re.search(r"\bpytest\b|\bnpm test\b|\bjest\b", str(step.get("run", ""))))


def pushes(step: Step) -> bool:
    return "docker push" in text_of(step)


def needs(job: dict[str, Any]) -> set[str]:
    value = job.get("needs", [])
    return {value} if isinstance(value, str) else set(value)


# --------------------------------------------------------------------------------------------------------------
# Tests run before build, push and deploy
# --------------------------------------------------------------------------------------------------------------


def test_api_tests_gate_the_package_job_and_the_release() -> None:
    api = jobs("api-ci.yml")
    assert needs(api["package"]) == {"unit", "integration"}
    condition = " ".join(str(api["package"]["if"]).split())
    assert "needs.unit.result == 'success'" in condition
    assert "(needs.integration.result == 'success' || needs.integration.result == 'skipped')" in condition
    assert needs(api["deploy"]) == {"package"} and "needs.package.result == 'success'" in api["deploy"]["if"]
    assert not any(is_test(s) for s in api["package"]["steps"]), "tests belong in the unit/integration jobs"


def test_web_tests_run_before_the_build_in_the_same_job_and_gate_the_release() -> None:
    web = jobs("web-ci.yml")
    steps = web["build"]["steps"]
    test = index(steps, lambda s: "npm test" in str(s.get("run", "")), "running npm test")
    build = index(steps, lambda s: "npm run build" in str(s.get("run", "")), "running npm run build")
    install = index(steps, lambda s: "npm ci" in str(s.get("run", "")), "running npm ci")
    assert install < test < build
    for step in steps[test:build]:
        assert "always()" not in str(step.get("if", "")) or uses(step, "test-report"), step
    assert needs(web["release"]) == {"build"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_no_job_pushes_or_deploys_before_its_tests(path: Path) -> None:
    """A job that pushes an image runs the image's invocation test first; a job that releases depends
    (through `needs`) on a job that ran tests or the image test."""
    all_jobs = load(path)["jobs"]

    def tested(name: str, seen: frozenset[str] = frozenset()) -> bool:
        job = all_jobs[name]
        steps = job.get("steps", [])
        if any(is_test(s) or uses(s, "lambda-test") for s in steps):
            return True
        return any(tested(n, seen | {name}) for n in needs(job) - seen)

    for name, job in all_jobs.items():
        steps = job.get("steps", [])
        if any(pushes(s) for s in steps):
            assert tested(name), f"{name} pushes an image nobody ran"
        if str(job.get("uses", "")).endswith("lambda-release.yml"):
            assert tested(name), f"{name} releases without tests"


# --------------------------------------------------------------------------------------------------------------
# Thresholds are wired
# --------------------------------------------------------------------------------------------------------------


def _unit_test_step() -> Step:
    steps = jobs("api-ci.yml")["unit"]["steps"]
    return steps[index(steps, is_test, "running pytest")]


def test_coverage_min_comes_from_the_input_then_the_variable_then_80() -> None:
    on = load(WORKFLOWS_DIR / "api-ci.yml")[True]
    declared = on["workflow_dispatch"]["inputs"]["coverage-min"]
    assert declared["type"] == "string" and declared["required"] is False
    step = _unit_test_step()
    assert step["env"]["COVERAGE_MIN"] == "${{ inputs.coverage-min || vars.API_COVERAGE_MIN || '80' }}"
    assert "continue-on-error" not in step


def _run_with_fake_python(script: str, coverage_min: str, tmp_path: Path) -> tuple[int, list[str]]:
    """Run the unit-test step's script with a `python` on PATH that records its arguments."""
    record = tmp_path / "args.json"
    fake = tmp_path / "bin" / "python"
    fake.parent.mkdir(exist_ok=True)
    fake.write_text(f"#!{sys.executable}\nimport json, sys\njson.dump(sys.argv[1:], open({str(record)!r}, 'w'))\n")
    fake.chmod(0o755)
    env = {"PATH": f"{fake.parent}:/usr/bin:/bin", "COVERAGE_MIN": coverage_min, "API_DIR": "services/api"}
    done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], env=env,
                          cwd=tmp_path, capture_output=True, text=True, check=False)
    args = json.loads(record.read_text()) if record.exists() else []
    record.unlink(missing_ok=True)
    return done.returncode, args


def test_coverage_min_reaches_cov_fail_under(tmp_path: Path) -> None:
    script = _unit_test_step()["run"]
    code, args = _run_with_fake_python(script, "85", tmp_path)
    assert code == 0
    assert args[:2] == ["-m", "pytest"]
    assert "--cov-fail-under=85" in args and "--cov=services/api" in args
    assert "--junitxml=reports/junit-unit.xml" in args and "--cov-report=xml:reports/coverage-unit.xml" in args
    for bad in ("", "abc", "101", "80; rm -rf /", "-5"):
        code, args = _run_with_fake_python(script, bad, tmp_path)
        assert code != 0 and args == [], f"coverage-min {bad!r} must stop the job before pytest"


def test_the_web_jest_config_enforces_coverage_and_writes_the_junit_file_web_ci_reports() -> None:
    config = (WEB_EXAMPLE / "jest.config.js").read_text()
    threshold = re.search(r"coverageThreshold:\s*\{\s*global:\s*\{([^}]*)\}", config)
    assert threshold, "jest.config.js must set coverageThreshold.global"
    values = dict(re.findall(r"(\w+):\s*(\d+)", threshold.group(1)))
    assert set(values) == {"branches", "functions", "lines", "statements"} and all(int(v) > 0 for v in values.values())
    assert re.search(r'"jest-junit",\s*\{[^}]*outputDirectory:\s*"reports"[^}]*outputName:\s*"junit.xml"', config)
    assert 'coverageDirectory: "reports/coverage"' in config
    script = json.loads((WEB_EXAMPLE / "package.json").read_text())["scripts"]["test"]
    assert shlex.split(script)[0] == "jest" and {"--ci", "--coverage"} <= set(shlex.split(script))
    report = next(s for s in jobs("web-ci.yml")["build"]["steps"] if uses(s, "test-report"))
    assert report["with"]["junit"] == "${{ env.WEB_DIR }}/reports/junit.xml"
    assert report["with"]["coverage"] == "${{ env.WEB_DIR }}/reports/coverage"


# --------------------------------------------------------------------------------------------------------------
# Every test step is reported, even when it fails
# --------------------------------------------------------------------------------------------------------------


def _junit_written_by(step: Step) -> str:
    script = str(step.get("run", ""))
    match = re.search(r"--junitxml=(\S+)", script)
    if match:
        return match.group(1)
    assert "npm test" in script, step
    return "${{ env.WEB_DIR }}/reports/junit.xml"  # jest-junit, see the jest config test above


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_test_step_is_followed_by_the_report_action_with_if_always(path: Path) -> None:
    for name, job in load(path)["jobs"].items():
        steps = job.get("steps", [])
        for i, step in enumerate(steps):
            if not is_test(step):
                continue
            report = steps[i + 1] if i + 1 < len(steps) else {}
            assert uses(report, "test-report"), f"{path.name}:{name}: the step after the tests must be test-report"
            assert report.get("if") == "always()", f"{path.name}:{name}: test-report must run if: always()"
            assert report["with"]["junit"] == _junit_written_by(step), f"{path.name}:{name}: reports another file"
            assert report["with"]["artifact-name"], name
    reported = [s for j in load(path)["jobs"].values() for s in j.get("steps", []) if uses(s, "test-report")]
    names = [s["with"]["artifact-name"] for s in reported]
    assert len(names) == len(set(names)), f"{path.name}: artifact names must be unique per run"


# --------------------------------------------------------------------------------------------------------------
# Lambda images are invoked locally before the push, and a failure stops the leg
# --------------------------------------------------------------------------------------------------------------

IMAGE_JOBS = [("build-and-deploy-lambda.yml", "build", "${{ matrix.name }}"), ("api-ci.yml", "package", "api")]


@pytest.mark.parametrize(("workflow", "job_name", "function"), IMAGE_JOBS)
def test_the_lambda_test_runs_before_docker_push_and_its_failure_stops_the_leg(
    workflow: str, job_name: str, function: str
) -> None:
    job = jobs(workflow)[job_name]
    steps = job["steps"]
    build = index(steps, lambda s: "docker build" in str(s.get("run", "")), "building the image")
    test = index(steps, lambda s: uses(s, "lambda-test"), "using lambda-test")
    scan = index(steps, lambda s: "trivy image" in str(s.get("run", "")), "scanning the image with trivy")
    push = index(steps, pushes, "pushing")
    assert build < test < push and build < scan < push
    assert "docker push" not in str(steps[build].get("run", "")), "build and push must be separate steps"
    assert steps[test]["with"]["function"] == function
    tested_image = steps[test]["with"]["image"]
    assert steps[scan]["env"]["IMAGE"] == tested_image
    tag = next(s for s in steps[test:push] if "docker tag" in str(s.get("run", "")))
    assert tag["env"]["IMAGE"] == tested_image, "the pushed image must be the tested one"
    assert tag["env"]["TARGET"] == steps[push]["env"]["TARGET"]
    assert "continue-on-error" not in job and "--exit-code 1" in steps[scan]["run"]
    for step in steps[: push + 1]:
        assert "continue-on-error" not in step, step
        condition = str(step.get("if", ""))
        if uses(step, "test-report"):  # the report of the image test runs always (it uploads reports, pushes nothing)
            continue
        assert not re.search(r"always\(\)|failure\(\)|cancelled\(\)", condition), f"runs after a failure: {step}"
    if "strategy" in job:
        assert job["strategy"].get("fail-fast") is True


def test_the_lambda_test_action_fails_its_step_when_an_event_fails() -> None:
    action = load(ACTIONS_DIR / "lambda-test" / "action.yml")
    (step,) = action["runs"]["steps"]
    assert step["shell"] == "bash" and "continue-on-error" not in step and "if" not in step
    last = [line.strip() for line in step["run"].strip().splitlines()][-1]
    assert last.startswith('python3 "$INVOKE"'), "the invocation's exit status must be the step's"


# --------------------------------------------------------------------------------------------------------------
# Every tool a workflow installs is pinned
# --------------------------------------------------------------------------------------------------------------

_COMMAND_SPLIT = re.compile(r"&&|\|\||;|\||\n")
_DOWNLOAD = re.compile(r"\b(?:curl|wget)\b[^\n]*(?:--output|-o|-O)\s+(?!/dev/null)")


def _requirements_problem(path: Path) -> str | None:
    if not path.is_file():
        return f"{path.name} does not exist"
    entries = re.split(r"\n(?=\S)", path.read_text())
    for entry in entries:
        entry = entry.strip()
        if not entry or entry.startswith("#"):
            continue
        if not re.match(r"^[A-Za-z0-9_.\-]+==[^\s\\]+", entry) or "--hash=sha256:" not in entry:
            return f"{path.name}: not pinned with a hash: {entry.splitlines()[0]}"
    return None


def _action_requirements_problems(action_dir: Path, name: str) -> list[str]:
    """A requirements file inside the action; a `$VAR` in its name stands for every file it can match."""
    pattern = re.sub(r"\$\{?\w+\}?", "*", name)
    files = sorted(action_dir.glob(pattern)) if "*" in pattern else [action_dir / pattern]
    if not files:
        return [f"no requirements file matches {name}"]
    return [p for p in map(_requirements_problem, files) if p]


def pin_problems(script: str, action_dir: Path | None = None) -> list[str]:
    """Why a run script installs or fetches something that is not pinned (empty when it is)."""
    problems: list[str] = []
    logical = re.sub(r"\\\n", " ", script)
    if re.search(r"\b(?:curl|wget)\b[^\n|]*\|\s*(?:sudo\s+)?(?:ba|z|da)?sh\b", logical):
        problems.append("pipes a download into a shell")
    if _DOWNLOAD.search(logical) and not (re.search(r"sha256sum (?:--check|-c)", logical)):
        problems.append("downloads a file without checking its sha256")
    for command in _COMMAND_SPLIT.split(logical):
        try:
            words = shlex.split(command, comments=True)
        except ValueError:
            words = command.split()
        if words[:3] in (["python", "-m", "pip"], ["python3", "-m", "pip"]):
            words = words[2:]
        if words[:2] in (["pip", "install"], ["pip3", "install"]):
            args = words[2:]
            files = [args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-r", "--requirement")]
            others = [a for a in args if not a.startswith("-") and a not in files]
            if "--require-hashes" not in args or not files or others:
                problems.append(f"pip install without --require-hashes -r <file>: {command.strip()}")
            for name in files:
                if name.startswith("$GITHUB_ACTION_PATH/") and action_dir is not None:
                    problems += _action_requirements_problems(action_dir, name.removeprefix("$GITHUB_ACTION_PATH/"))
        if words[:1] == ["npx"]:
            packages = [w for w in words[1:] if not w.startswith("-")][:1]
            if not packages or not re.fullmatch(r"@?[^@\s]+@\d+\.\d+\.\d+", packages[0]):
                problems.append(f"npx without an exact version: {command.strip()}")
        if words[:1] == ["npm"] and len(words) > 1 and words[1] in ("install", "i", "add", "exec", "x", "update"):
            problems.append(f"npm {words[1]} resolves by name (use npm ci with a lockfile): {command.strip()}")
    return problems


def _steps(doc: dict[Any, Any]) -> list[Step]:
    if "runs" in doc:
        return list(doc["runs"].get("steps", []))
    return [s for job in doc["jobs"].values() for s in job.get("steps", [])]


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda p: str(p.relative_to(WORKFLOWS_DIR)))
def test_every_tool_is_pinned(path: Path) -> None:
    action_dir = path.parent if path.name == "action.yml" else None
    problems: list[str] = []
    for step in _steps(load(path)):
        ref = str(step.get("uses", ""))
        if ref and not ref.startswith("./") and not re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref):
            problems.append(f"uses {ref} without a commit SHA")
        if ref.startswith("hashicorp/setup-terraform@"):
            version = str((step.get("with") or {}).get("terraform_version", ""))
            if not re.fullmatch(r"\d+\.\d+\.\d+", version):
                problems.append("setup-terraform without an exact terraform_version")
        problems += pin_problems(text_of(step), action_dir)
        if _DOWNLOAD.search(str(step.get("run", ""))):
            digests = SHA256.findall(yaml.safe_dump(step.get("env", {})) + str(step.get("run", "")))
            problems += [] if digests else ["a download with no recorded sha256 in the step"]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("script", [
    'python -m pip install "checkov>=3.2,<4"',
    'python -m pip install -r "$API_DIR/requirements-dev.txt"',
    "pip install --require-hashes requests==2.0",
    'pip install --require-hashes --no-deps -r "$GITHUB_ACTION_PATH/missing.txt"',
    "npx --yes @axe-core/cli@4 http://127.0.0.1:8080/",
    "npx --yes http-server web/out",
    "cd web && npm install",
    "curl -sSL https://example.com/install.sh | bash",
    "curl -fsSL --output trivy.tgz https://example.com/trivy.tgz && tar -xzf trivy.tgz",
])
def test_the_pin_checker_flags_unpinned_installs(script: str) -> None:
    assert pin_problems(script, ACTIONS_DIR / "python-tools"), script


@pytest.mark.parametrize("script", [
    'python -m pip install --require-hashes --no-deps -r "$GITHUB_ACTION_PATH/semgrep.txt"',
    "npx --yes @axe-core/cli@4.13.0 http://127.0.0.1:8080/",
    "npm ci --no-audit --no-fund && npm test",
    'curl --fail -o "$a" "$url"\necho "$SUM  $a" | sha256sum --check --strict -',
])
def test_the_pin_checker_accepts_pinned_installs(script: str) -> None:
    assert not pin_problems(script, ACTIONS_DIR / "python-tools"), script


def test_an_unhashed_requirement_in_a_tool_set_is_caught(tmp_path: Path) -> None:
    shutil.copy(ACTIONS_DIR / "python-tools" / "lint.txt", tmp_path / "lint.txt")
    assert _requirements_problem(tmp_path / "lint.txt") is None
    (tmp_path / "lint.txt").write_text((tmp_path / "lint.txt").read_text() + "requests>=2\n")
    assert _requirements_problem(tmp_path / "lint.txt")


@pytest.mark.parametrize("tool_set", sorted(p.stem for p in (ACTIONS_DIR / "python-tools").glob("*.in")))
def test_each_python_tool_set_is_fully_hash_pinned_from_an_exact_spec(tool_set: str) -> None:
    directory = ACTIONS_DIR / "python-tools"
    assert _requirements_problem(directory / f"{tool_set}.txt") is None
    for line in (directory / f"{tool_set}.in").read_text().split("\n"):
        assert not line.strip() or re.fullmatch(r"[A-Za-z0-9_.\-]+==\d+(\.\d+)+", line.strip()), line
    action = (directory / "action.yml").read_text()
    assert f"{tool_set}|" in action or f"|{tool_set})" in action, f"{tool_set} is not an accepted tools value"


def test_the_axe_cli_is_pinned_by_its_lockfile() -> None:
    directory = ACTIONS_DIR / "accessibility"
    wanted = json.loads((directory / "package.json").read_text())["dependencies"]
    assert all(re.fullmatch(r"\d+\.\d+\.\d+", v) for v in wanted.values()), wanted
    lock = json.loads((directory / "package-lock.json").read_text())
    packages = {k: v for k, v in lock["packages"].items() if k}
    assert packages and all(v.get("integrity", "").startswith("sha512-") for v in packages.values())
    for name, version in wanted.items():
        assert packages[f"node_modules/{name}"]["version"] == version


def test_trivy_is_installed_from_a_verified_release() -> None:
    (download, _db) = load(ACTIONS_DIR / "setup-trivy" / "action.yml")["runs"]["steps"]
    version = download["env"]["TRIVY_VERSION"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version) and version not in {"0.69.4", "0.69.5", "0.69.6"}
    assert SHA256.fullmatch(download["env"]["TRIVY_SHA256"])
    assert 'sha256sum --check --strict' in download["run"]
    assert download["run"].index("sha256sum") < download["run"].index("tar -xzf")


# --------------------------------------------------------------------------------------------------------------
# Lint over the installed layout
# --------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("repo")
    shutil.copytree(ACTIONS_DIR, repo / ".github" / "actions")
    (repo / ".github" / "workflows").mkdir()
    for path in WORKFLOWS:
        shutil.copy(path, repo / ".github" / "workflows" / path.name)
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    return repo


SHELLCHECK = shutil.which("shellcheck")


def test_actionlint_with_shellcheck_reports_nothing(installed: Path) -> None:
    cmd = [str(BIN / "actionlint"), "-no-color", f"-shellcheck={SHELLCHECK or ''}", "-pyflakes="]
    done = subprocess.run(cmd, cwd=installed, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(SHELLCHECK is None, reason="shellcheck is not installed")
@pytest.mark.parametrize("path", ACTIONS, ids=lambda p: p.parent.name)
def test_composite_action_scripts_pass_shellcheck(path: Path, tmp_path: Path) -> None:
    for number, step in enumerate(load(path)["runs"]["steps"]):
        if "run" not in step:
            continue
        script = tmp_path / f"step{number}.sh"
        script.write_text("#!/bin/bash\nset -eo pipefail\n" + step["run"])
        done = subprocess.run([str(SHELLCHECK), "--severity=warning", str(script)], capture_output=True, text=True,
                              env={**os.environ}, check=False)
        assert done.returncode == 0, f"{path.parent.name} step {number}:\n{done.stdout}"
