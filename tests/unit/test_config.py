"""Configuration: the example loads, every problem is reported with its key path, secrets, check-config."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.config import load_config, parse_config, parse_duration
from bot.environment import load_secrets
from bot.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "chatops.yml"
PYTHON = ROOT / ".venv" / "bin" / "python"
TEAMS_ENV = {"TEAMS_OPS_WEBHOOK_URL": "https://example.webhook.office.com/workflows/ops"}
SECRETS = {
    "SLACK_BOT_TOKEN": "xoxb-test",
    "SLACK_SIGNING_SECRET": "signing",
    "GITHUB_TOKEN": "ghp_test",
    "GITHUB_WEBHOOK_SECRET": "hook",
    "CHATOPS_EVENTS_API_KEY": "key",
    **TEAMS_ENV,
}

BROKEN = """\
github: {repository: acme/platform}
colour: blue                                   # unknown top-level key
slack:
  channels: {deploys: C0DEPLOYS, approvals: not-a-channel}
teams:
  webhooks: {ops: {url_env: TEAMS_OPS_WEBHOOK_URL}}
people:
  dev:  {slack: U0DEV, github: dev-gh, email: dev@example.com}
  lead: {slack: U0LEAD}
groups: {deployers: [dev, ghost], approvers: [lead]}
environments:
  staging:    {deployers: [deployers]}
  production: {deployers: [deployers], approvers: [approvers], approvals: 2, approval_ttl: soon, gate: manual}
services:
  api: {workflow: api-ci.yml, environments: [staging, qa]}
routes:
  - {when: {kind: [deployment]}, to: [slack:nowhere]}
