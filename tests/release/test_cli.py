from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.actions.release import AwsClients
from bot.actions.release.cli import main

from .conftest import digest_uri
from .fakes import FakeGitHub, HealthEndpoint

ROOT = Path(__file__).resolve().parents[2]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main(list(argv))
    out = capsys.readouterr().out.strip().splitlines()
    return code, json.loads(out[-1])


def test_cli_deploy_reports_to_github_and_rollback(
    aws_env: str,
    clients: AwsClients,
    live_function: dict[str, Any],
    health: HealthEndpoint,
    github: FakeGitHub,
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = live_function["name"]
    code, out = run(
        capsys, "deployment-create", "--ref", "main", "--environment", "dev", "--request-id", "q1"
    )
    assert code == 0
    deployment_id = str(out["deployment_id"])
    assert github.deployments[out["deployment_id"]]["payload"]["request_id"] == "q1"
    code, out = run(
        capsys, "lambda-deploy", "--function", name, "--image-uri", digest_uri("7"), "--release", "1.1.0",
        "--bake-seconds", "0", "--health-url", f"{health.url}/ok", "--health-interval", "0",
        "--deployment-id", deployment_id, "--environment-url", "https://dev.example.com",
    )  # fmt: skip
    assert code == 0 and out["version"] == "2"
    statuses = github.statuses[int(deployment_id)]
    assert statuses[-1]["state"] == "success"
    assert statuses[-1]["log_url"] == f"https://github.com/{github.repository}/actions/runs/4242"
    code, out = run(capsys, "lambda-status", "--function", name)
    assert code == 0 and out["version"] == "2" and out["previous_version"] == "1"
    code, out = run(capsys, "lambda-rollback", "--function", name, "--deployment-id", deployment_id)
    assert code == 0 and out["to"] == "1"
    assert github.states(int(deployment_id))[-1] == "success"


def test_cli_failed_health_exits_4_and_says_rolled_back(
    aws_env: str,
    live_function: dict[str, Any],
    health: HealthEndpoint,
    github: FakeGitHub,
    capsys: pytest.CaptureFixture[str],
) -> None:
    health.status = 500
    _, out = run(capsys, "deployment-create", "--ref", "main", "--environment", "staging")
    deployment_id = out["deployment_id"]
    code, out = run(
        capsys, "lambda-deploy", "--function", live_function["name"], "--image-uri", digest_uri("8"),
        "--release", "1.1.0", "--bake-seconds", "0", "--health-url", f"{health.url}/ok",
        "--health-attempts", "1", "--deployment-id", str(deployment_id),
    )  # fmt: skip
    assert code == 4 and out["error"] == "RolledBack"
    assert github.states(deployment_id) == ["in_progress", "failure"]
    assert "rolled back" in github.statuses[deployment_id][-1]["description"]


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["lambda-deploy", "--function", "ghost", "--image-uri", digest_uri("1"), "--release", "1",
          "--health-url", "http://127.0.0.1:9/"], 3),
        (["lambda-deploy", "--function", "ghost", "--image-uri", "nginx", "--release", "1",
          "--health-url", "http://127.0.0.1:9/"], 2),
        (["lambda-deploy", "--function", "ghost", "--image-uri", digest_uri("1"), "--release", "1"], 2),
        (["lambda-rollback", "--function", "ghost"], 3),
    ],
)  # fmt: skip
def test_cli_bad_inputs(aws_env: str, capsys: pytest.CaptureFixture[str], argv: list[str], code: int) -> None:
    got, out = run(capsys, *argv)
    assert got == code and out["message"]


def test_cli_web_publish_and_rollback(
    aws_env: str, site: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("a", "b"):
        src = tmp_path / name
        src.mkdir()
        (src / "index.html").write_text(name)
        (tmp_path / f"{name}.id").write_text(f"build-{name}\n")
        code, out = run(
            capsys, "web-publish", "--bucket", site["bucket"], "--distribution-id", site["distribution"],
            "--source", str(src), "--release", name, "--build-id-file", str(tmp_path / f"{name}.id"),
        )  # fmt: skip
        assert code == 0 and out["origin_path"] == f"/releases/{name}"
    code, out = run(
        capsys, "web-rollback", "--bucket", site["bucket"], "--distribution-id", site["distribution"]
    )
    assert code == 0 and out["origin_path"] == "/releases/a"
    code, out = run(
        capsys, "web-status", "--bucket", site["bucket"], "--distribution-id", site["distribution"]
    )
    assert out["live"] == "a" and out["releases"] == ["a", "b"]


def test_module_entry_point() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    done = subprocess.run(
        [sys.executable, "-m", "bot.actions.release", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0 and "lambda-deploy" in done.stdout
