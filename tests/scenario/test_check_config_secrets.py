"""Issue 23 item 10 through the real CLI and app: ``check-config`` refuses a GitHub App key that is not a PEM RSA
private key (GitHub generates App keys as PEM and signs App JWTs with RS256:
https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/managing-private-keys-for-github-apps),
and asks for ``CHATOPS_EVENTS_API_KEY`` only when security events come through the EventBridge API destination
(``POST /aws/events``), i.e. unless the config names an SNS topic or an SQS queue or turns security off."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from sandbox.stack import EXAMPLE_CONFIG, ROOT, Stack

SECRETS = {"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "signing", "GITHUB_WEBHOOK_SECRET": "hook",
           "CHATOPS_EVENTS_API_KEY": "key", "TEAMS_OPS_WEBHOOK_URL": "https://example.webhook.office.com/x"}
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEM = RSA_KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption()).decode()


def check_config(path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "SLACK_", "CHATOPS_", "TEAMS_"))}
    return subprocess.run([sys.executable, "-m", "bot", "check-config", str(path)], capture_output=True, text=True,
                          cwd=ROOT, env={**base, **env}, timeout=60, check=False)


def errors(done: subprocess.CompletedProcess[str]) -> list[str]:
    assert "Traceback" not in done.stderr, done.stderr
    return [line for line in done.stderr.splitlines() if line.startswith("error: ")]


def config(tmp_path: Path, security: dict[str, Any] | None = None) -> Path:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    if security is not None:
        data["security"] = {**(data.get("security") or {}), **security}
    path = tmp_path / "chatops.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def _not_rsa() -> str:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


def _public() -> str:
    return RSA_KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.mark.parametrize(("key", "reason"), [
    (base64.b64encode(PEM.encode()).decode(), "is not a PEM private key"),
    (PEM.replace("\n", "\\n"), "the two characters \\n"),
    ("/run/secrets/app.pem", "is not a PEM private key"),
    (_public(), "not a readable PEM private key"),
    (_not_rsa(), "not an RSA private key"),
    (PEM.replace(PEM.splitlines()[3], "A" * 64), "not a readable PEM private key"),
])
def test_a_non_pem_app_key_is_refused_with_the_reason(tmp_path: Path, key: str, reason: str) -> None:
    done = check_config(config(tmp_path), {**SECRETS, "GITHUB_APP_ID": "4242", "GITHUB_APP_PRIVATE_KEY": key})
    assert done.returncode == 1
    lines = errors(done)
    assert any(line.startswith("error: env GITHUB_APP_PRIVATE_KEY: ") and reason in line for line in lines), lines
    assert key.strip()[:40] not in done.stderr + done.stdout or key.startswith("/run"), "the key was echoed"


def test_a_pem_app_key_passes_and_a_bad_key_file_is_named(tmp_path: Path) -> None:
    path = config(tmp_path)
    ok = check_config(path, {**SECRETS, "GITHUB_APP_ID": "4242", "GITHUB_APP_PRIVATE_KEY": PEM})
    assert ok.returncode == 0, ok.stderr
    key_file = tmp_path / "app.pem"
    key_file.write_text(PEM)
    assert check_config(path, {**SECRETS, "GITHUB_APP_ID": "4242",
                               "GITHUB_APP_PRIVATE_KEY_FILE": str(key_file)}).returncode == 0
    key_file.write_text("ghp_not_a_key\n")
    bad = check_config(path, {**SECRETS, "GITHUB_APP_ID": "4242", "GITHUB_APP_PRIVATE_KEY_FILE": str(key_file)})
    assert any(line.startswith("error: env GITHUB_APP_PRIVATE_KEY_FILE: is not a PEM") for line in errors(bad))
    missing = check_config(path, {**SECRETS, "GITHUB_APP_ID": "4242",
                                  "GITHUB_APP_PRIVATE_KEY_FILE": str(tmp_path / "nope.pem")})
    assert any("cannot read" in line and "nope.pem" in line for line in errors(missing))
    app_id = check_config(path, {**SECRETS, "GITHUB_APP_ID": "my-app", "GITHUB_APP_PRIVATE_KEY": PEM})
    assert any(line.startswith("error: env GITHUB_APP_ID: ") for line in errors(app_id))


def test_the_events_api_key_is_asked_for_only_when_eventbridge_is_the_route(tmp_path: Path) -> None:
    env = {k: v for k, v in SECRETS.items() if k != "CHATOPS_EVENTS_API_KEY"} | {"GITHUB_TOKEN": "ghp_test"}
    default = check_config(config(tmp_path), env)
    assert default.returncode == 1
    assert any(line.startswith("error: env CHATOPS_EVENTS_API_KEY: is not set") and "/aws/events" in line
               for line in errors(default)), default.stderr
    topic = "arn:aws:sns:us-east-1:123456789012:chatops-security"
    for security in ({"sns": {"topics": [topic]}}, {"enabled": False},
                     {"sqs": {"queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/chatops-security",
                              "region": "us-east-1"}}):
        done = check_config(config(tmp_path, security), env)
        assert done.returncode == 0 and not errors(done), (security, done.stderr)


async def test_without_the_key_the_eventbridge_route_is_not_served(tmp_path: Path) -> None:
    topic = "arn:aws:sns:us-east-1:123456789012:chatops-security"
    path = config(tmp_path, {"sns": {"topics": [topic]}})
    stack = Stack(database_url=f"sqlite:///{tmp_path}/bot.db", config_path=path,
                  extra_env={"CHATOPS_EVENTS_API_KEY": ""})
    async with stack:
        status, _ = await stack.post("/aws/events", b"{}", {"x-api-key": "", "Content-Type": "application/json"})
        assert status == 404
        assert (await stack.get("/readyz"))[0] == 200


def test_a_config_with_other_problems_still_names_the_events_key(tmp_path) -> None:
    """check-config names every problem in one run: a config that fails for another reason still says the events
    key is missing when the EventBridge route would be used (and only then)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(root)}
    example = (root / "examples" / "chatops.yml").read_text(encoding="utf-8")  # its Teams URL variable is unset
    cases = {"eventbridge": example, "sns": example.replace(
        "security:\n", "security:\n  sns: {topics: ['arn:aws:sns:us-east-1:123456789012:chatops-security']}\n", 1)}
    for name, text in cases.items():
        path = tmp_path / f"{name}.yml"
        path.write_text(text, encoding="utf-8")
        done = subprocess.run([sys.executable, "-m", "bot", "check-config", str(path)], capture_output=True,
                              text=True, env=env, cwd=tmp_path, timeout=60, check=False)
        assert done.returncode == 1 and "TEAMS_OPS_WEBHOOK_URL" in done.stderr, done.stderr
        assert ("CHATOPS_EVENTS_API_KEY" in done.stderr) is (name == "eventbridge"), (name, done.stderr)
