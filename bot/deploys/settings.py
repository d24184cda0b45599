"""Issue 25's deploy settings, read from the config's raw YAML (like ``bot.delivery.settings``): ``emergency`` and
``grafana``. Every problem names its key; ``check-config``, start-up and reload report them all at once
(``bot.runtime.validate``). ``environments.<env>.promote_from`` and ``deploy_notes`` are parsed with their environment
(``bot.config``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot import config_model as model
from bot.config import Config
from bot.errors import ConfigError

_ENV_NAME = re.compile(model.ENV_VAR_NAME)
_UID = re.compile(model.GRAFANA_UID)  # Grafana dashboard UIDs: at most 40 characters
_TAG = re.compile(model.GRAFANA_TAG)
EMERGENCY_KEYS = model.keys(model.Emergency)
GRAFANA_KEYS = model.keys(model.Grafana)


@dataclass(frozen=True, slots=True)
class Grafana:
    url: str  # the Grafana base URL; annotations go to {url}/api/annotations
    token: str  # a service account token (secret, from the environment; sent as a Bearer token)
    dashboard_uid: str = ""  # "" = an organization-wide annotation
    tags: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"Grafana({self.url!r}, <hidden>, dashboard_uid={self.dashboard_uid!r}, tags={self.tags!r})"


@dataclass(frozen=True, slots=True)
class DeploySettings:
    emergency_skip_approval: bool = False  # emergency.skip_approval: an emergency deploy needs no approval
    grafana: Grafana | None = None


def _emergency(spec: Any, problems: list[str]) -> bool:
    if spec is None:
        return False
    if not isinstance(spec, dict):
        problems.append("emergency: must be a mapping like {skip_approval: false}")
        return False
    problems += [f"emergency.{k}: unknown key (known: {', '.join(EMERGENCY_KEYS)})" for k in spec
                 if k not in EMERGENCY_KEYS]
    skip = spec.get("skip_approval", False)
    if not isinstance(skip, bool):
        problems.append("emergency.skip_approval: must be true or false")
        return False
    return skip


def _grafana(spec: Any, env: Mapping[str, str], problems: list[str]) -> Grafana | None:
    if spec is None:
        return None
    if not isinstance(spec, dict):
        problems.append("grafana: must be a mapping with url and token_env")
        return None
    problems += [f"grafana.{k}: unknown key (known: {', '.join(GRAFANA_KEYS)})" for k in spec
                 if k not in (*GRAFANA_KEYS, "token")]
    if "token" in spec:
        problems.append("grafana.token: is a secret and does not belong in the config file; set it in the "
                        "environment and name the variable in grafana.token_env")
    url = spec.get("url")
    if not isinstance(url, str) or not url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        problems.append("grafana.url: must be an https URL like https://grafana.example.com (only loopback may be "
                        "http)")
        url = ""
    name = spec.get("token_env", "GRAFANA_TOKEN")
    token = ""
    if not isinstance(name, str) or not _ENV_NAME.match(name):
        problems.append("grafana.token_env: must be an environment variable name like GRAFANA_TOKEN")
    else:
        token = env.get(name, "")
        if not token:
            problems.append(f"env {name}: is not set (grafana.token_env)")
    uid = spec.get("dashboard_uid", "")
    if uid and (not isinstance(uid, str) or not _UID.match(uid)):
        problems.append("grafana.dashboard_uid: must be a dashboard UID (letters, digits, '-', '_'; at most 40)")
        uid = ""
    raw_tags = spec.get("tags", [])
    tags: tuple[str, ...] = ()
    if not isinstance(raw_tags, list) or not all(isinstance(t, str) and _TAG.match(t) for t in raw_tags):
        problems.append("grafana.tags: must be a list of short words (no spaces or commas)")
    else:
        tags = tuple(raw_tags)
    return Grafana(url.rstrip("/"), token, str(uid), tags) if url and token else None


def deploy_settings(config: Config, env: Mapping[str, str]) -> DeploySettings:
    """``emergency`` and ``grafana``. Raises ConfigError naming every problem."""
    problems: list[str] = []
    skip = _emergency(config.raw.get("emergency"), problems)
    grafana = _grafana(config.raw.get("grafana"), env, problems)
    if problems:
        raise ConfigError(problems)
    return DeploySettings(skip, grafana)


def skips_approval(config: Config) -> bool:
    """``emergency.skip_approval`` (validated at start-up; anything but ``true`` keeps four eyes)."""
    spec = config.raw.get("emergency")
    return isinstance(spec, dict) and spec.get("skip_approval") is True


def promotion_target(config: Config, service: str, environment: str) -> str:
    """The environment a commit that succeeded in ``environment`` is promoted to (its **Promote** button): the
    first of ``service``'s environments whose ``promote_from`` names ``environment`` ("" = none)."""
    svc = config.services.get(service)
    for name in svc.environments if svc is not None else ():
        env = config.environments.get(name)
        if env is not None and env.promote_from == environment:
            return name
    return ""
