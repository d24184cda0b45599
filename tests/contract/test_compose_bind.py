"""Issue 22 item 11 (first half): docker-compose publishes the bot's port on loopback only by default, so
``/metrics`` does not face the network; the documented override is the only way to widen it."""

from __future__ import annotations

import yaml

from tests.contract.conftest import ROOT


def test_the_bot_port_is_published_on_loopback_by_default() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    ports = compose["services"]["bot"]["ports"]
    assert ports == ["${BOT_BIND:-127.0.0.1}:3000:3000"], ports
    assert "ports" not in compose["services"]["db"]
    assert "BOT_BIND" in (ROOT / "docs" / "deploy-container.md").read_text(encoding="utf-8")
