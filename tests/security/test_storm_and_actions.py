"""Aggregation under a storm, card update bounds, and the Acknowledge / Assign / Resolve buttons."""

from __future__ import annotations

import copy
import json
from typing import Any

from bot.alerts.actions import handle_alert_action
from bot.alerts.store_ops import get_alert
from bot.alerts.worker import SecurityWorker, record_raw
from bot.config import Config
from bot.domain import Actor, Card, Platform
from bot.store.store import Store
from tests.security.conftest import envelope, load, make_config


class Clock:
    def __init__(self) -> None:
        self.t = 1_700_000_000.0

    def __call__(self) -> float:
        return self.t


def denied(i: int, *, user: str = "test-user") -> dict[str, Any]:
    r = copy.deepcopy(load("access-denied.states-DeleteStateMachine.awsdocs.json"))
    r["eventID"] = f"storm-{user}-{i:05d}"
    r["userIdentity"]["arn"] = f"arn:aws:iam::123456789012:user/{user}"
    r["eventTime"] = f"2016-10-28T01:{17 + i // 6000:02d}:{(i // 100) % 60:02d}Z"
    r["sourceIPAddress"] = f"10.0.{i % 3}.1"
    return r


async def feed(store: Store, records: list[dict[str, Any]]) -> None:
    async with store.unit() as u:
        for r in records:
            env = envelope(r, event_id=f"eb-{r['eventID']}")
            await record_raw(u, key=f"eventbridge:{env['id']}", kind="eventbridge", body=json.dumps(env))


async def card_rows(store: Store) -> list[dict[str, Any]]:
    async with store.unit() as u:
        return await u.c.fetch("SELECT id, key, card_key, payload, state FROM outbox WHERE op = 'card' ORDER BY id")


async def deliver_all(store: Store) -> list[Card]:
    """What the outbox worker does, minus the HTTP: claim due messages, send the newest of each card."""
    sent: list[Card] = []
    while True:  # the outbox claims the head of each channel per round
        async with store.unit() as u:
            heads = await u.outbox_due(limit=10_000, lease_s=0.0)
            if not heads:
                return sent
            for m in heads:
                if await u.newer_pending_card(m):
                    await u.supersede_older(m)  # coalesced: a newer update of the same card will be sent instead
                    continue
                sent.append(m.card)
                await u.outbox_done(m.id, supersede_card=True)


def fact(card: Card, label: str) -> str:
    return next(f.value for f in card.facts if f.label == label)


async def test_storm_of_10000_from_one_principal_is_one_alert(store: Store, config: Config) -> None:
    clock = Clock()
    worker = SecurityWorker(store, config, clock=clock)
    await feed(store, [denied(i) for i in range(10_000)])
    enqueued_per_second: list[int] = []
    while True:
        before = len(await card_rows(store))
        n = await worker.run_once()
        enqueued_per_second.append(len(await card_rows(store)) - before)
        clock.t += 0.25  # four batches per simulated second
        if n == 0:
            break
    clock.t += 2
    await worker.run_once()  # flush the last dirty update
    async with store.unit() as u:
        rows = await u.c.fetch("SELECT id, event_count FROM security_alerts")
        stored = await u.c.fetchrow("SELECT COUNT(*) AS n FROM security_events")
    assert [r["event_count"] for r in rows] == [10_000]
    assert stored is not None and stored["n"] == 10_000
    cards = await card_rows(store)
    # one post + at most one update per simulated second (20 batches of 500 at 4/s -> ~6 s) + final flush
    assert 2 <= len(cards) <= 1 + 7 + 1
    assert all(sum(enqueued_per_second[i:i + 4]) <= 2 for i in range(0, len(enqueued_per_second), 4))
    sent = await deliver_all(store)
    assert len(sent) == 1  # everything pending coalesces into the newest card
    assert fact(sent[-1], "Events") == "10000"
    assert fact(sent[-1], "Source IPs") == "10.0.0.1, 10.0.1.1, 10.0.2.1"
    assert sent[-1].mention == ""  # medium: no mention

    # the same 10,000 re-sent (same eventIDs) change nothing
    async with store.unit() as u:
        for i in range(0, 10_000, 7):
            r = denied(i)
            env = envelope(r, event_id=f"resend-{i}")
            await record_raw(u, key=f"eventbridge:{env['id']}", kind="eventbridge", body=json.dumps(env))
    while await worker.run_once():
        clock.t += 5
    async with store.unit() as u:
        rows = await u.c.fetch("SELECT event_count FROM security_alerts")
    assert [r["event_count"] for r in rows] == [10_000]


