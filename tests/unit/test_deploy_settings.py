"""Issue 25's deploy keys: promote_from, deploy_notes, emergency and grafana are validated with their key paths
(through bot.runtime.validate, the one validation serve, check-config and reload share)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import parse_config
from bot.deploys.settings import deploy_settings, promotion_target, skips_approval
from bot.errors import ConfigError
from bot.runtime.validate import settings_problems

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "chatops.yml"
ENV = {"TEAMS_OPS_WEBHOOK_URL": "https://example.webhook.office.com/workflows/ops"}


def data(**changes: Any) -> dict[str, Any]:
    d: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    for dotted, value in changes.items():
        node = d
        *parents, last = dotted.split(".")
        for p in parents:
            node = node[p]
        node[last] = value
    return d


def problems(**changes: Any) -> list[str]:
    try:
        parse_config(data(**changes), env=ENV)
    except ConfigError as exc:
        return exc.problems
    return []


def test_promote_from_is_parsed_and_offers_the_promote_target() -> None:
    config = parse_config(data(**{"environments.production.promote_from": "staging"}), env=ENV)
    assert config.environments["production"].promote_from == "staging"
    assert config.environments["production"].deploy_notes and not config.environments["staging"].deploy_notes
    assert promotion_target(config, "api", "staging") == "production"
    assert promotion_target(config, "api", "production") == ""


@pytest.mark.parametrize(("changes", "expected"), [
    ({"environments.production.promote_from": "qa"}, "environments.production.promote_from: 'qa' is not defined"),
    ({"environments.production.promote_from": "production"}, "cannot promote from itself"),
    ({"environments.production.promote_from": "staging", "environments.staging.promote_from": "production"},
     "round in a circle"),
    ({"environments.production.promote_from": "staging", "services.api.environments": ["production"]},
     "services.api.environments: production takes only commits that succeeded in staging"),
    ({"environments.production.deploy_notes": "yes"}, "environments.production.deploy_notes: must be true or false"),
])
def test_promotion_keys_are_validated(changes: dict[str, Any], expected: str) -> None:
    assert any(expected in p for p in problems(**changes)), problems(**changes)


def test_emergency_and_grafana_are_validated_with_their_keys() -> None:
    bad = parse_config(data(emergency={"skip_approval": "yes", "colour": 1},
                            grafana={"url": "http://grafana.example.com", "token": "x", "tags": ["a b"]}), env=ENV)
    found = settings_problems(bad, {**ENV, "SLACK_BOT_TOKEN": "x"})
    for expected in ("emergency.skip_approval: must be true or false", "emergency.colour: unknown key",
                     "grafana.url: must be an https URL", "grafana.token: is a secret",
                     "env GRAFANA_TOKEN: is not set", "grafana.tags: must be a list"):
        assert any(expected in p for p in found), (expected, found)
    good = parse_config(data(emergency={"skip_approval": True},
                             grafana={"url": "https://grafana.example.com/", "dashboard_uid": "abc"}), env=ENV)
    settings = deploy_settings(good, {"GRAFANA_TOKEN": "glsa_x"})
    assert settings.emergency_skip_approval and skips_approval(good)
    assert settings.grafana is not None and settings.grafana.url == "https://grafana.example.com"
    assert "glsa_x" not in repr(settings.grafana)
