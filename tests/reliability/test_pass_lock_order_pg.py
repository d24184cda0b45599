"""Two replicas' webhook passes on one PostgreSQL database take their row locks in one order (bot.runtime.webhook_pass
``lock_order``): the fresh-clone `make test` of 2026-12-08 failed test_handover_pg with "deadlock detected" between
two replicas' chunks, each writing the requests of runs X and Y in the opposite order. PostgreSQL breaks a deadlock
after ``deadlock_timeout`` (1 s by default) by failing one transaction
(https://www.postgresql.org/docs/current/explicit-locking.html#LOCKING-DEADLOCKS): here one webhook's savepoint.

Real parts: two Stores (two pools, as two processes have), the real worker and pass, the server at 127.0.0.1:5432."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.config import load_config
from bot.deploys.pipeline import Pipeline
from bot.deploys.update_codec import github_update_from_json, github_update_to_json
from bot.domain import RunUpdate
from bot.errors import StoreConflict, StoreUnavailable
from bot.runtime import webhook_pass
from bot.runtime.webhook_pass import lock_order
from bot.runtime.worker import Worker
from bot.store.store import Store
from sandbox.stack import EXAMPLE_CONFIG
from tests.conftest import drop_pg_schema, new_pg_schema, require_postgres
from tests.unit.test_webhook_pass import T0, Repos, record, rows, run

X, Y = 501, 502


async def _replica(url: str) -> Worker:
    store = await Store.open(url)
    config = load_config(EXAMPLE_CONFIG, env={"TEAMS_OPS_WEBHOOK_URL": "http://127.0.0.1:9/teams/ops"})
    pipeline = Pipeline(config=config, store=store, clock=lambda: T0)
    return Worker(pipeline=pipeline, github=Repos(store, config), clock=lambda: T0)


@pytest.fixture
async def replicas(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Worker, Worker]]:
    require_postgres()
    monkeypatch.setattr(webhook_pass, "CHUNK_S", 60.0)  # each pass is one chunk, one transaction
    schema, url = await new_pg_schema()
    a, b = await _replica(url), await _replica(url)
    try:
        yield a, b
    finally:
        await a.store.close()
        await b.store.close()
        await drop_pg_schema(schema)


def job(run_id: int, name: str) -> RunUpdate:
    return run(run_id, "job", jobs=((name, "in_progress", ""),))


async def test_two_replicas_passes_over_the_same_runs_do_not_deadlock(replicas: tuple[Worker, Worker]) -> None:
    a, b = replicas
    await record(a.store, run(X, "in_progress"), run(Y, "in_progress"))
    await a._apply_github()  # both runs tracked: a request each
    # inbox order X1, Y2, Y1, X2: replica A holds X1 and Y1 (X then Y), replica B holds Y2 and X2 (Y then X)
    keys = ["x1", "y2", "y1", "x2"]
    ups = {"x1": job(X, "build"), "y2": job(Y, "test"), "y1": job(Y, "build"), "x2": job(X, "test")}
    for key in keys:
        assert await a.store.record_inbox(source="github", key=key, kind="workflow_job",
                                          body=github_update_to_json(ups[key]))
    by_key = {r["key"]: r for r in await rows(a.store, "SELECT id, key, kind, body, attempts FROM inbox "
                                                       "WHERE key IN ('x1', 'y2', 'y1', 'x2') ORDER BY id")}
    mine = [by_key["x1"], by_key["y1"]]
    theirs = [by_key["y2"], by_key["x2"]]

    def parsed(items: list[dict[str, Any]]) -> dict[int, Any]:
        return {int(i["id"]): github_update_from_json(i["body"]) for i in items}

    await asyncio.gather(a.webhooks.apply(mine, parsed(mine)), b.webhooks.apply(theirs, parsed(theirs)))

    inbox = {r["key"]: (r["state"], r["last_error"]) for r in await rows(
        a.store, "SELECT key, state, last_error FROM inbox WHERE key IN ('x1', 'y2', 'y1', 'x2')")}
    assert inbox == dict.fromkeys(keys, ("done", "")), inbox  # none failed (a deadlock fails one: StoreConflict)
    jobs = {r["run_id"]: r["jobs"] for r in await rows(a.store, "SELECT run_id, jobs FROM requests")}
    assert all("build" in jobs[r] and "test" in jobs[r] for r in (X, Y)), jobs


def test_lock_order_sorts_runs_and_keeps_each_runs_order_and_other_webhooks_in_place() -> None:
    items = [{"id": i} for i in range(7)]
    ups: dict[int, Any] = {0: job(9, "a"), 1: job(3, "a"), 2: job(9, "b"), 3: job(3, "b"), 4: object(),
                           5: job(8, "a"), 6: job(2, "a")}
    assert [i["id"] for i in lock_order(items, ups)] == [1, 3, 0, 2, 4, 6, 5]


async def test_a_deadlock_is_a_store_conflict_and_retried_without_a_traceback(
        replicas: tuple[Worker, Worker], caplog: pytest.LogCaptureFixture) -> None:
    a, b = replicas
    for key in ("k1", "k2"):
        assert await a.store.record_inbox(source="github", key=key, kind="workflow_job", body="{}")
    held = {"k1": asyncio.Event(), "k2": asyncio.Event()}

    async def both(store: Store, first: str, second: str) -> None:
        async with store.unit() as u:
            await u.c.execute("UPDATE inbox SET attempts = attempts + 1 WHERE key = ?", first)
            held[first].set()
            await held[second].wait()  # the other transaction holds it: each waits for the other
            await u.c.execute("UPDATE inbox SET attempts = attempts + 1 WHERE key = ?", second)

    results = await asyncio.gather(both(a.store, "k1", "k2"), both(b.store, "k2", "k1"), return_exceptions=True)
    conflicts = [r for r in results if isinstance(r, StoreConflict)]
    assert len(conflicts) == 1 and results.count(None) == 1, results  # PostgreSQL failed one, the other committed
    assert isinstance(conflicts[0], StoreUnavailable)  # ingress answers 503 + Retry-After: the sender retries

    item = {"id": 1, "kind": "workflow_job", "attempts": 1}
    assert webhook_pass.failed(item, conflicts[0]) == (1, "pending", "StoreConflict")
    assert caplog.records[-1].levelname == "WARNING" and caplog.records[-1].exc_info is None
