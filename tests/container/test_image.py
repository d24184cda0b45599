"""The image users run, built from the repository's Dockerfile and run on a real Docker engine.

Containers run with --network none, or --network host for the serving test (never Docker's default bridge).
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import ROOT, run

pytestmark = pytest.mark.container

SECRETS = {
    "SLACK_BOT_TOKEN": "xoxb-container-test",
    "SLACK_SIGNING_SECRET": "container-signing-secret",
    "GITHUB_TOKEN": "ghp_containertest",
    "GITHUB_WEBHOOK_SECRET": "container-webhook-secret",
    "CHATOPS_EVENTS_API_KEY": "container-events-key",
    "TEAMS_OPS_WEBHOOK_URL": "https://example.invalid/teams",
}
CONFIG = ROOT / "examples" / "chatops.yml"


def _env_args(env: dict[str, str]) -> list[str]:
    return [arg for k, v in env.items() for arg in ("-e", f"{k}={v}")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_image_holds_the_venv_and_the_code_only(bot_image: str) -> None:
    script = (
        "import os, json; print(json.dumps({'app': sorted(os.listdir('/app')), "
        "'bad': [d for d, _, _ in os.walk('/') if os.path.basename(d) in ('tests', 'sandbox', '.git') "
        "and not d.startswith(('/proc', '/sys', '/usr', '/opt/venv'))], "
        "'venv': os.path.isdir('/opt/venv')}))"
    )
    out = run("docker", "run", "--rm", "--network", "none", "--entrypoint", "python", bot_image, "-c", script)
    found = json.loads(out.stdout)
    assert found["app"] == ["bot", "chatops", "handlers"]  # chatops: the composition root (issue 26)
    assert found["bad"] == []
    assert found["venv"] is True


def test_image_runs_as_a_fixed_non_root_user_with_the_documented_entrypoint(bot_image: str) -> None:
    config = json.loads(run("docker", "image", "inspect", bot_image).stdout)[0]["Config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["python", "-m", "bot"]
    assert config["Cmd"] == ["serve"]
    assert "3000/tcp" in config["ExposedPorts"]
    check = " ".join(config["Healthcheck"]["Test"])
    assert "/healthz" in check and "curl" not in check
    uid = run("docker", "run", "--rm", "--network", "none", "--entrypoint", "id", bot_image, "-u").stdout.strip()
    assert uid == "10001"


def test_check_config_inside_the_image(bot_image: str) -> None:
    mount = ["-v", f"{CONFIG}:/config/chatops.yml:ro"]
    ok = run("docker", "run", "--rm", "--network", "none", "--read-only", *mount, *_env_args(SECRETS), bot_image,
             "check-config", "/config/chatops.yml", check=False)
    assert ok.returncode == 0, ok.stderr
    assert "ok" in ok.stdout


def test_missing_secrets_are_all_named_without_a_traceback(bot_image: str) -> None:
    mount = ["-v", f"{CONFIG}:/config/chatops.yml:ro"]
    for command in (["check-config", "/config/chatops.yml"], ["serve"]):
        bad = run("docker", "run", "--rm", "--network", "none", "--read-only", *mount, bot_image, *command,
                  check=False, timeout=60)
        assert bad.returncode == 1, (command, bad.stdout, bad.stderr)
        assert "Traceback" not in bad.stderr + bad.stdout
        for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "GITHUB_WEBHOOK_SECRET", "CHATOPS_EVENTS_API_KEY",
                     "TEAMS_OPS_WEBHOOK_URL"):
            assert name in bad.stderr, (command, name, bad.stderr)


@pytest.fixture()
def serving(bot_image: str) -> Iterator[tuple[str, int]]:
    port = _free_port()
    env = {**SECRETS, "PORT": str(port), "HOST": "127.0.0.1"}
    cid = run("docker", "run", "-d", "--network", "host", "--read-only", "-v", "/data",
              "-v", f"{CONFIG}:/config/chatops.yml:ro", *_env_args(env), bot_image).stdout.strip()
    try:
        yield cid, port
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", cid], capture_output=True)


def test_serve_on_a_read_only_root_answers_health_and_stops_on_sigterm(serving: tuple[str, int]) -> None:
    cid, port = serving
    status = 0
    for _ in range(150):  # a start-up deadline, not a speed goal (bench/ measures start to ready)
        try:
            status, _body = _get(f"http://127.0.0.1:{port}/readyz")
        except OSError:
            status = 0
        if status == 200:
            break
        time.sleep(0.2)
    assert status == 200, run("docker", "logs", cid, check=False).stderr[-2000:]
    assert _get(f"http://127.0.0.1:{port}/healthz")[0] == 200
    # the process serving is the non-root user; the database went to the /data volume
    top = run("docker", "top", cid, "-o", "uid,pid,cmd").stdout.splitlines()[1:]
    assert top and all(line.split()[0] == "10001" for line in top), top
    assert "chatops.db" in run("docker", "exec", cid, "ls", "/data").stdout
    # the image's own health check command passes
    health = json.loads(run("docker", "inspect", cid).stdout)[0]["Config"]["Healthcheck"]["Test"]
    assert run("docker", "exec", cid, *health[1:], check=False).returncode == 0
    # a config reload works inside the image (pid file on the /data volume; the root is read-only)
    reload = run("docker", "exec", cid, "python", "-m", "bot", "reload", check=False)
    assert reload.returncode == 0, reload.stdout + reload.stderr
    run("docker", "kill", "--signal", "TERM", cid)
    waited = run("docker", "wait", cid, timeout=10)  # SIGTERM must end it within 10 s
    assert waited.stdout.strip() == "0"
    logs = run("docker", "logs", cid).stderr
    assert "Traceback" not in logs


def test_compose_file_is_valid_with_the_committed_env_example(docker_engine: None, tmp_path: Path) -> None:
    for name in ("docker-compose.yml", ".env.example"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    (tmp_path / ".env").write_text((ROOT / ".env.example").read_text())
    (tmp_path / "chatops.yml").write_text(CONFIG.read_text())
    done = run("docker-compose", "--project-directory", str(tmp_path), "-f", str(tmp_path / "docker-compose.yml"),
               "config")
    import yaml

    compose = yaml.safe_load(done.stdout)
    db, bot = compose["services"]["db"], compose["services"]["bot"]
    assert db["image"] == "postgres:16"
    assert any("/var/lib/postgresql/data" in str(v) for v in db["volumes"])
    assert bot["depends_on"]["db"]["condition"] == "service_healthy"
    assert bot["environment"]["DATABASE_URL"].startswith("postgresql://chatops:")
    assert bot["read_only"] is True
    # the committed example carries no secret values
    for line in (ROOT / ".env.example").read_text().splitlines():
        key, _, value = line.partition("=")
        if line and not line.startswith("#"):
            assert value in ("", "change-me"), key


def test_image_carries_the_pinned_rds_ca_bundle(bot_image: str) -> None:
    # issue 22 item 11: the task's PGSSLROOTCERT (chatops-bot-service db_sslrootcert) exists in the image, as pinned
    import hashlib

    want = hashlib.sha256((ROOT / "certs" / "rds-global-bundle.pem").read_bytes()).hexdigest()
    path = "/etc/ssl/certs/rds-global-bundle.pem"
    script = f"import hashlib; print(hashlib.sha256(open({path!r}, 'rb').read()).hexdigest())"
    out = run("docker", "run", "--rm", "--network", "none", "--entrypoint", "python", bot_image, "-c", script)
    assert out.stdout.strip() == want
