"""The one validation of a config file, used by ``serve``, ``check-config`` and reload (issue 22 item 7): the
config's own sections (``load_config``), the secrets it needs (``load_secrets``), the delivery settings
(metrics, digests, quiet hours, Teams updates), the security section and the deploy settings (emergency,
grafana). Every problem names its key."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import yaml

from bot.alerts.pagerduty import pagerduty_settings
from bot.alerts.settings import security_settings
from bot.config import Config, load_config
from bot.delivery.settings import delivery_settings
from bot.deploys.auto_settings import auto_deploys
from bot.deploys.settings import deploy_settings
from bot.environment import events_key_problems, load_secrets, secret_problems
from bot.errors import ConfigError


def settings_problems(config: Config, env: Mapping[str, str]) -> list[str]:
    """What is wrong beyond the config's own parse: secrets, security and delivery settings (all of them)."""
    problems: list[str] = []
    for check in (lambda: load_secrets(config, env), lambda: security_settings(config),
                  lambda: delivery_settings(config), lambda: pagerduty_settings(config, env),
                  lambda: deploy_settings(config, env), lambda: auto_deploys(config)):
        try:
            check()
        except ConfigError as exc:
            problems.extend(p for p in exc.problems if p not in problems)
    return problems


def _raw_yaml(path: str | os.PathLike[str]) -> object:
    """The file's YAML as read (None when it cannot be read): enough to tell which secrets it needs."""
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None


def load_valid_config(path: str | os.PathLike[str], env: Mapping[str, str]) -> Config:
    """The config at ``path`` when everything about it is valid; else ``ConfigError`` with every problem."""
    try:
        config = load_config(path, env=env)
    except ConfigError as exc:  # name the missing secrets too, so one run lists every problem
        more = secret_problems(env) + events_key_problems(_raw_yaml(path), env)
        raise ConfigError(exc.problems + [p for p in more if p not in exc.problems], lines=exc.lines) from exc
    problems = settings_problems(config, env)
    if problems:
        raise ConfigError(problems, lines=config.lines)  # each problem's line: bot.config_yaml.located
    return config
