"""Secrets and endpoints from the environment (never from the config file, never logged)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.config import Config
from bot.errors import ConfigError
from bot.github_app_key import app_key_problems


@dataclass(frozen=True, slots=True)
class Secrets:
    """Secrets and endpoints from the environment. Never logged (repr hides values)."""

    slack_bot_token: str
    slack_signing_secret: str
    github_token: str
    github_webhook_secret: str
    events_api_key: str
    slack_api_url: str
    github_api_url: str
    database_url: str
    teams_urls: Mapping[str, str]
    slack_app_token: str = ""  # set: Slack over Socket Mode (bot/runtime/socket_mode.py), no /slack/events
    slack_hooks_url: str = "https://hooks.slack.com"  # response_urls elsewhere are refused

    def __repr__(self) -> str:
        return "Secrets(<hidden>)"


REQUIRED_SECRETS = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "GITHUB_WEBHOOK_SECRET")
EVENTS_API_KEY = "CHATOPS_EVENTS_API_KEY"


def eventbridge_route_used(config: Config) -> bool:
    """Whether security events arrive at ``POST /aws/events`` (EventBridge API destination, the security-events
    module's default ``target_type``): security is on and the config names no other way in (``security.sns.topics``
    for an SNS subscription, ``security.sqs.queue_url`` for an SQS queue). Only then is CHATOPS_EVENTS_API_KEY
    required; the route is mounted whenever the key is set."""
    return _route_used(config.raw)


def _route_used(raw_config: object) -> bool:
    raw = raw_config.get("security") if isinstance(raw_config, Mapping) else None
    security = raw if isinstance(raw, Mapping) else {}
    if security.get("enabled", True) is False:
        return False
    sns, sqs = security.get("sns"), security.get("sqs")
    topics = sns.get("topics") if isinstance(sns, Mapping) else None
    queue = sqs.get("queue_url") if isinstance(sqs, Mapping) else None
    return not topics and not queue


def events_key_problems(raw_config: object, env: Mapping[str, str]) -> list[str]:
    """CHATOPS_EVENTS_API_KEY when the EventBridge route is used (``raw_config``: the YAML as read, which may be a
    config with other problems: check-config names every problem in one run)."""
    if not _route_used(raw_config) or env.get(EVENTS_API_KEY):
        return []
    return [f"env {EVENTS_API_KEY}: is not set (security events arrive through the EventBridge API destination, "
            "POST /aws/events, because the config sets neither security.sns.topics nor security.sqs.queue_url; "
            "or set security.enabled: false)"]


def secret_problems(env: Mapping[str, str]) -> list[str]:
    """Problems with the secrets every deployment needs, whatever the config says."""
    socket_mode = bool(env.get("SLACK_APP_TOKEN"))  # the app token authenticates the socket: no signatures
    problems = [f"env {name}: is not set" for name in REQUIRED_SECRETS
                if not env.get(name) and not (socket_mode and name == "SLACK_SIGNING_SECRET")]
    if socket_mode and not env["SLACK_APP_TOKEN"].startswith("xapp-"):
        problems.append("env SLACK_APP_TOKEN: must be a Slack app-level token (xapp-...)")
    has_app = env.get("GITHUB_APP_ID") and (
        env.get("GITHUB_APP_PRIVATE_KEY") or env.get("GITHUB_APP_PRIVATE_KEY_FILE")
    )
    if not env.get("GITHUB_TOKEN") and not has_app:
        problems.append("env GITHUB_TOKEN: is not set (or set GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY)")
    problems += app_key_problems(env)
    db = env.get("DATABASE_URL", "") or "sqlite:///chatops.db"
    if not db.startswith(("sqlite:///", "postgresql://", "postgres://")):
        problems.append("env DATABASE_URL: must start with sqlite:/// or postgresql://")
    return problems


def load_secrets(config: Config, env: Mapping[str, str]) -> Secrets:
    """Read secrets from the environment; every missing one is a problem (a missing secret never disables a check)."""
    problems = secret_problems(env) + events_key_problems(config.raw, env)
    db = env.get("DATABASE_URL", "") or "sqlite:///chatops.db"
    teams = {name: env.get(w.url_env, "") for name, w in config.teams_webhooks.items()}
    for name, url in teams.items():
        if not url:
            problems.append(f"env {config.teams_webhooks[name].url_env}: is not set (teams.webhooks.{name})")
        elif not url.startswith(("https://", "http://127.0.0.1", "http://[::1]", "http://localhost")):
            problems.append(f"env {config.teams_webhooks[name].url_env}: must be an https URL")
    hooks = env.get("SLACK_HOOKS_URL", "") or "https://hooks.slack.com"
    if not hooks.startswith(("https://", "http://127.0.0.1", "http://[::1]", "http://localhost")):
        problems.append("env SLACK_HOOKS_URL: must be an https URL (only loopback may be http)")
    if problems:
        raise ConfigError(problems)
    return Secrets(
        slack_bot_token=env["SLACK_BOT_TOKEN"],
        slack_signing_secret=env.get("SLACK_SIGNING_SECRET", ""),
        github_token=env.get("GITHUB_TOKEN", ""),
        github_webhook_secret=env["GITHUB_WEBHOOK_SECRET"],
        events_api_key=env.get(EVENTS_API_KEY, ""),  # "" = POST /aws/events is not mounted
        slack_api_url=env.get("SLACK_API_URL", "https://slack.com/api/"),
        github_api_url=env.get("GITHUB_API_URL", "https://api.github.com"),
        database_url=db,
        teams_urls=teams,
        slack_app_token=env.get("SLACK_APP_TOKEN", ""),
        slack_hooks_url=hooks.rstrip("/"),
    )
