"""Two replicas applying webhooks on one PostgreSQL database (bot.store.pass_unit ``lock_webhooks``): the fresh-clone
`make test` of 2026-12-08 failed test_handover_pg with "deadlock detected" between two replicas' chunks, each writing
the requests of runs X and Y in the opposite order. PostgreSQL breaks a deadlock after ``deadlock_timeout`` (1 s by
default) by failing one transaction (https://www.postgresql.org/docs/current/explicit-locking.html#LOCKING-DEADLOCKS):
here one webhook's savepoint. Behind it: two chunks merging jobs into the same request lost one, and a request one
replica had just made (not committed) was not found by the other, which dropped the run's next webhook. A review
found that sorting a pass by run id (the first fix) left the deadlock when another webhook split the runs, and
changed which deployment is the latest; the tests below hold each case.

Real parts: two Stores (two pools, as two processes have), the real worker and pass, the server at 127.0.0.1:5432."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.config import load_config
from bot.deploys.pipeline import Pipeline
from bot.deploys.update_codec import github_update_from_json, github_update_to_json
from bot.domain import ReviewRequest, RunUpdate
from bot.errors import StoreConflict, StoreUnavailable
from bot.runtime import webhook_pass
from bot.runtime.worker import Worker
from bot.store.store import Store
from sandbox.stack import EXAMPLE_CONFIG
from tests.conftest import drop_pg_schema, new_pg_schema, require_postgres
from tests.unit.test_webhook_pass import T0, URL, Repos, record, rows, run

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
    # a conflict is transient: it gets a transient GitHub error's budget, not the 5 tries of an unknown error
    assert webhook_pass.failed({**item, "attempts": 7}, conflicts[0]) == (1, "pending", "StoreConflict")
    assert webhook_pass.failed({**item, "attempts": 8}, conflicts[0]) == (1, "failed", "StoreConflict")
    assert caplog.records[-1].levelname == "WARNING" and caplog.records[-1].exc_info is None


def _parsed(items: list[dict[str, Any]]) -> dict[int, Any]:
    return {int(i["id"]): github_update_from_json(i["body"]) for i in items}


def _hold_after_first(w: Worker, mine: asyncio.Event, theirs: asyncio.Event, *, up_to: float) -> None:
    """After its first webhook, ``w``'s pass waits (up to ``up_to``) for the other replica's first: both hold what
    they wrote, the timing two replicas can give."""
    apply_in = w.events.apply_in

    async def held(u: Any, up: Any) -> None:
        await apply_in(u, up)
        if not mine.is_set():
            mine.set()
            await asyncio.wait([asyncio.ensure_future(theirs.wait())], timeout=up_to)

    w.events.apply_in = held  # type: ignore[method-assign]


async def test_a_review_request_between_runs_does_not_bring_the_deadlock_back(
        replicas: tuple[Worker, Worker]) -> None:
    a, b = replicas
    await record(a.store, run(X, "in_progress"), run(Y, "in_progress"))
    await a._apply_github()
    review = ReviewRequest(run_id=777, environment="production", reviewers=("user:someone",),
                           html_url=URL.format(777), head_sha="a" * 40, head_branch="main", title="t",
                           requestor="dev-gh")
    ups: dict[str, Any] = {"y1": job(Y, "build"), "rv": review, "x1": job(X, "build"), "x2": job(X, "test"),
                           "y2": job(Y, "test")}
    for key, up in ups.items():
        assert await a.store.record_inbox(source="github", key=key, kind="workflow_job",
                                          body=github_update_to_json(up))
    by_key = {r["key"]: r for r in await rows(a.store, "SELECT id, key, kind, body, attempts FROM inbox "
                                                       "WHERE key IN ('y1', 'rv', 'x1', 'x2', 'y2')")}
    mine, theirs = [by_key[k] for k in ("y1", "rv", "x1")], [by_key[k] for k in ("x2", "y2")]  # Y..X against X..Y
    first = {"a": asyncio.Event(), "b": asyncio.Event()}
    _hold_after_first(a, first["a"], first["b"], up_to=0.5)
    _hold_after_first(b, first["b"], first["a"], up_to=0.5)
    await asyncio.gather(a.webhooks.apply(mine, _parsed(mine)), b.webhooks.apply(theirs, _parsed(theirs)))
    inbox = {r["key"]: (r["state"], r["last_error"]) for r in await rows(
        a.store, "SELECT key, state, last_error FROM inbox WHERE key IN ('y1', 'rv', 'x1', 'x2', 'y2')")}
    assert inbox == dict.fromkeys(ups, ("done", "")), inbox


async def test_a_runs_webhook_waits_for_the_replica_that_is_making_its_request(
        replicas: tuple[Worker, Worker]) -> None:
    a, b = replicas
    z = 900
    for key, up in {"z0": run(z, "in_progress"), "z1": job(z, "build")}.items():
        assert await a.store.record_inbox(source="github", key=key, kind="workflow_run",
                                          body=github_update_to_json(up))
    by_key = {r["key"]: r for r in await rows(a.store, "SELECT id, key, kind, body, attempts FROM inbox "
                                                       "WHERE key IN ('z0', 'z1')")}
    made = asyncio.Event()
    apply_a = a.events.apply_in

    async def making(u: Any, up: Any) -> None:
        await apply_a(u, up)  # replica A made run Z's request, not committed yet
        made.set()
        await asyncio.sleep(0.3)

    a.events.apply_in = making  # type: ignore[method-assign]

    async def then_b() -> None:
        await made.wait()
        await b.webhooks.apply([by_key["z1"]], _parsed([by_key["z1"]]))

    await asyncio.gather(a.webhooks.apply([by_key["z0"]], _parsed([by_key["z0"]])), then_b())
    jobs = {r["run_id"]: r["jobs"] for r in await rows(a.store, "SELECT run_id, jobs FROM requests")}
    assert "build" in jobs[z], jobs  # B waited for A's commit, found the request and merged its job
