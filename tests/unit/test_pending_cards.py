"""Cards about to change (bot.delivery.pending, issue 27 item 2): ingest notes a run's webhook before it is committed,
the worker forgets it once applied, and the outbox holds a card's slot (briefly) only while a fresh webhook of the
card's run is on its way. No timing assertions: a wait is shown to end by what ended it (a forget, or the bound)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from bot.config import load_config
from bot.delivery.pending import KEEP_S, PendingCards
from bot.deploys.pipeline import Pipeline
from bot.domain import RunUpdate
from bot.store.store import Store
from sandbox.stack import EXAMPLE_CONFIG

T0 = datetime(2026, 3, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def update(run_id: int) -> RunUpdate:
    return RunUpdate(run_id=run_id, workflow="api-ci.yml", status="in_progress", conclusion="",
                     html_url=f"https://github.com/acme/platform/actions/runs/{run_id}", head_sha="a" * 40,
                     head_branch="main", title="", actor="dev-gh", event="push", repository="acme/platform")


async def test_a_card_nothing_is_on_its_way_to_is_not_held() -> None:
    clock = Clock()
    pending = PendingCards(clock=clock, wait_s=30.0)
    assert await pending.settle("req:unknown") is False  # a card this process never queued (a restart, a replica)
    pending.card_shows("req:1", 7)
    assert await pending.settle("req:1") is False  # its run has no webhook on its way
    pending.recording("gh:other", 8)
    assert await pending.settle("req:1") is False  # another run's webhook does not hold it
    assert pending.waits == 0


async def test_the_slot_is_held_until_the_runs_webhooks_are_applied() -> None:
    pending = PendingCards(wait_s=30.0)  # far beyond the test: only the forget can end the wait
    pending.card_shows("req:1", 7)
    assert pending.recording("gh:a", 7) and pending.recording("gh:b", 7)
    settle = asyncio.create_task(pending.settle("req:1"))
    await asyncio.sleep(0)
    pending.forget(["gh:a"])
    await asyncio.sleep(0)
    assert not settle.done()  # gh:b is still on its way
    pending.forget(["gh:b", "gh:never-noted"])
    async with asyncio.timeout(5):
        await settle
    assert pending.waits == 1 and pending.noted() == 0


async def test_the_wait_is_bounded() -> None:
    pending = PendingCards(wait_s=0.01)
    pending.card_shows("req:1", 7)
    pending.recording("gh:a", 7)  # applied by another replica, or its pass failed: never forgotten here
    async with asyncio.timeout(5):
        await pending.settle("req:1")
    assert pending.waits == 1 and pending.noted() == 1


async def test_a_webhook_noted_long_ago_is_not_waited_for() -> None:
    clock = Clock()
    pending = PendingCards(clock=clock, wait_s=30.0, fresh_s=0.25)
    pending.card_shows("req:1", 7)
    pending.recording("gh:a", 7)
    clock.now += 0.3  # an apply takes milliseconds: this one is not about to happen
    assert await pending.settle("req:1") is False
    pending.recording("gh:b", 7)  # a fresh one holds the slot again
    settle = asyncio.create_task(pending.settle("req:1"))
    await asyncio.sleep(0)
    pending.forget(["gh:b"])
    await asyncio.sleep(0)
    assert not settle.done()  # gh:a is still noted: only the bound or its forget ends the wait
    pending.forget(["gh:a"])
    async with asyncio.timeout(5):
        await settle


async def test_old_entries_are_dropped_and_cards_remembered_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    pending = PendingCards(clock=clock)
    pending.recording("gh:lost", 7)
    clock.now += KEEP_S + 1
    pending.recording("gh:new", 8)
    assert pending.noted() == 1
    monkeypatch.setattr("bot.delivery.pending.MAX_CARDS", 3)
    for i in range(5):
        pending.card_shows(f"req:{i}", i)
    assert [pending.run_of(f"req:{i}") for i in range(5)] == [None, None, 2, 3, 4]
    pending.card_shows("req:2", 12)  # queued again: the newest run, kept longest
    pending.card_shows("req:5", 5)
    assert [pending.run_of(f"req:{i}") for i in range(2, 6)] == [12, None, 4, 5]


@pytest.fixture
async def pipeline(sqlite_url: str) -> AsyncIterator[Pipeline]:
    store = await Store.open(sqlite_url)
    config = load_config(EXAMPLE_CONFIG, env={"TEAMS_OPS_WEBHOOK_URL": "http://127.0.0.1:9/teams/ops"})
    try:
        yield Pipeline(config=config, store=store, clock=lambda: T0, pending=PendingCards())
    finally:
        await store.close()


async def test_ingest_notes_a_webhook_before_it_is_committed(pipeline: Pipeline,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    pending = pipeline.pending
    assert pending is not None
    seen: list[int] = []
    record = pipeline.store.record_inbox

    async def recording(**kw: str) -> bool:
        seen.append(pending.noted())  # the worker can claim it as soon as it is committed: noted before that
        return await record(**kw)

    monkeypatch.setattr(pipeline.store, "record_inbox", recording)
    assert await pipeline.record_github(update(7), delivery="d1", event="workflow_run")
    assert seen == [1] and pending.noted() == 1


async def test_a_repeated_delivery_leaves_nothing_noted_and_keeps_the_one_in_flight(pipeline: Pipeline) -> None:
    pending = pipeline.pending
    assert pending is not None
    assert await pipeline.record_github(update(7), delivery="d1", event="workflow_run")
    assert not await pipeline.record_github(update(7), delivery="d1", event="workflow_run")  # GitHub redelivers
    assert pending.noted() == 1  # the first is still on its way to its card
    pending.forget(["gh:d1"])  # the worker applied it
    assert not await pipeline.record_github(update(7), delivery="d1", event="workflow_run")
    assert pending.noted() == 0  # a repeat of an applied webhook is not waited for


async def test_a_delivery_that_could_not_be_recorded_is_not_noted(pipeline: Pipeline,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    async def down(**kw: str) -> bool:
        raise ConnectionError("database gone")

    monkeypatch.setattr(pipeline.store, "record_inbox", down)
    with pytest.raises(ConnectionError):
        await pipeline.record_github(update(7), delivery="d1", event="workflow_run")
    assert pipeline.pending is not None and pipeline.pending.noted() == 0
