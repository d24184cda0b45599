"""Linters over the layout install-workflows writes (actionlint + shellcheck, zizmor, the GitHub JSON schemas), and
no job installs a package that is neither hash-pinned nor a path inside the repository."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

BIN = Path(sys.executable).parent
SHELLCHECK = shutil.which("shellcheck")


def tool(name: str) -> str:
    found = BIN / name if (BIN / name).exists() else shutil.which(name)
    assert found, f"{name} is not installed: run `make install`"
    return str(found)


def installed_files(repo: Path) -> list[Path]:
    return sorted([*repo.glob(".github/workflows/*.yml"), *repo.glob(".github/actions/*/action.yml")])


def run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


def test_actionlint_reports_nothing(installed_repo: Path) -> None:
    # with shellcheck when it is installed (make install installs it as root); see test_shellcheck_is_installed
    done = run([tool("actionlint"), "-no-color", f"-shellcheck={SHELLCHECK or ''}", "-pyflakes="], installed_repo)
    assert done.returncode == 0, done.stdout + done.stderr


def test_shellcheck_is_installed() -> None:
    if SHELLCHECK is None:
        pytest.skip("NOTICE: shellcheck not found: actionlint ran WITHOUT shell checks "
                    "(`make install` installs it when run as root; else `apt-get install shellcheck`)")
    assert run([SHELLCHECK, "--version"], Path.cwd()).returncode == 0


def test_zizmor_offline_reports_nothing(installed_repo: Path) -> None:
    zizmor = tool("zizmor")
    done = run([zizmor, "--offline", "--config", ".github/zizmor.yml", ".github/"], installed_repo)
    assert done.returncode == 0, done.stdout + done.stderr
    # the repository form picks up .github/zizmor.yml by itself
    done = run([zizmor, "--offline", "."], installed_repo)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(("schema", "pattern"), [
    ("vendor.github-workflows", ".github/workflows/*.yml"),
    ("vendor.github-actions", ".github/actions/*/action.yml"),
])
def test_installed_files_match_the_github_schemas(installed_repo: Path, schema: str, pattern: str) -> None:
    files = sorted(str(p) for p in installed_repo.glob(pattern))
    assert files
    done = run([tool("check-jsonschema"), "--builtin-schema", schema, *files], installed_repo)
    assert done.returncode == 0, done.stdout + done.stderr


# --- no package installed by a bare name ------------------------------------------------------------------------

_SPLIT = re.compile(r"&&|\|\||;|\|(?!\|)|\n")
_PIPE_TO_SHELL = re.compile(r"\b(?:curl|wget)\b[^\n|]*\|\s*(?:sudo\s+)?(?:ba|z|da)?sh\b")
_PIP_VALUE_OPTIONS = {"-c", "--constraint", "-t", "--target", "-i", "--index-url", "--extra-index-url", "-f",
                      "--find-links", "--prefix", "--root", "--python-version", "--platform", "--implementation",
                      "--abi", "--src", "--progress-bar", "--report", "--cache-dir", "--log", "--timeout",
                      "--retries", "--trusted-host", "--proxy", "--cert", "--client-cert"}
_WORKSPACE = re.compile(r'^"?\$\{?GITHUB_WORKSPACE\}?/')


def _inside_repo(path: str) -> bool:
    """A path relative to the checkout (or under $GITHUB_WORKSPACE), never a URL, an absolute path or a parent."""
    path = path.strip("'\"")
    if _WORKSPACE.match(path) or path.startswith("$GITHUB_WORKSPACE"):
        return ".." not in path.split("/")
    return "://" not in path and not path.startswith(("/", "~", "..")) and "@" not in path


def _looks_like_path(arg: str) -> bool:
    arg = arg.strip("'\"")
    return arg.startswith((".", "/", "$", "~")) or "/" in arg


def _pip_problem(args: list[str]) -> str | None:
    requirements: list[str] = []
    positional: list[str] = []
    it = iter(args)
    for arg in it:
        if arg in ("-r", "--requirement"):
            requirements.append(next(it, ""))
        elif arg.startswith("--requirement="):
            requirements.append(arg.split("=", 1)[1])
        elif arg in ("-e", "--editable"):
            positional.append(next(it, ""))
        elif arg in _PIP_VALUE_OPTIONS:
            next(it, None)
        elif not arg.startswith("-"):
            positional.append(arg)
    bare = [p for p in positional if not (_looks_like_path(p) and _inside_repo(p))]
    if bare:
        return f"installs {', '.join(bare)} by name (not hash-pinned, not a path in the repository)"
    if requirements and "--require-hashes" not in args:
        return "installs from a requirements file without --require-hashes"
    outside = [r for r in requirements if not _inside_repo(r)]
    return f"requirements file outside the repository: {', '.join(outside)}" if outside else None


def install_problem(command: str) -> str | None:
    """Why one shell command installs something unpinned, or None. Understands pip, npm/npx, yarn, pnpm, uv, pipx,
    go/gem/cargo install."""
    try:
        words = shlex.split(command, comments=True)
    except ValueError:
        words = command.split()
    while words and (("=" in words[0] and not words[0].startswith("-")) or words[0] in ("sudo", "env", "exec")):
        words = words[1:]  # VAR=value prefixes, sudo, env
    if not words:
        return None
    head = words[0].rsplit("/", 1)[-1]
    if head.startswith("python") and words[1:3] == ["-m", "pip"]:
        words, head = words[2:], "pip"
    if head in ("pip", "pip3") and words[1:2] == ["install"]:
        return _pip_problem(words[2:])
    if head == "uv" and words[1:3] == ["pip", "install"]:
        return _pip_problem(words[3:])
    if head in ("npx", "uvx", "pipx", "bunx") or (head == "uv" and words[1:2] == ["tool"]):
        if head == "npx" and ("--no-install" in words or "--no" in words):
            return None
        return f"{head} fetches and runs a package by name"
    if head == "npm" and words[1:2] and words[1] in ("install", "i", "add", "exec", "x", "update", "upgrade"):
        return f"npm {words[1]} resolves packages by name (use npm ci with a lockfile)"
    if head in ("yarn", "pnpm", "bun") and words[1:2] and words[1] in ("add", "dlx", "x"):
        return f"{head} {words[1]} resolves packages by name"
    if head in ("go", "gem", "cargo") and words[1:2] == ["install"]:
        return f"{head} install fetches a package by name"
    return None


def run_scripts(doc: dict[Any, Any]) -> Iterator[tuple[str, str]]:
    """(where, script) for every `run:` of a workflow or a composite action."""
    if isinstance(doc.get("runs"), dict):
        jobs = {"(action)": doc["runs"]}
    else:
        jobs = doc.get("jobs") or {}
    for job_name, job in jobs.items():
        for number, step in enumerate(job.get("steps") or [], 1):
            if isinstance(step, dict) and isinstance(step.get("run"), str):
                yield f"{job_name} step {number} ({step.get('name', '')})", step["run"]


def script_problems(script: str) -> list[str]:
    logical = re.sub(r"\\\n", " ", script)
    problems = [f"pipes a download into a shell: {m.group(0)}" for m in _PIPE_TO_SHELL.finditer(logical)]
    for command in _SPLIT.split(logical):
        problem = install_problem(command.strip().lstrip("(").strip())
        if problem:
            problems.append(f"{problem}: {command.strip()}")
    return problems


def test_nothing_is_installed_by_a_bare_name(installed_repo: Path) -> None:
    findings = []
    for path in installed_files(installed_repo):
        doc = yaml.safe_load(path.read_text())
        for where, script in run_scripts(doc):
            findings += [f"{path.relative_to(installed_repo)}: {where}: {p}" for p in script_problems(script)]
    assert not findings, "\n".join(findings)


@pytest.mark.parametrize("script", [
    'python -m pip install "checkov>=3.2,<4"',
    "pip install requests",
    'python -m pip install -r "$API_DIR/requirements-dev.txt"',
    "pip install --require-hashes -r https://example.com/requirements.txt",
    "pip3 install --require-hashes -r /tmp/requirements.txt",
    "npx --yes http-server@14 web/out -p 8080 -s &",
    "cd web && npm install",
    "npm ci && npm i left-pad",
    "curl -sSL https://example.com/install.sh | bash",
    "uvx ruff check .",
    "go install golang.org/x/tools/cmd/goimports@latest",
    "python -m pip install --no-deps \\\n  boto3==1.0",
])
def test_the_scanner_flags_unpinned_installs(script: str) -> None:
    assert script_problems(script), script


@pytest.mark.parametrize("script", [
    'python -m pip install --disable-pip-version-check --no-input --require-hashes --no-deps \\\n'
    '  -r "$GITHUB_WORKSPACE/.github/chatops-release/requirements.txt"',
    "python -m pip install --require-hashes -r services/api/requirements.lock",
    "pip install ./services/api",
    "npm ci --no-audit --no-fund && npm run build",
    "npx --no-install eslint .",
    'code="$(curl --silent --output /dev/null "$URL" || true)"',
    "echo pip install is how people do it  # no",
])
def test_the_scanner_accepts_pinned_or_local_installs(script: str) -> None:
    assert not script_problems(script), script
