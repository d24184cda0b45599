"""Issue 23 item 9: install-workflows fits the repository it installs into.

Tried as a new user: a scratch repository with only ``services/api``; install; actionlint and zizmor are clean, and
no installed job refers to a part of the repository (infra/, web/, services/<name>) that does not exist.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.deploys.install import PART_DIRS, PART_JOBS, SERVICES
from tests.contract.conftest import ROOT, git, run_install
from tests.contract.test_installed_lint import run, tool

# a repository path a job works on: infra, web or services/<name>, standing alone or followed by '/'
_PART = re.compile(r"(?:^|(?<=[\s\"'=(:,\[]))(infra|web|services/[A-Za-z0-9_.-]+)(?=/|[\s\"',)\]]|$)", re.M)


def _operands(node: Any, key: str = "") -> list[str]:
    """The strings a job acts on: run scripts, working directories, action inputs and env values (not names, ifs)."""
    if isinstance(node, dict):
        return [s for k, v in node.items() if k not in ("name", "if", "concurrency", "environment")
                for s in _operands(v, str(k))]
    if isinstance(node, list):
        return [s for v in node for s in _operands(v, key)]
    return [str(node)] if node is not None else []


def _paths_each_job_uses(workflow: Path) -> dict[str, set[str]]:
    doc: dict[str, Any] = yaml.safe_load(workflow.read_text())
    env = {str(k): str(v) for k, v in (doc.get("env") or {}).items()}
    found: dict[str, set[str]] = {}
    for name, job in doc["jobs"].items():
        text = "\n".join(_operands(job))
        text += "\n" + "\n".join(v for k, v in env.items() if f"env.{k}" in text or f"${k}" in text)
        # rollback.yml's kind/role pairs (lambda/lambda, lambda/api, web/web: .github/release-services.json) are
        # names, not paths
        text = re.sub(r"\b(?:lambda|web)/(?:lambda|api|web)\b", "<kind/role>", text)
        found[name] = set(_PART.findall(text))
    return found


def _missing_paths(repo: Path) -> list[str]:
    return [f"{wf.name} job {job}: {path}"
            for wf in sorted(repo.glob(".github/workflows/*.yml"))
            for job, paths in _paths_each_job_uses(wf).items()
            for path in sorted(paths) if not (repo / path).exists()]


@pytest.fixture(scope="module")
def api_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("api-only") / "repo"
    (repo / "services" / "api").mkdir(parents=True)
    (repo / "services" / "api" / "app.py").write_text("print('api')\n")
    git(repo, "init", "-q", "-b", "main")
    done = run_install(repo, "--services", "api")
    assert done.returncode == 0, done.stdout + done.stderr
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "install")
    return repo


def test_no_job_refers_to_a_path_that_does_not_exist(api_only: Path) -> None:
    assert _missing_paths(api_only) == []
    security = yaml.safe_load((api_only / ".github/workflows/security.yml").read_text())
    assert not set(PART_JOBS["security.yml"]) & set(security["jobs"])


def test_the_path_check_sees_the_parts_in_a_full_install(installed_repo: Path) -> None:
    # the same scan over the full layout finds the infra and web jobs (so an empty result above means something)
    used = {p for wf in installed_repo.glob(".github/workflows/*.yml")
            for paths in _paths_each_job_uses(wf).values() for p in paths}
    assert {"infra", "web", "services/api"} <= used


def test_api_only_install_is_lint_clean(api_only: Path) -> None:
    done = run([tool("actionlint"), "-no-color", "-shellcheck=", "-pyflakes="], api_only)
    assert done.returncode == 0, done.stdout + done.stderr
    done = run([tool("zizmor"), "--offline", "."], api_only)
    assert done.returncode == 0, done.stdout + done.stderr


def test_without_services_the_parts_follow_the_repository(tmp_path: Path) -> None:
    (tmp_path / "services" / "api").mkdir(parents=True)
    done = run_install(tmp_path)
    assert done.returncode == 0, done.stderr
    workflows = {p.name for p in (tmp_path / ".github" / "workflows").glob("*.yml")}
    assert not workflows & {n for part in PART_DIRS for n in SERVICES[part]}
    assert _missing_paths(tmp_path) == []
    (tmp_path / "web").mkdir()
    assert run_install(tmp_path, "--force").returncode == 0
    security = yaml.safe_load((tmp_path / ".github/workflows/security.yml").read_text())
    assert "accessibility" in security["jobs"] and "terraform" not in security["jobs"]
    assert "web-ci.yml" in {p.name for p in (tmp_path / ".github" / "workflows").glob("*.yml")}


def test_part_jobs_name_real_jobs() -> None:
    for workflow, jobs in PART_JOBS.items():
        doc = yaml.safe_load((ROOT / "workflows" / workflow).read_text())
        assert set(jobs) <= set(doc["jobs"]), workflow
        assert set(jobs.values()) <= set(PART_DIRS)


def test_getting_started_says_where_the_terraform_lives_and_what_must_exist() -> None:
    text = (ROOT / "docs" / "getting-started.md").read_text()
    before_steps = text.split("| # | Step |")[0]
    # item 10: the Enterprise condition comes before the first step, not at the end
    assert "GitHub Enterprise" in before_steps and "private" in before_steps
    assert "infra/examples/complete" in before_steps and "infra/modules/" in before_steps
    prereq = before_steps.split("**What must already exist in AWS**")[1]
    named = set(re.findall(r"`([a-z_]+)`", prereq))
    variables = (ROOT / "infra" / "examples" / "complete" / "variables.tf").read_text()
    assert named, prereq
    for name in named:
        assert f'variable "{name}"' in variables, f"getting-started.md names {name}, not a variable of the root"
