"""Issue 25 item 5: a high or critical alert not acknowledged within security.escalate_after is re-posted with
@channel (Slack) / the channel mention (Teams) and triggered in PagerDuty; resolving it in chat resolves it there.
Each exactly once.

Signed EventBridge events and signed Slack clicks through the composed app; the bot's injectable clock is moved
forward (no sleeping through the timeout); the Slack, Teams and PagerDuty fakes observe what arrived.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.alerts.pagerduty import dedup_key, pagerduty_settings
from bot.config import parse_config
from bot.errors import ConfigError
from chatops.app import STORE
from sandbox.pagerduty_fake import PagerDutyFake
from sandbox.stack import SANDBOX_SECRETS, Stack, message_text, wait_for
from tests.scenario.test_github_flow import write_config

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cloudtrail"
HEADERS = {"x-api-key": SANDBOX_SECRETS["CHATOPS_EVENTS_API_KEY"], "Content-Type": "application/json"}


def root_sign_in(event_id: str) -> bytes:
    """A root console sign-in (AWS's published record): rule root-activity, critical."""
    record = json.loads((FIXTURES / "console-login.root-no-mfa.awsdocs.json").read_text())
    record["eventID"] = f"ct-{event_id}"
    return json.dumps({"version": "0", "id": event_id, "detail-type": "AWS Console Sign In via CloudTrail",
                       "source": "aws.signin", "account": "123456789012", "time": record["eventTime"],
                       "region": "us-east-1", "resources": [], "detail": record}).encode()


@dataclass
class World:
    stack: Stack
    pd: PagerDutyFake
    offset: list[timedelta]

    def advance(self, minutes: float) -> None:
        self.offset[0] += timedelta(minutes=minutes)

    def escalations(self) -> list[Any]:
        return [m for m in self.stack.card_messages("C0SECURITY") if "Escalated:" in message_text(m)]

    async def open_alert(self, event_id: str) -> str:
        before = len(self.stack.card_messages("C0SECURITY"))
        status, text = await self.stack.post("/aws/events", root_sign_in(event_id), HEADERS)
        assert status < 300, text
        await wait_for(lambda: len(self.stack.card_messages("C0SECURITY")) > before, what="alert card")
        card = self.stack.card_messages("C0SECURITY")[-1]
        return str(next(el["value"] for b in card.blocks if b["type"] == "actions" for el in b["elements"]
                        if el["action_id"] == "sec_resolve"))

    async def click(self, action: str, alert_id: str, key: str) -> str:
        await self.stack.click("U0SRE", action, alert_id, channel="C0SECURITY", key=key)
        await wait_for(lambda: bool(self.stack.slack.responses(key)), what=f"answer to {key}")
        return str(self.stack.slack.responses(key)[-1].get("text", ""))


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    offset = [timedelta(0)]
    async with PagerDutyFake() as pd:
        config = write_config(tmp_path, **{"security.escalate_after": "5m",
                                           "pagerduty": {"routing_key_env": "PAGERDUTY_ROUTING_KEY"}})
        stack = Stack(database_url=f"sqlite:///{tmp_path}/bot.db", config_path=config, extra_env=pd.env(),
                      clock=lambda: datetime.now(UTC) + offset[0])
        async with stack:
            yield World(stack, pd, offset)


async def test_escalation_after_the_timeout_pages_once_and_resolves_once(world: World) -> None:
    alert_id = await world.open_alert("e-root-1")
    world.advance(4)  # before escalate_after: nothing
    await asyncio.sleep(0.6)
    assert world.escalations() == [] and world.pd.events == []

    world.advance(2)  # 6 minutes after the alert opened, still not acknowledged
    await wait_for(lambda: len(world.escalations()) == 1, what="escalation re-post")
    (escalated,) = world.escalations()
    assert message_text(escalated).startswith("<!channel>")  # Slack's @channel, from the bot only
    assert alert_id in message_text(escalated)
    await wait_for(lambda: world.pd.actions(dedup_key(alert_id)) == ["trigger"], what="PagerDuty trigger")
    trigger = world.pd.events[0]
    assert trigger["payload"]["severity"] == "critical" and trigger["routing_key"] == world.pd.routing_key
    teams = [json.dumps(c) for c in world.stack.teams.cards("ops")]
    assert any("Escalated:" in c and "@channel" in c for c in teams), "Teams gets the channel mention too"

    world.advance(10)  # time goes on: no second escalation, no second trigger
    await asyncio.sleep(0.6)
    assert len(world.escalations()) == 1 and world.pd.actions(dedup_key(alert_id)) == ["trigger"]

    assert await world.click("sec_resolve", alert_id, "sre-resolve") == f"Resolved {alert_id}."
    await wait_for(lambda: world.pd.actions(dedup_key(alert_id)) == ["trigger", "resolve"], what="PD resolve")
    await wait_for(lambda: "Resolved by sre" in message_text(world.escalations()[0]), what="re-post updated")
    assert "<!channel>" not in message_text(world.escalations()[0])  # the mention goes once it is handled
    assert await world.click("sec_resolve", alert_id, "sre-resolve-again") != f"Resolved {alert_id}."
    await asyncio.sleep(0.6)
    assert world.pd.actions(dedup_key(alert_id)) == ["trigger", "resolve"]
    assert world.pd.alerts[dedup_key(alert_id)] == "resolved"


async def test_an_acknowledged_alert_is_not_escalated(world: World) -> None:
    alert_id = await world.open_alert("e-root-2")
    assert await world.click("sec_ack", alert_id, "sre-ack") == f"Acknowledged {alert_id}."
    world.advance(30)
    await asyncio.sleep(0.8)
    assert world.escalations() == [] and world.pd.events == []


async def test_a_throttled_trigger_is_retried_and_still_sent_once(world: World) -> None:
    world.pd.throttle_next = 2  # PagerDuty answers 429 twice
    alert_id = await world.open_alert("e-root-3")
    world.advance(6)
    await wait_for(lambda: len(world.escalations()) == 1, what="escalation re-post")
    for _ in range(200):  # move the bot's clock past each backoff until the sender has had its three tries
        if world.pd.actions(dedup_key(alert_id)) == ["trigger"]:
            break
        world.advance(1)
        await asyncio.sleep(0.05)
    await wait_for(lambda: world.pd.actions(dedup_key(alert_id)) == ["trigger"], what="trigger after 429s")
    assert world.stack.app is not None
    # the sender records the answer after PagerDuty gave it: the fake can hold the trigger a moment before the row
    # says "sent" (a fresh-clone run read the row in between: pending, 2 attempts)
    row = None
    for _ in range(100):
        async with world.stack.app[STORE].unit() as u:
            row = await u.c.fetchrow("SELECT state, attempts FROM pagerduty_events WHERE key = ?",
                                     f"pd:{alert_id}:trigger")
        if row is not None and row["state"] != "pending":
            break
        await asyncio.sleep(0.05)
    assert row is not None and (row["state"], row["attempts"]) == ("sent", 3)


def test_check_config_keeps_the_routing_key_out_of_yaml() -> None:
    base = parse_config({"github": {"repository": "acme/app"}, "slack": {"team_id": "T0SANDBOX", "channels": {}},
                         "people": {}, "environments": {}, "services": {}, "routes": [],
                         "pagerduty": {"routing_key": "abc"}}, env={})
    with pytest.raises(ConfigError) as exc:
        pagerduty_settings(base, {})
    assert any(p.startswith("pagerduty.routing_key:") and "secret" in p for p in exc.value.problems)
    ok = parse_config({"github": {"repository": "acme/app"}, "slack": {"team_id": "T0SANDBOX", "channels": {}},
                       "people": {}, "environments": {}, "services": {}, "routes": [],
                       "pagerduty": {"routing_key_env": "PD_KEY"}}, env={})
    with pytest.raises(ConfigError) as exc:
        pagerduty_settings(ok, {"PD_KEY": "short"})
    assert exc.value.problems == ["env PD_KEY: must be the 32-character Events API v2 integration key"]
    assert pagerduty_settings(ok, {"PD_KEY": "x" * 32}) is not None
    assert "x" * 32 not in repr(pagerduty_settings(ok, {"PD_KEY": "x" * 32}))
