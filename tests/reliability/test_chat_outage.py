"""Chat outages: Slack answering 500 for a while, then back; Slack and Teams rate limits with Retry-After.

After recovery everything is delivered exactly once, each channel in outbox order, each card posted once and
then updated in place with its state never going backwards. Retry-After is checked on the fakes' own recorded
call times, not on the test's clock.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from typing import Any

import pytest

from sandbox.stack import Stack, message_text, wait_for
from tests.reliability.helpers import no_notes_config, request_id, rows, settled


@pytest.fixture
async def stack(tmp_path: Any, sqlite_url: str) -> Any:
    """The example config without deploy notes: these tests count every message a card gets."""
    async with Stack(database_url=sqlite_url, config_path=no_notes_config(tmp_path)) as s:
        yield s

# card status (the fallback text ends with " - <status>") -> how far along the request is
PROGRESS = {"requested": 0, "waiting for approval": 1, "approved, starting": 2, "starting": 3, "queued": 4,
            "in progress": 5, "succeeded": 6}


def status_of(call: Any) -> str:
    text = str(call.args.get("text") or "")
    return text.rsplit(" - ", 1)[1] if " - " in text else ""


async def wait_states(stack: Stack, ids: list[str], states: set[str], *, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        got = {r["id"]: r["state"] for r in await rows(stack, "SELECT id, state FROM requests")}
        if all(got.get(i) in states for i in ids):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"requests not in {states}: {got}")
        await asyncio.sleep(0.05)


async def test_slack_down_then_back_delivers_everything_once_in_order(stack: Stack) -> None:
    stack.slack.down()
    ids = []
    for i, (service, env) in enumerate([("api", "staging"), ("web", "dev"), ("worker", "staging"), ("api", "dev")]):
        status, answer = await stack.command("U0DEV", f"{service} v1.4.2 to {env}", key=f"cmd{i}")
        assert status == 200, answer  # commands are answered while Slack's Web API is down
        ids.append(request_id(answer))
    _, answer = await stack.command("U0DEV", "web v1.4.2 to production", key="cmd-prod")
    prod = request_id(answer)
    await wait_states(stack, [prod], {"pending_approval"})
    status, _ = await stack.click("U0LEAD", "approve", prod, key="click-prod")
    assert status == 200
    await wait_states(stack, [*ids, prod], {"succeeded"})  # GitHub is up: the work goes on during the outage
    await wait_for(lambda: sum(1 for c in stack.slack.calls if c.error == "fatal_error") >= 6, timeout=10,
                   what="the outbox retrying against the outage")
    await asyncio.sleep(1.0)
    failed_during_outage = [c for c in stack.slack.calls if c.error == "fatal_error"]
    assert not any(c.ok for c in stack.slack.calls), "nothing can be delivered while Slack is down"
    assert stack.slack.responses() == []
    stack.slack.up()

    every = [*ids, prod]
    await wait_for(lambda: all(any(rid in message_text(m) and "succeeded" in message_text(m)
                                   for m in stack.card_messages("C0DEPLOYS")) for rid in every),
                   timeout=40, what="every card in #deploys shows success after recovery")
    await wait_for(lambda: any(prod in message_text(m) and "succeeded" in message_text(m)
                               for m in stack.card_messages("C0APPROVALS")), timeout=20, what="approval card")
    await wait_for(lambda: len(stack.slack.responses("click-prod")) == 1, timeout=20, what="click reply")
    await settled(stack, timeout=30)
    await asyncio.sleep(0.3)

    # exactly one card per request per channel, each posted once, then only updated in place
    expected = {("C0DEPLOYS", rid) for rid in every} | {("C0APPROVALS", prod)}
    posts: dict[tuple[str, str], int] = defaultdict(int)
    for c in stack.slack.posts():
        for rid in every:
            if rid in str(c.args.get("blocks")):
                posts[(c.args["channel"], rid)] += 1
    assert dict(posts) == dict.fromkeys(expected, 1)
    assert len(stack.slack.responses("click-prod")) == 1
    assert "Approved" in stack.slack.responses("click-prod")[0]["text"]

    # per card: post first, then updates; the state shown never goes backwards
    by_message: dict[tuple[str, str], list[str]] = defaultdict(list)
    ok_calls = [c for c in stack.slack.calls if c.ok and c.method in ("chat.postMessage", "chat.update")]
    for c in ok_calls:
        ts = c.response.get("ts") if c.method == "chat.postMessage" else c.args.get("ts")
        by_message[(c.args["channel"], str(ts))].append(status_of(c))
    for key, statuses in by_message.items():
        ranks = [PROGRESS[s] for s in statuses]
        assert ranks == sorted(ranks), f"card {key} went backwards: {statuses}"
        assert statuses[-1] == "succeeded", (key, statuses)

    # per channel: delivered in outbox order (sent_at follows id), and one Slack call per sent row
    sent = await rows(stack, "SELECT id, address, sent_at FROM outbox WHERE platform = 'slack' AND state = 'sent' "
                             "ORDER BY id")
    for channel in ("C0DEPLOYS", "C0APPROVALS"):
        times = [r["sent_at"] for r in sent if r["address"] == channel]
        assert times == sorted(times), f"{channel} delivered out of outbox order"
        assert len(times) == sum(1 for c in ok_calls if c.args["channel"] == channel)
    assert await rows(stack, "SELECT id, last_error FROM outbox WHERE state = 'failed'") == []
    # nothing was given up, and nothing was retried more than the outage needed
    assert len(failed_during_outage) < 200


def assert_retry_after_honoured(calls: list[tuple[float, int, float | None]], what: str) -> None:
    """``calls``: (time, status, retry_after) per request to one destination, in order. After a 429, the next
    request to the same destination comes no earlier than Retry-After, and not much later either."""
    limited = [(i, at, ra) for i, (at, status, ra) in enumerate(calls) if status == 429]
    assert limited, f"{what}: no 429 was served"
    for i, at, retry_after in limited:
        assert retry_after is not None
        assert i + 1 < len(calls), f"{what}: nothing was retried after the 429"
        gap = calls[i + 1][0] - at
        assert gap >= retry_after, f"{what}: retried {gap:.3f}s after a 429 with Retry-After {retry_after}"
        assert gap < retry_after + 3.0, f"{what}: retried only {gap:.3f}s after a 429 (Retry-After {retry_after})"


async def test_rate_limits_with_retry_after_are_honoured(stack: Stack) -> None:
    # a post and a Teams webhook post rate limited once each
    stack.slack.fail("chat.postMessage", status=429, times=1, retry_after=2)
    stack.teams.fail("ops", status=429, times=1, retry_after=2)
    _, answer = await stack.command("U0DEV", "api v1.4.2 to staging")
    rid = request_id(answer)
    await wait_for(lambda: any(rid in message_text(m) and "succeeded" in message_text(m)
                               for m in stack.card_messages("C0DEPLOYS")), timeout=30, what="success card")
    await wait_for(lambda: any("succeeded" in str(p.body) for p in stack.teams.accepted("ops")), timeout=30,
                   what="teams success card")
    await settled(stack, timeout=30)
    slack = [(c.at, 429 if c.error == "ratelimited" else 200, 2.0)
             for c in stack.slack.calls if c.args.get("channel") == "C0DEPLOYS"]
    assert_retry_after_honoured(slack, "slack chat.postMessage in #deploys")
    teams = [(p.at, p.status, 2.0) for p in stack.teams.posts if p.name == "ops"]
    assert_retry_after_honoured(teams, "teams ops webhook")
    assert len(stack.slack.posts("C0DEPLOYS")) == 1

    # in-place updates of a posted card rate limited twice in a row
    _, answer = await stack.command("U0DEV", "web v1.4.2 to production")
    prod = request_id(answer)
    await wait_for(lambda: any(prod in message_text(m) and "Approve" in message_text(m)
                               for m in stack.card_messages("C0APPROVALS")), timeout=30, what="approval card")
    await settled(stack)
    stack.slack.fail("chat.update", status=429, times=2, retry_after=1)
    await stack.click("U0LEAD", "approve", prod)
    await wait_for(lambda: any(prod in message_text(m) and "succeeded" in message_text(m)
                               for m in stack.card_messages("C0APPROVALS")), timeout=30, what="approved card")
    await settled(stack, timeout=30)
    updates = [c for c in stack.slack.calls if c.method == "chat.update"]
    assert sum(1 for c in updates if c.error == "ratelimited") == 2
    for channel in ("C0APPROVALS", "C0DEPLOYS"):  # the card lives in both; the faults hit whichever came first
        calls = [(c.at, 429 if c.error == "ratelimited" else 200, 1.0) for c in stack.slack.calls
                 if c.args.get("channel") == channel and c.at >= updates[0].at]
        if any(s == 429 for _, s, _ in calls):
            assert_retry_after_honoured(calls, f"slack chat.update in {channel}")
    assert len(stack.card_messages("C0APPROVALS")) == 1, "a rate-limited update must not become a second card"
    assert len(stack.slack.posts("C0APPROVALS")) == 1


async def test_a_long_outage_keeps_everything_and_sends_one_update_per_card_afterwards(tmp_path) -> None:
    """Issue 24 item 4. Backoff is scaled down (base 10 ms, cap 100 ms) so the outage below spans more failed
    attempts per message than a 30-minute one does at the defaults (1 s doubling to 300 s: about 14)."""
    stack = Stack(database_url=f"sqlite:///{tmp_path}/bot.db", config_path=no_notes_config(tmp_path), extra_env={
        "CHATOPS_OUTBOX_BACKOFF_BASE": "0.01", "CHATOPS_OUTBOX_MAX_BACKOFF": "0.1"})
    async with stack:
        _, answer = await stack.command("U0DEV", "web v1.4.2 to production", key="cmd-prod")
        rid = request_id(answer)
        await wait_for(lambda: any(rid in message_text(m) and "waiting for approval" in message_text(m)
                                   for m in stack.card_messages("C0APPROVALS")), timeout=20, what="approval card")
        await wait_for(lambda: any(rid in message_text(m) for m in stack.card_messages("C0DEPLOYS")), timeout=20,
                       what="deploys card")
        await settled(stack)
        stack.slack.down()
        status, _ = await stack.click("U0LEAD", "approve", rid, key="click-prod")
        assert status == 200
        await wait_states(stack, [rid], {"succeeded"})  # five card states pass while Slack is down
        await wait_for(lambda: sum(1 for c in stack.slack.calls if c.error == "fatal_error") >= 40, timeout=30,
                       what="many failed attempts")
        assert not await rows(stack, "SELECT id FROM outbox WHERE state = 'failed'"), "nothing is given up"
        _, metrics = await stack.get("/metrics")
        backlog = next(float(line.split()[-1]) for line in metrics.splitlines()
                       if line.startswith("chatops_outbox_backlog "))
        oldest = next(float(line.split()[-1]) for line in metrics.splitlines()
                      if line.startswith("chatops_outbox_oldest_age_seconds "))
        assert backlog >= 2 and oldest > 0
        recovered_at = len(stack.slack.calls)
        stack.slack.up()
        await wait_for(lambda: all(any(rid in message_text(m) and "succeeded" in message_text(m)
                                       for m in stack.card_messages(ch)) for ch in ("C0DEPLOYS", "C0APPROVALS")),
                       timeout=30, what="both cards at succeeded")
        await settled(stack)
        after = [c for c in stack.slack.calls[recovered_at:] if c.ok and rid in str(c.args.get("blocks"))]
        per_channel = defaultdict(list)
        for c in after:
            per_channel[c.args["channel"]].append(c.method)
        assert dict(per_channel) == {"C0DEPLOYS": ["chat.update"], "C0APPROVALS": ["chat.update"]}, (
            "each card gets its latest state once, not a replay of every edit")
        assert not await rows(stack, "SELECT id FROM outbox WHERE state = 'failed'")
