"""Issue 12 item 5: a storm of alerts cannot bury a critical one.

Through the composed app: signed EventBridge events on /aws/events, cards read from the Slack fake. Order is
asserted (which posts came before the critical card), never seconds: "already in flight" means sent, or claimed,
before the critical card entered the outbox (the outbox's own timestamps say which).
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from chatops.app import STORE
from sandbox.stack import SANDBOX_SECRETS, Stack, message_text
from tests.scenario.test_github_flow import write_config
from tests.security.conftest import envelope, load

HEADERS = {"x-api-key": SANDBOX_SECRETS["CHATOPS_EVENTS_API_KEY"], "Content-Type": "application/json"}


def denied(i: int) -> dict[str, Any]:
    r = copy.deepcopy(load("access-denied.states-DeleteStateMachine.awsdocs.json"))
    r["eventID"] = f"storm-{i:05d}"
    r["userIdentity"]["arn"] = f"arn:aws:sts::123456789012:assumed-role/ci/session-{i:04d}"  # attacker-chosen
    return r


def tampering() -> dict[str, Any]:
    return load("stop-logging.panther-analysis.json")


async def post(stack: Stack, record: dict[str, Any]) -> None:
    body = json.dumps(envelope(record, event_id=f"eb-{record['eventID']}")).encode()
    status, text = await stack.post("/aws/events", body, HEADERS)
    assert status < 300, text


async def rows(stack: Stack, sql: str) -> list[dict[str, Any]]:
    assert stack.app is not None
    async with stack.app[STORE].unit() as u:
        return await u.c.fetch(sql)


async def until(stack: Stack, sql: str, ok: Any, *, what: str, timeout: float = 60.0) -> list[dict[str, Any]]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        got = await rows(stack, sql)
        if ok(got):
            return got
        if loop.time() > deadline:
            raise TimeoutError(f"timed out waiting for {what}: {got[:3]}")
        await asyncio.sleep(0.05)


def is_tampering(call: Any) -> bool:
    return "StopLogging" in json.dumps(call.args.get("blocks", ""))


async def storm_then_critical(stack: Stack, principals: int) -> int:
    """Send the storm, wait until its cards queue, send the critical event; return how many storm cards were
    posted before the critical one beyond those already in flight when it was enqueued (0 = jumped the queue)."""
    for i in range(principals):
        await post(stack, denied(i))
    await until(stack, "SELECT COUNT(*) AS n FROM outbox WHERE address = 'C0SECURITY' AND state = 'pending'",
                lambda r: r[0]["n"] >= 5, what="a backlog of storm cards in #security")
    await post(stack, tampering())
    (tamper,) = await until(
        stack, "SELECT created_at, sent_at FROM outbox WHERE address = 'C0SECURITY' AND key LIKE 'sec:%:1:slack:%' "
        "AND payload LIKE '%StopLogging%'",
        lambda r: len(r) == 1 and r[0]["sent_at"] is not None, what="the critical card sent")
    (done,) = await rows(stack, "SELECT COUNT(*) AS n FROM outbox WHERE address = 'C0SECURITY' AND op = 'card' "
                                f"AND key LIKE 'sec:%:1:slack:%' AND state = 'sent' "
                                f"AND sent_at <= {tamper['created_at']}")
    posts = stack.slack.posts("C0SECURITY")
    index = next(i for i, c in enumerate(posts) if is_tampering(c))
    return index - done["n"]


async def start(tmp_path: Path, *, interval: float, **security: Any) -> Stack:
    config = write_config(tmp_path, security={"responders": ["admins"], **security})
    return await Stack(database_url=f"sqlite:///{tmp_path}/bot.db", config_path=config,
                       channel_interval=interval).start()


@pytest.fixture
async def unfolded(tmp_path: Path) -> AsyncIterator[Stack]:
    stack = await start(tmp_path, interval=0.1, fold_after=100_000)  # every principal its own card: a backlog
    yield stack
    await stack.stop()


@pytest.fixture
async def folding(tmp_path: Path) -> AsyncIterator[Stack]:
    stack = await start(tmp_path, interval=0.2)  # default security.fold_after (10)
    yield stack
    await stack.stop()


async def test_critical_alert_overtakes_queued_cards(unfolded: Stack) -> None:
    overtaken_by = await storm_then_critical(unfolded, 60)
    assert overtaken_by <= 1, f"{overtaken_by} queued storm cards were posted before the critical one"
    # the storm still arrives, in order, after it
    await until(unfolded, "SELECT COUNT(*) AS n FROM outbox WHERE address = 'C0SECURITY' AND state = 'pending'",
                lambda r: r[0]["n"] == 0, what="the storm delivered")
    assert len(unfolded.card_messages("C0SECURITY")) == 61


async def test_storm_of_300_principals_folds_into_one_card_per_rule(folding: Stack) -> None:
    overtaken_by = await storm_then_critical(folding, 300)
    assert overtaken_by <= 1
    await until(folding, "SELECT COUNT(*) AS n FROM outbox WHERE address = 'C0SECURITY' AND state = 'pending'",
                lambda r: r[0]["n"] == 0, what="the storm delivered")
    storm = [m for m in folding.card_messages("C0SECURITY")
             if "StopLogging" not in message_text(m) and not m.thread_ts]  # thread notes: issue 22 item 1
    assert len(storm) <= 10 + 1, len(storm)
    (folded,) = [m for m in storm if "principals" in message_text(m)]
    text = message_text(folded)
    assert "Access denied: 290 principals" in text, text  # the 10 before the fold keep their own cards
    assert "Top 5 principals" in text and "(+285 more)" in text
    alerts = await rows(folding, "SELECT principal, event_count FROM security_alerts WHERE rule_id = 'access-denied'")
    assert sum(a["event_count"] for a in alerts) == 300 and len(alerts) == 11
