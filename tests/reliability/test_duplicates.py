"""Duplicates of every kind have one effect: Slack retries (same trigger_id), the same X-GitHub-Delivery, the
same SNS MessageId, the same EventBridge id, the same CloudTrail eventID inside different envelopes.

Each test sends the repeats concurrently (the realistic race: a platform retries because we were slow) and
then checks the effects where they land: GitHub dispatches, store rows, chat messages.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from sandbox.signing import block_actions_body, sign_slack, slash_command_body
from sandbox.stack import SANDBOX_SECRETS, Stack, message_text, wait_for
from tests.reliability.helpers import (
    access_denied,
    envelope,
    request_id,
    rows,
    settled,
    snapshot,
    trust_sns_certs_from,
    write_config,
)
from tests.security.conftest import LoopbackTls

API_KEY = SANDBOX_SECRETS["CHATOPS_EVENTS_API_KEY"]
SIGNING = SANDBOX_SECRETS["SLACK_SIGNING_SECRET"]
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
async def world(tmp_path) -> AsyncIterator[tuple[Stack, LoopbackTls]]:
    tls = LoopbackTls(tmp_path)
    await tls.start()
    try:
        async with Stack(database_url=f"sqlite:///{tmp_path}/chatops.db", config_path=write_config(tmp_path),
                         step_delay=0.02) as stack:
            assert stack.app is not None
            trust_sns_certs_from(stack.app, tls.client_ctx)
            yield stack, tls
    finally:
        await tls.stop()


def cards_mentioning(stack: Stack, channel: str, needle: str) -> list[Any]:
    return [m for m in stack.card_messages(channel) if needle in message_text(m)]


def posts_mentioning(stack: Stack, channel: str, needle: str) -> list[Any]:
    """Successful chat.postMessage calls into ``channel`` whose content mentions ``needle``."""
    return [c for c in stack.slack.posts(channel) if needle in json.dumps(c.args)]


async def slack_retries(stack: Stack, body: bytes, *, copies: int = 3) -> list[tuple[int, str]]:
    """The original delivery and Slack's retries of it, all at once. Slack signs every retry afresh."""

    async def one(n: int) -> tuple[int, str]:
        headers = {**sign_slack(SIGNING, body, timestamp=int(time.time()) - n), "Content-Type": FORM}
        if n:
            headers.update({"X-Slack-Retry-Num": str(n), "X-Slack-Retry-Reason": "http_timeout"})
        return await stack.post("/slack/events", body, headers)

    return list(await asyncio.gather(*(one(n) for n in range(copies))))


async def test_slack_command_retries_have_one_effect(world: tuple[Stack, LoopbackTls]) -> None:
    stack, _ = world
    body = slash_command_body("/deploy", "api v1.4.2 to staging", "U0DEV", "C0DEPLOYS", trigger_id="13345.1.dup",
                              response_url=stack.slack.response_url("dup-cmd"))
    answers = await slack_retries(stack, body)
    assert [s for s, _ in answers] == [200, 200, 200]
    firsts = [t for _, t in answers if "Request" in t]
    assert len(firsts) == 1, answers
    assert sum("Already received" in t for _, t in answers) == 2, answers
    rid = request_id(json.loads(firsts[0]))
    await wait_for(lambda: any("succeeded" in message_text(m) for m in cards_mentioning(stack, "C0DEPLOYS", rid)),
                   what="card shows success")
    await settled(stack)
    assert [d.inputs["request_id"] for d in stack.github.dispatches] == [rid]
    assert len(await rows(stack, "SELECT id FROM requests")) == 1
    audit = await rows(stack, "SELECT action, result FROM audit")
    assert [(a["action"], a["result"]) for a in audit] == [("deploy", "ok")]
    assert len(cards_mentioning(stack, "C0DEPLOYS", rid)) == 1
    assert len(posts_mentioning(stack, "C0DEPLOYS", rid)) == 1


