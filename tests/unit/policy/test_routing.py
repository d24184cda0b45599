"""Routing: which destinations an event goes to."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.config import Config, load_config, parse_config
from bot.delivery.routing import Target, route
from bot.domain import Destination, Event, Platform

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "chatops.yml"
ENV = {"TEAMS_OPS_WEBHOOK_URL": "https://example.invalid/hook", "TEAMS_SEC_URL": "https://example.invalid/sec"}
CONFIG: Config = load_config(EXAMPLE, env=ENV)

DEPLOYS = Destination(Platform.SLACK, "C0DEPLOYS")
APPROVALS = Destination(Platform.SLACK, "C0APPROVALS")
SECURITY = Destination(Platform.SLACK, "C0SECURITY")
OPS = Destination(Platform.TEAMS, "ops")
SEC = Destination(Platform.TEAMS, "sec")


def config_with_routes(routes: list[dict[str, object]]) -> Config:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["teams"]["webhooks"]["sec"] = {"url_env": "TEAMS_SEC_URL"}
    data["routes"] = routes
    return parse_config(data, env=ENV)


def test_example_routes_by_kind() -> None:
    assert route(CONFIG, Event(kind="deployment", service="api", environment="staging")) == [
        Target(DEPLOYS, ""), Target(OPS, "")
    ]
    assert route(CONFIG, Event(kind="rollback")) == [Target(DEPLOYS, ""), Target(OPS, "")]
    assert route(CONFIG, Event(kind="failure", outcome="failure")) == [Target(DEPLOYS, "here"), Target(OPS, "here")]
    assert route(CONFIG, Event(kind="security", severity="high")) == [Target(SECURITY, ""), Target(OPS, "")]
    assert route(CONFIG, Event(kind="approval")) == []


def test_filters_by_service_environment_branch_outcome() -> None:
    config = config_with_routes([
        {"when": {"service": ["api"]}, "to": ["slack:deploys"]},
        {"when": {"environment": ["production"]}, "to": ["slack:approvals"]},
        {"when": {"branch": ["main"]}, "to": ["teams:ops"]},
        {"when": {"outcome": ["failure", "cancelled"]}, "to": ["teams:sec"]},
        {"when": {"kind": ["deployment"], "service": ["web"], "environment": ["production"]}, "to": ["slack:security"]},
    ])

    def dests(**kw: str) -> set[Destination]:
        return {t.destination for t in route(config, Event(kind=kw.pop("kind", "deployment"), **kw))}

    assert dests(service="api") == {DEPLOYS}
    assert dests(service="web") == set()
    assert dests(environment="production") == {APPROVALS}
    assert dests(environment="staging") == set()
    assert dests(branch="main") == {OPS}
    assert dests(branch="feature/x") == set()
    assert dests(outcome="failure") == {SEC}
    assert dests(outcome="cancelled") == {SEC}
    assert dests(outcome="success") == set()
    assert dests(outcome="") == set()
    # every filter of a route must match
    assert dests(service="web", environment="production") == {APPROVALS, SECURITY}
    assert dests(kind="rollback", service="web", environment="production") == {APPROVALS}
    assert dests(service="api", environment="production", branch="main", outcome="failure") == {
        DEPLOYS, APPROVALS, OPS, SEC
    }


def test_a_destination_named_by_several_routes_appears_once_with_the_mention() -> None:
    config = config_with_routes([
        {"when": {"kind": ["failure"]}, "to": ["slack:deploys", "teams:ops"]},
        {"when": {"kind": ["failure"], "environment": ["production"]}, "to": ["slack:deploys"], "mention": "channel"},
        {"when": {"kind": ["failure"]}, "to": ["slack:deploys", "slack:deploys"]},
    ])
    targets = route(config, Event(kind="failure", environment="production"))
    assert targets == [Target(DEPLOYS, "channel"), Target(OPS, "")]
    assert route(config, Event(kind="failure", environment="staging")) == [Target(DEPLOYS, ""), Target(OPS, "")]


def test_a_mention_is_not_dropped_by_a_later_route_without_one() -> None:
    config = config_with_routes([
        {"when": {"kind": ["failure"]}, "to": ["slack:deploys"], "mention": "here"},
        {"when": {"kind": ["failure"]}, "to": ["slack:deploys"]},
    ])
    assert route(config, Event(kind="failure")) == [Target(DEPLOYS, "here")]


def test_a_route_without_filters_matches_everything() -> None:
    config = config_with_routes([{"to": ["slack:deploys"]}])
    for kind in ("deployment", "rollback", "failure", "security", "approval"):
        assert route(config, Event(kind=kind)) == [Target(DEPLOYS, "")]