"""

# every problem of BROKEN, as (key path, a word the message must contain)
EXPECTED = [
    ("colour", "unknown key"),
    ("slack.channels.approvals", "channel id"),
    ("slack.team_id", "is required"),
    ("people.dev.email", "unknown key"),
    ("groups.deployers[1]", "'ghost' is not a person"),
    ("environments.production.approvals", "needs 2 approvals but only 1 approvers"),
    ("environments.production.approval_ttl", "not a duration"),
    ("environments.production.gate", "'manual' is not one of"),
    ("services.api.environments[1]", "'qa' is not defined"),
    ("routes[0].to[0]", "'nowhere' is not a channel"),
]


def write(tmp_path: Path, text: str, name: str = "chatops.yml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------ the example


def test_example_loads_and_expands_groups() -> None:
    config = load_config(EXAMPLE, env=TEAMS_ENV)
    assert config.repository == "acme/platform"
    assert dict(config.slack_channels) == {"deploys": "C0DEPLOYS", "approvals": "C0APPROVALS",
                                           "security": "C0SECURITY"}
    assert config.teams_webhooks["ops"].url_env == "TEAMS_OPS_WEBHOOK_URL"
    assert config.teams_webhooks["ops"].format == "adaptive"
    assert set(config.people) == {"dev", "lead", "sre"}
    assert config.person_by("slack", "U0LEAD").key == "lead"  # type: ignore[union-attr]
    assert config.person_by("github", "sre-gh").key == "sre"  # type: ignore[union-attr]
    assert config.person_by("slack", "U0GUEST") is None
    assert config.person_by("slack", "") is None
    # groups are expanded into people
    prod = config.environments["production"]
    assert prod.deployers == ("dev", "lead")
    assert prod.approvers == ("lead", "sre")
    assert prod.approvals == 1 and prod.approval_ttl_s == 7200 and prod.gate == "bot" and prod.needs_approval
    staging = config.environments["staging"]
    assert staging.deployers == ("dev", "lead") and not staging.needs_approval and staging.gate == "none"
    assert config.admins == ("sre",)
    assert "infra" not in config.services  # infra-ci.yml has no workflow_dispatch: GitHub would answer 422
    assert config.services["api"].rollback_workflow == "rollback.yml"
    assert config.services["worker"].workflow == "build-and-deploy-lambda.yml"
    assert config.approvals_channel() == "C0APPROVALS"
    assert [r.kinds for r in config.routes] == [("deployment", "rollback"), ("failure",), ("security",)]
    assert config.routes[1].mention == "here"
    assert config.routes[0].to == ("slack:deploys", "teams:ops")


def test_example_needs_its_teams_webhook_env() -> None:
    with pytest.raises(ConfigError) as err:
        load_config(EXAMPLE, env={})
    assert err.value.problems == ["teams.webhooks.ops.url_env: environment variable TEAMS_OPS_WEBHOOK_URL is not set"]


def test_config_is_frozen() -> None:
    config = load_config(EXAMPLE, env=TEAMS_ENV)
    with pytest.raises(AttributeError):
        config.repository = "x/y"  # type: ignore[misc]


# ------------------------------------------------------------------------------------------ broken configs


def test_broken_config_reports_every_problem_with_its_key_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, BROKEN), env=TEAMS_ENV)
    problems = err.value.problems
    for path, words in EXPECTED:
        matching = [p for p in problems if p.startswith(f"{path}: ")]
        assert matching, f"no problem reported for {path}; got {problems}"
        assert any(words in p for p in matching), (path, matching)
    assert len(problems) == len(EXPECTED), problems


@pytest.mark.parametrize(
    ("patch", "path"),
    [
        ({"github": {"repository": "no-slash"}}, "github.repository"),
        ({"github": None}, "github"),
        ({"people": {"Dev!": {"slack": "U0DEV"}}}, "people.Dev!"),
        ({"people": {"dev": {"slack": "bob"}}}, "people.dev.slack"),
        ({"people": {"dev": {}}}, "people.dev"),
        ({"people": {"a": {"slack": "U0SAME"}, "b": {"slack": "U0SAME"}}}, "people.b.slack"),
        ({"people": {"a": {"github": "Same"}, "b": {"github": "same"}}}, "people.b.github"),
        ({"services": {"api": {"workflow": "api ci", "environments": ["dev"]}}}, "services.api.workflow"),
        ({"services": {"api": {"workflow": "a.yml", "environments": ["dev"], "timeout": 3}}}, "services.api.timeout"),
        ({"environments": {"dev": {"deployers": ["nobody"]}}}, "environments.dev.deployers[0]"),
        ({"environments": {"dev": {"deployers": ["dev"], "approvals": -1}}}, "environments.dev.approvals"),
        ({"environments": {"dev": {"deployers": ["dev"], "approvals": "two"}}}, "environments.dev.approvals"),
        ({"routes": {"not": "a list"}}, "routes"),
        ({"routes": [{"when": {"kind": ["deploy"]}, "to": ["slack:deploys"]}]}, "routes[0].when.kind[0]"),
        ({"routes": [{"when": {"colour": ["red"]}, "to": ["slack:deploys"]}]}, "routes[0].when.colour"),
        ({"routes": [{"when": {"service": ["nope"]}, "to": ["slack:deploys"]}]}, "routes[0].when.service[0]"),
        ({"routes": [{"when": {"environment": ["qa"]}, "to": ["slack:deploys"]}]}, "routes[0].when.environment[0]"),
        ({"routes": [{"when": {"outcome": ["great"]}, "to": ["slack:deploys"]}]}, "routes[0].when.outcome[0]"),
        ({"routes": [{"to": []}]}, "routes[0].to"),
        ({"routes": [{"to": ["email:ops"]}]}, "routes[0].to[0]"),
        ({"routes": [{"to": ["teams:nope"]}]}, "routes[0].to[0]"),
        ({"routes": [{"to": ["slack:deploys"], "mention": "everyone"}]}, "routes[0].mention"),
        ({"teams": {"webhooks": {"ops": {"url_env": "lower-case"}}}}, "teams.webhooks.ops.url_env"),
        ({"teams": {"webhooks": {"ops": {"url_env": "OPS_URL", "format": "html"}}}}, "teams.webhooks.ops.format"),
    ],
)
def test_each_problem_names_its_key(patch: dict[str, object], path: str) -> None:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data.update(patch)
    with pytest.raises(ConfigError) as err:
        parse_config(data, env={**TEAMS_ENV, "OPS_URL": "https://x"})
    assert any(p.startswith(f"{path}: ") for p in err.value.problems), err.value.problems


def test_unknown_keys_under_slack_are_errors() -> None:
    """Issue 11 defect 11: a typo under slack: (here `channel:` for `channels:`) must not silently drop routes."""
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["slack"]["channel"] = {"ops": "C0OPS"}
    data["slack"]["signing_secret"] = "not here: secrets come from the environment"
    with pytest.raises(ConfigError) as err:
        parse_config(data, env=TEAMS_ENV)
    problems = [p for p in err.value.problems if p.startswith("slack.")]
    assert sorted(p.split(":")[0] for p in problems) == ["slack.channel", "slack.signing_secret"], problems
    assert all("unknown key" in p and "channels" in p for p in problems)


@pytest.mark.parametrize("data", [None, [], "text", 42])
def test_not_a_mapping(data: object) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(data, env={})
    assert err.value.problems[0].startswith("(root): ")


def test_durations() -> None:
    assert parse_duration("90s") == 90
    assert parse_duration("30m") == 1800
    assert parse_duration("2h") == 7200
    assert parse_duration("1d") == 86400
    assert parse_duration("1w") == 604800
    for bad in ("", "2", "h", "2 hours", "-1h", "1.5h", "2y"):
        with pytest.raises(ValueError):
            parse_duration(bad)


# ------------------------------------------------------------------------------------------ secrets


def test_load_secrets_lists_every_missing_env_var() -> None:
    config = load_config(EXAMPLE, env=TEAMS_ENV)
    with pytest.raises(ConfigError) as err:
        load_secrets(config, {})
    text = "\n".join(err.value.problems)
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "GITHUB_TOKEN", "GITHUB_WEBHOOK_SECRET",
                 "CHATOPS_EVENTS_API_KEY", "TEAMS_OPS_WEBHOOK_URL"):
        assert any(p.startswith(f"env {name}: ") for p in err.value.problems), (name, text)
    assert len(err.value.problems) == 6


def test_load_secrets_reads_the_environment() -> None:
    config = load_config(EXAMPLE, env=TEAMS_ENV)
    secrets = load_secrets(config, {**SECRETS, "DATABASE_URL": "postgresql://db/x",
                                    "SLACK_API_URL": "http://127.0.0.1:1/api/"})
    assert secrets.slack_bot_token == "xoxb-test"
    assert secrets.database_url == "postgresql://db/x"
    assert secrets.slack_api_url == "http://127.0.0.1:1/api/"
    assert secrets.github_api_url == "https://api.github.com"
    assert dict(secrets.teams_urls) == {"ops": TEAMS_ENV["TEAMS_OPS_WEBHOOK_URL"]}
    assert "xoxb" not in repr(secrets) and "signing" not in repr(secrets)
    assert load_secrets(config, SECRETS).database_url == "sqlite:///chatops.db"


def test_load_secrets_rejects_bad_values() -> None:
    config = load_config(EXAMPLE, env=TEAMS_ENV)
    with pytest.raises(ConfigError) as err:
        load_secrets(config, {**SECRETS, "DATABASE_URL": "mysql://x", "TEAMS_OPS_WEBHOOK_URL": "http://evil.example"})
    assert sorted(p.split(":")[0] for p in err.value.problems) == ["env DATABASE_URL", "env TEAMS_OPS_WEBHOOK_URL"]


def test_github_app_credentials_replace_the_token() -> None:
    config = load_config(EXAMPLE, env=TEAMS_ENV)
    env = {k: v for k, v in SECRETS.items() if k != "GITHUB_TOKEN"}
    with pytest.raises(ConfigError):
        load_secrets(config, env)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())
    load_secrets(config, {**env, "GITHUB_APP_ID": "1", "GITHUB_APP_PRIVATE_KEY": key.decode()})


# ------------------------------------------------------------------------------------------ check-config CLI


def check_config(path: Path | str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in SECRETS and not k.startswith(("GITHUB_", "SLACK_"))}
    return subprocess.run(
        [str(PYTHON if PYTHON.exists() else sys.executable), "-m", "bot", "check-config", str(path)],
        capture_output=True, text=True, cwd=ROOT, env={**base, **env}, timeout=60, check=False,
    )


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


def test_check_config_ok_on_the_example() -> None:
    done = check_config(EXAMPLE, SECRETS)
    assert done.returncode == 0, done.stderr
    assert "ok" in done.stdout
    assert "Traceback" not in done.stderr


def test_check_config_lists_every_problem(tmp_path: Path) -> None:
    done = check_config(write(tmp_path, BROKEN), SECRETS)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = error_lines(done.stderr)
    assert len(lines) == len(EXPECTED), done.stderr
    for path, _ in EXPECTED:
        assert any(line.startswith(f"error: {path}: ") for line in lines), (path, lines)


def test_check_config_reports_missing_secrets() -> None:
    done = check_config(EXAMPLE, TEAMS_ENV)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert any(line.startswith("error: env SLACK_BOT_TOKEN: ") for line in error_lines(done.stderr))


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(None, id="missing-file"),
        pytest.param("github: {repository: acme/platform\n  slack: [", id="invalid-yaml"),
        pytest.param("\tgithub: x\n", id="tab-indent"),
        pytest.param("- just\n- a list\n", id="not-a-mapping"),
        pytest.param("", id="empty"),
        pytest.param(b"github:\n  repository: \xff\xfe acme\n", id="not-utf8"),
    ],
)
def test_check_config_never_shows_a_traceback(tmp_path: Path, content: str | bytes | None) -> None:
    path = tmp_path / "chatops.yml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    done = check_config(path, SECRETS)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    lines = error_lines(done.stderr)
    assert lines, done.stderr
    assert all(len(line) > len("error: ") for line in lines)
