"""Contract (issue 11 defect 6): the bot config's gates and the Terraform that installs GitHub's protection rule agree,
and every environment the rule is installed on is answered by the bot under docs/configuration.md's "Gates" rule
(the rejection "not an environment with gate: github" of the bot's own approved deploys cannot happen)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.config import Config, load_config
from bot.deploys.gates import gate_warnings, judge
from bot.domain import DeployRequest, Platform, RequestKind, RequestState
from tests.infra import tfcheck

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "chatops.yml"
ENV = {"TEAMS_OPS_WEBHOOK_URL": "https://example.webhook.office.com/x"}
TFVARS = sorted((ROOT / "infra" / "environments").glob("*.tfvars"))


def protected_environments() -> dict[str, bool]:
    """environment -> use_protection_rule, over every tfvars that manages GitHub."""
    out: dict[str, bool] = {}
    for path in TFVARS:
        tfvars = tfcheck.load_file(path)
        if not tfvars.get("manage_github"):
            continue
        for env, spec in (tfvars.get("github_environments") or {}).items():
            out[env] = out.get(env, False) or bool(spec.get("use_protection_rule", False))
    return out


def request(config: Config, env: str, *, kind: RequestKind = RequestKind.DEPLOY, external: bool = False,
            sha: str = "a" * 40) -> DeployRequest:
    e = config.environments[env]
    approvals = 0 if kind is RequestKind.ROLLBACK or external else e.approvals
    return DeployRequest(
        id="r-abcdefgh", kind=kind, service="api", environment="" if external else env, ref="v1.4.2",
        requester="dev", requester_platform=Platform.GITHUB if external else Platform.SLACK, requester_id="U0DEV",
        channel="C0DEPLOYS", state=RequestState.DISPATCHED, created_at=datetime.now(UTC), workflow="api-ci.yml",
        approvals_required=approvals, sha=sha)


def test_the_examples_manage_github_environments() -> None:
    assert protected_environments(), "no tfvars manages GitHub environments: the contract below checks nothing"


def test_every_gate_github_environment_has_the_protection_rule() -> None:
    config = load_config(EXAMPLE, env=ENV)
    protected = protected_environments()
    for name, env in config.environments.items():
        if env.gate == "github":
            assert protected.get(name), f"{name} has gate: github but no tfvars sets use_protection_rule = true"
    for name, on in protected.items():
        if on:
            assert name in config.environments, f"{name} has the protection rule but is not in {EXAMPLE.name}"


@pytest.mark.parametrize("env", [e for e, on in protected_environments().items() if on])
def test_the_bot_answers_every_protected_environment_by_the_rule(env: str) -> None:
    config = load_config(EXAMPLE, env=ENV)
    e = config.environments[env]
    # a chat request the bot dispatched after its chat decision: approved, whatever the gate
    for kind in RequestKind:
        r = request(config, env, kind=kind)
        verdict = judge(config, r, environment=env, sha=r.sha, approvals=r.approvals_required, blocked="")
        assert verdict.answer == "approve", (env, kind, verdict)
    # a run started in GitHub: the chat policy of that environment (never a refusal because of the gate)
    outside = request(config, env, external=True)
    verdict = judge(config, outside, environment=env, sha=outside.sha, approvals=0, blocked="")
    assert verdict.answer == ("wait" if e.approvals else "approve"), (env, verdict)
    assert verdict.required == e.approvals
    verdict = judge(config, outside, environment=env, sha=outside.sha, approvals=e.approvals, blocked="")
    assert verdict.answer == "approve"
    # a lock or freeze refuses a run started in GitHub; the environment answered is the one asked for
    assert judge(config, outside, environment=env, sha="", approvals=9, blocked="locked").answer == "refuse"
    other = next(n for n in config.environments if n != env)
    wrong = judge(config, request(config, other), environment=env, sha="", approvals=9, blocked="")
    assert wrong.answer == "refuse" and other in wrong.reason


def check_config(path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "SLACK_", "CHATOPS_", "TEAMS_"))}
    secrets = {"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "signing", "GITHUB_WEBHOOK_SECRET": "hook",
               "CHATOPS_EVENTS_API_KEY": "key", "TEAMS_OPS_WEBHOOK_URL": "https://example.webhook.office.com/x"}
    return subprocess.run([sys.executable, "-m", "bot", "check-config", str(path)], capture_output=True, text=True,
                          cwd=ROOT, env={**base, **secrets, **env}, timeout=60, check=False)


def test_check_config_warns_when_a_gate_needs_an_app_it_does_not_have(tmp_path: Path) -> None:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    data["environments"]["production"]["gate"] = "github"
    path = tmp_path / "chatops.yml"
    path.write_text(yaml.safe_dump(data))
    done = check_config(path, {"GITHUB_TOKEN": "ghp_test"})
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stdout.splitlines() if line.startswith("warning: ")]
    assert any("environments.production.gate: github" in w and "GitHub App" in w for w in warnings), done.stdout
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())
    with_app = check_config(path, {"GITHUB_APP_ID": "123456", "GITHUB_APP_PRIVATE_KEY": key.decode()})
    assert with_app.returncode == 0 and "warning:" not in with_app.stdout, with_app.stdout + with_app.stderr
    assert gate_warnings(load_config(path, env=ENV), {"GITHUB_APP_ID": "1"}) == []