async def test_slack_click_retries_have_one_effect(world: tuple[Stack, LoopbackTls]) -> None:
    stack, _ = world
    _, answer = await stack.command("U0DEV", "web v1.4.2 to production")
    rid = request_id(answer)
    await wait_for(lambda: any("Approve" in message_text(m) for m in cards_mentioning(stack, "C0APPROVALS", rid)),
                   what="approval card")
    card = cards_mentioning(stack, "C0APPROVALS", rid)[0]
    body = block_actions_body("approve", rid, "U0LEAD", "C0APPROVALS", card.ts, trigger_id="13345.2.dup",
                              action_ts="1700000001.000200", response_url=stack.slack.response_url("dup-click"))
    answers = await slack_retries(stack, body)
    assert [s for s, _ in answers] == [200, 200, 200]
    await wait_for(lambda: "succeeded" in message_text(cards_mentioning(stack, "C0APPROVALS", rid)[0]),
                   what="approved card shows success")
    await settled(stack)
    assert [d.inputs["request_id"] for d in stack.github.dispatches] == [rid]
    approvals = await rows(stack, "SELECT person, decision FROM approvals WHERE request_id = ?", rid)
    assert [(a["person"], a["decision"]) for a in approvals] == [("lead", "approve")]
    audit = await rows(stack, "SELECT actor, action, result FROM audit WHERE action = 'approve'")
    assert [(a["actor"], a["result"]) for a in audit] == [("lead", "ok")]
    assert len(stack.slack.responses("dup-click")) == 1, stack.slack.responses("dup-click")
    for channel in ("C0APPROVALS", "C0DEPLOYS"):
        assert len(cards_mentioning(stack, channel, rid)) == 1, channel
        assert len(posts_mentioning(stack, channel, rid)) == 1, channel


async def test_the_same_github_delivery_has_one_effect(world: tuple[Stack, LoopbackTls]) -> None:
    stack, _ = world
    _, answer = await stack.command("U0DEV", "worker v1.4.2 to dev")
    rid = request_id(answer)
    await wait_for(lambda: any("succeeded" in message_text(m) for m in cards_mentioning(stack, "C0DEPLOYS", rid)),
                   what="card shows success")
    await stack.github.wait_idle()
    await settled(stack)
    deliveries = [d for d in stack.github.deliveries if not d.redelivery]
    assert deliveries and all(d.status == 202 for d in deliveries), [(d.event, d.status) for d in deliveries]
    before, calls_before = await snapshot(stack), len(stack.slack.calls)

    # GitHub's "Redeliver", twice at once, for every delivery the run produced
    again = await asyncio.gather(*(stack.github.redeliver(d.delivery_id) for d in deliveries for _ in range(2)))
    assert all(d.status == 200 and "duplicate" in d.response for d in again), [(d.status, d.response) for d in again]
    await asyncio.sleep(0.5)
    await settled(stack)
    assert await snapshot(stack) == before
    assert len(stack.slack.calls) == calls_before, "a redelivery changed a chat message"

    # a new delivery id arriving three times at once is recorded once
    last = deliveries[-1]
    fresh = await asyncio.gather(*(stack.github.send_webhook(last.event, last.payload, "fresh-delivery-1")
                                   for _ in range(3)))
    assert sorted(d.status for d in fresh) == [200, 200, 202], [(d.status, d.response) for d in fresh]
    inbox = await rows(stack, "SELECT key FROM inbox WHERE key = 'gh:fresh-delivery-1'")
    assert len(inbox) == 1
    await settled(stack)
    assert [d.inputs["request_id"] for d in stack.github.dispatches] == [rid]
    assert len(await rows(stack, "SELECT id FROM deployments")) == 1
    assert len(posts_mentioning(stack, "C0DEPLOYS", rid)) == 1


async def alert_state(stack: Stack) -> tuple[list[Any], list[Any], dict[str, int]]:
    alerts = await rows(stack, "SELECT id, rule_id, event_count FROM security_alerts")
    events = await rows(stack, "SELECT event_id, alert_id FROM security_events")
    counters = {r["name"]: int(r["n"]) for r in await rows(stack, "SELECT name, n FROM security_counters")}
    return alerts, events, counters


