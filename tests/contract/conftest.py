"""Fixtures for the contract tests: the layout ``chatops-bot install-workflows`` produces in a fresh repository."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GIT_IDENTITY = ("-c", "user.name=Contract Test", "-c", "user.email=contract@example.invalid")


def run_install(dest: Path | str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the real CLI (``python -m bot install-workflows DEST ...``) from this checkout."""
    cmd = [sys.executable, "-m", "bot", "install-workflows", str(dest), *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    done = subprocess.run(["git", *GIT_IDENTITY, *args], cwd=repo, capture_output=True, text=True, env=env,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="session")
def installed_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git repository (branch ``main``) with everything install-workflows writes, committed. Do not modify it."""
    repo = tmp_path_factory.mktemp("installed") / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    for part in ("infra", "web"):  # a repository with every part: everything is installed, every job
        (repo / part).mkdir()
        (repo / part / "README.md").write_text(f"{part}\n")
    done = run_install(repo)
    assert done.returncode == 0, done.stdout + done.stderr
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "install the chatops pipeline")
    return repo