async def test_three_principals_three_cards(store: Store, config: Config) -> None:
    clock = Clock()
    await feed(store, [denied(i, user=u) for u in ("ann", "ben", "cid") for i in range(300)])
    worker = SecurityWorker(store, config, clock=clock)
    while await worker.run_once():
        clock.t += 2
    sent = await deliver_all(store)
    assert sorted(c.title for c in sent) == [f"Access denied: arn:aws:iam::123456789012:user/{u}"
                                             for u in ("ann", "ben", "cid")]
    assert {fact(c, "Events") for c in sent} == {"300"}


def actor(slack_id: str, person: str | None) -> Actor:
    return Actor(platform=Platform.SLACK, platform_id=slack_id, person=person, channel="C0SECURITY")


async def test_buttons_ack_assign_resolve(store: Store) -> None:
    config = make_config(responders=["alice", "bob"])
    await feed(store, [load("stop-logging.panther-analysis.json")])
    await SecurityWorker(store, config).run_once()
    first = (await deliver_all(store))[0]
    assert first.mention == "here" and first.status == "Open"
    alert_id = first.buttons[0].value
    assert [b.action_id for b in first.buttons] == ["sec_ack", "sec_assign", "sec_resolve"]
    assert fact(first, "Issuer").startswith("arn:aws:iam::123456789012:role/tester")
    assert "StopLogging" in first.text and fact(first, "Regions") == "us-west-2"

    text = await handle_alert_action(store, config, action_id="sec_ack", alert_id=alert_id,
                                     actor=actor("U0ALICE", "alice"))
    assert text == f"Acknowledged {alert_id}."
    again = await handle_alert_action(store, config, action_id="sec_ack", alert_id=alert_id,
                                      actor=actor("U0BOB", "bob"))
    assert "already acknowledged (by alice)" in again
    await handle_alert_action(store, config, action_id="sec_assign", alert_id=alert_id, actor=actor("U0BOB", "bob"))
    card = (await deliver_all(store))[-1]
    assert card.status == "Acknowledged by alice" and fact(card, "Assigned to") == "bob"
    assert [b.action_id for b in card.buttons] == ["sec_assign", "sec_resolve"]

    denied_text = await handle_alert_action(store, config, action_id="sec_resolve", alert_id=alert_id,
                                            actor=actor("U0EVE", None))
    assert "not in the people list" in denied_text
    await handle_alert_action(store, config, action_id="sec_resolve", alert_id=alert_id, actor=actor("U0BOB", "bob"))
    card = (await deliver_all(store))[-1]
    assert card.status == "Resolved by bob" and card.buttons == () and card.tone == "good"
    async with store.unit() as u:
        a = await get_alert(u.c, alert_id)
        log = await u.audit_log()
    assert a is not None and (a.state, a.acked_by, a.assignee, a.resolved_by) == ("resolved", "alice", "bob", "bob")
    assert [(e.action, e.actor, e.result) for e in log] == [
        ("security.ack", "alice", "ok"), ("security.ack", "bob", "noop"), ("security.assign", "bob", "ok"),
        ("security.resolve", "slack:U0EVE", "denied"), ("security.resolve", "bob", "ok"),
    ]
    # a resolved alert is closed: a new event from the same principal opens a new alert
    r = load("stop-logging.panther-analysis.json")
    r["eventID"] = "after-resolve"
    await feed(store, [r])
    await SecurityWorker(store, config).run_once()
    async with store.unit() as u:
        rows = await u.c.fetch("SELECT state FROM security_alerts ORDER BY created_at")
    assert sorted(r["state"] for r in rows) == ["open", "resolved"]
    assert await handle_alert_action(store, config, action_id="sec_ack", alert_id="a-nope",
                                     actor=actor("U0ALICE", "alice")) == "No security alert 'a-nope'."