async def test_the_same_sns_message_id_has_one_effect(world: tuple[Stack, LoopbackTls]) -> None:
    stack, tls = world
    record = access_denied(user="sns-dup")
    msg = tls.notification(json.dumps(envelope(record)))
    headers = {"Content-Type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": "Notification"}
    raw = json.dumps(msg).encode()
    answers = await asyncio.gather(*(stack.post("/aws/sns", raw, headers) for _ in range(3)))
    assert [s for s, _ in answers] == [200, 200, 200], answers
    assert sorted(json.loads(t)["duplicate"] for _, t in answers) == [False, True, True]
    assert (await stack.post("/aws/sns", raw, headers))[0] == 200  # and once more, later
    await settled(stack)
    inbox = await rows(stack, "SELECT key FROM inbox WHERE source = 'security'")
    assert [r["key"] for r in inbox] == [f"sns:{msg['MessageId']}"]
    alerts, events, _ = await alert_state(stack)
    assert [(a["rule_id"], a["event_count"]) for a in alerts] == [("access-denied", 1)]
    assert [e["event_id"] for e in events] == [record["eventID"]]
    await wait_for(lambda: posts_mentioning(stack, "C0SECURITY", alerts[0]["id"]), what="alert card")
    await asyncio.sleep(0.3)
    assert len(posts_mentioning(stack, "C0SECURITY", alerts[0]["id"])) == 1


async def test_the_same_eventbridge_id_has_one_effect(world: tuple[Stack, LoopbackTls]) -> None:
    stack, _ = world
    event = envelope(access_denied(user="eb-dup"), envelope_id="6f3b1b0c-eb-dup")
    raw = json.dumps(event).encode()
    headers = {"x-api-key": API_KEY, "Content-Type": "application/json"}
    answers = await asyncio.gather(*(stack.post("/aws/events", raw, headers) for _ in range(3)))
    assert [s for s, _ in answers] == [200, 200, 200], answers
    assert sorted(json.loads(t)["duplicate"] for _, t in answers) == [False, True, True]
    await settled(stack)
    inbox = await rows(stack, "SELECT key FROM inbox WHERE source = 'security'")
    assert [r["key"] for r in inbox] == ["eventbridge:6f3b1b0c-eb-dup"]
    alerts, events, _ = await alert_state(stack)
    assert [(a["rule_id"], a["event_count"]) for a in alerts] == [("access-denied", 1)]
    assert len(events) == 1
    await wait_for(lambda: posts_mentioning(stack, "C0SECURITY", alerts[0]["id"]), what="alert card")
    await asyncio.sleep(0.3)
    assert len(posts_mentioning(stack, "C0SECURITY", alerts[0]["id"])) == 1


async def test_the_same_cloudtrail_event_id_in_different_envelopes_has_one_effect(
    world: tuple[Stack, LoopbackTls],
) -> None:
    stack, tls = world
    record = access_denied(user="ct-dup")
    headers = {"x-api-key": API_KEY, "Content-Type": "application/json"}
    # three EventBridge envelopes (different ids), the raw record, a CloudTrail log file, and SNS, all at once
    bodies = [envelope(record) for _ in range(3)] + [record, {"Records": [record]}]
    sns = tls.notification(json.dumps(envelope(record)))
    answers = await asyncio.gather(
        *(stack.post("/aws/events", json.dumps(b).encode(), headers) for b in bodies),
        stack.post("/aws/sns", json.dumps(sns).encode(), {"Content-Type": "text/plain"}),
    )
    assert [s for s, _ in answers] == [200] * 6, answers
    await settled(stack)
    # 3 envelopes + SNS; the raw record and the log file share the key made of their eventIDs
    assert len(await rows(stack, "SELECT key FROM inbox WHERE source = 'security'")) == 5
    alerts, events, counters = await alert_state(stack)
    assert [e["event_id"] for e in events] == [record["eventID"]]
    assert [(a["rule_id"], a["event_count"]) for a in alerts] == [("access-denied", 1)]
    assert counters.get("events") == 1
    await wait_for(lambda: posts_mentioning(stack, "C0SECURITY", alerts[0]["id"]), what="alert card")
    await asyncio.sleep(0.6)  # longer than card_update_interval: a spurious update would have happened
    await settled(stack)
    assert len(posts_mentioning(stack, "C0SECURITY", alerts[0]["id"])) == 1
    card = cards_mentioning(stack, "C0SECURITY", alerts[0]["id"])
    assert len(card) == 1 and "*Events*\n1" in message_text(card[0]), message_text(card[0])
    # later, the same event once more, in a new envelope: still one event, one card, count unchanged
    assert (await stack.post("/aws/events", json.dumps(envelope(record)).encode(), headers))[0] == 200
    await settled(stack)
    alerts2, events2, _ = await alert_state(stack)
    assert [(a["id"], a["event_count"]) for a in alerts2] == [(alerts[0]["id"], 1)]
    assert len(events2) == 1
    assert Counter(c.args.get("channel") for c in stack.slack.posts())["C0SECURITY"] == 1
