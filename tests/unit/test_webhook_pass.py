"""A worker pass's webhooks in one transaction (bot.runtime.webhook_pass, issue 27 items 2 and 4), on SQLite and
PostgreSQL: each webhook in a savepoint (one failing webhook rolls back alone, the others of the pass are applied),
one card per request and state per pass, inbox rows marked done with their effects, GitHub never asked inside the
pass's transaction, and a pass whose transaction fails as a whole applied again one by one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.config import load_config
from bot.deploys.pipeline import Pipeline
from bot.deploys.repos import GitHubRepos
from bot.deploys.update_codec import github_update_to_json
from bot.domain import DeployRequest, Platform, RequestKind, RequestState, RunUpdate
from bot.runtime import webhook_pass
from bot.runtime.worker import Worker
from bot.store.store import Store
from sandbox.stack import EXAMPLE_CONFIG

T0 = datetime(2026, 3, 1, tzinfo=UTC)
URL = "https://github.com/acme/platform/actions/runs/{}"


class Repos(GitHubRepos):
    """The real GitHubRepos, but the bot's own login is answered here and each ask records whether a database
    transaction was open at that moment (SQLite: the connection's lock)."""

    def __init__(self, store: Store, config: Any) -> None:
        super().__init__(env={"GITHUB_TOKEN": "unused"}, base_url="http://127.0.0.1:9",
                         repositories=lambda: config.repositories)
        self.store = store
        self.asked_in_transaction: list[bool] = []

    async def dispatch_actor(self) -> str:
        lock = getattr(self.store.db, "_lock", None)
        self.asked_in_transaction.append(bool(lock is not None and lock.locked()))
        self._dispatch_actor = "chatops-bot[bot]"
        return self._dispatch_actor


@pytest.fixture
async def worker(database_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Worker]:
    monkeypatch.setattr(webhook_pass, "CHUNK_S", 60.0)  # one chunk per pass, whatever the machine's load
    store = await Store.open(database_url)
    config = load_config(EXAMPLE_CONFIG, env={"TEAMS_OPS_WEBHOOK_URL": "http://127.0.0.1:9/teams/ops"})
    pipeline = Pipeline(config=config, store=store, clock=lambda: T0)
    try:
        yield Worker(pipeline=pipeline, github=Repos(store, config), clock=lambda: T0)
    finally:
        await store.close()


def run(run_id: int, status: str, *, conclusion: str = "", jobs: tuple[tuple[str, str, str], ...] = (),
        title: str = "", actor: str = "dev-gh") -> RunUpdate:
    return RunUpdate(run_id=run_id, workflow="api-ci.yml", status=status, conclusion=conclusion,
                     html_url=URL.format(run_id), head_sha="a" * 40, head_branch="main", title=title, actor=actor,
                     event="workflow_dispatch" if title else "push", jobs=jobs, repository="acme/platform",
                     path=".github/workflows/api-ci.yml")


async def record(store: Store, *updates: RunUpdate) -> None:
    for i, up in enumerate(updates):
        assert await store.record_inbox(source="github", key=f"delivery-{up.run_id}-{i}-{up.status}",
                                        kind="workflow_run", body=github_update_to_json(up))


async def rows(store: Store, sql: str, *args: Any) -> list[dict[str, Any]]:
    async with store.unit() as u:
        return await u.c.fetch(sql, *args)


async def card_rows(store: Store, run_id: int) -> list[dict[str, Any]]:
    """The outbox rows of the run's request card (every destination; a card key per request)."""
    return await rows(store, "SELECT o.key, o.payload FROM outbox o JOIN requests r ON o.card_key = 'req:' || r.id "
                             "WHERE r.run_id = ? ORDER BY o.id", run_id)


async def test_one_failing_webhook_rolls_back_alone(worker: Worker, monkeypatch: pytest.MonkeyPatch) -> None:
    store = worker.store
    await record(store, run(101, "in_progress"), run(102, "in_progress"), run(103, "in_progress"),
                 run(101, "completed", conclusion="success"), run(102, "completed", conclusion="failure"),
                 run(103, "completed", conclusion="success"))
    completed = type(worker.events)._completed

    async def failing(self: Any, u: Any, r: DeployRequest, up: RunUpdate) -> DeployRequest | None:
        new = await completed(self, u, r, up)  # the request is written, its deployment recorded ...
        if up.run_id == 102:
            raise RuntimeError("boom")  # ... then the webhook fails: all of it must roll back
        return new

    monkeypatch.setattr(type(worker.events), "_completed", failing)
    await worker._apply_github()

    states = {r["run_id"]: r["state"] for r in await rows(store, "SELECT run_id, state FROM requests")}
    assert states == {101: "succeeded", 102: "running", 103: "succeeded"}
    inbox = {r["key"]: (r["state"], r["attempts"], r["last_error"])
             for r in await rows(store, "SELECT key, state, attempts, last_error FROM inbox")}
    assert inbox.pop("delivery-102-4-completed") == ("pending", 1, "RuntimeError")
    assert set(inbox.values()) == {("done", 1, "")}
    assert not await rows(store, "SELECT id FROM outbox WHERE key LIKE 'fail:%'")  # 102's failure alert rolled back
    assert len(await rows(store, "SELECT id FROM deployments")) == 2

    monkeypatch.setattr(type(worker.events), "_completed", completed)
    await store.db.statement("UPDATE inbox SET lease_until = NULL")
    await worker._apply_github()  # the retry applies it
    assert (await rows(store, "SELECT state FROM requests WHERE run_id = 102"))[0]["state"] == "failed"


async def test_one_card_per_request_and_state_per_pass(worker: Worker) -> None:
    store = worker.store
    jobs = [run(201, "job", jobs=((f"job{i}", state, ""),)) for i in range(3) for state in ("queued", "in_progress")]
    await record(store, run(201, "in_progress"), *jobs, run(201, "completed", conclusion="success"))
    await worker._apply_github()
    cards = await card_rows(store, 201)
    destinations = {r["key"].split("|")[1] for r in cards}
    # per destination: the card while running (with every job) and the card as it ended, not one per webhook (8)
    assert len(cards) == 2 * len(destinations)
    running, ended = cards[0]["payload"], cards[-1]["payload"]
    assert all(f"job{i}" in running for i in range(3)) and '"status":"succeeded"' in ended
    assert (await rows(store, "SELECT COUNT(*) AS n FROM inbox WHERE state = 'done'"))[0]["n"] == 8


async def test_the_pass_is_one_transaction(worker: Worker, monkeypatch: pytest.MonkeyPatch) -> None:
    store = worker.store
    await record(store, *[run(300 + i, "in_progress") for i in range(10)])
    opened = 0
    transaction = store.db.transaction

    def counting() -> Any:
        nonlocal opened
        opened += 1
        return transaction()

    monkeypatch.setattr(store.db, "transaction", counting)
    await worker._apply_github()
    assert opened == 3  # the claim, the pass's webhooks, the GitHub jobs' claim
    assert len(await rows(store, "SELECT id FROM requests WHERE state = 'running'")) == 10


async def test_github_is_asked_outside_the_pass(worker: Worker) -> None:
    store = worker.store
    r = DeployRequest(id="r-abcd2345", kind=RequestKind.DEPLOY, service="api", environment="dev", ref="main",
                      requester="dev", requester_platform=Platform.SLACK, requester_id="U0DEV", channel="C0DEPLOYS",
                      state=RequestState.DISPATCHED, created_at=T0, workflow="api-ci.yml", sha="a" * 40)
    async with store.unit() as u:
        await u.insert_request(r)
    # the run names the request in its title: binding it needs the bot's login, not read yet
    await record(store, run(401, "in_progress"), run(402, "in_progress", title="deploy api to dev [r-abcd2345]",
                                                     actor="chatops-bot[bot]"), run(403, "in_progress"))
    await worker._apply_github()
    repos = worker.events.github
    assert isinstance(repos, Repos) and repos.asked_in_transaction == [False]
    bound = await rows(store, "SELECT run_id, state FROM requests WHERE id = ?", r.id)
    assert bound == [{"run_id": 402, "state": "running"}]
    assert len(await rows(store, "SELECT id FROM requests WHERE state = 'running'")) == 3


async def test_a_pass_failing_as_a_whole_is_applied_one_by_one(worker: Worker,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    store = worker.store
    await record(store, *[run(500 + i, "in_progress") for i in range(4)])
    calls = 0
    enqueue = webhook_pass.enqueue_deferred_cards

    async def broken(u: Any, config: Any) -> None:
        nonlocal calls
        calls += 1
        await enqueue(u, config)
        raise RuntimeError("the pass's cards could not be queued")

    monkeypatch.setattr(webhook_pass, "enqueue_deferred_cards", broken)
    await worker._apply_github()
    assert calls == 1
    assert len(await rows(store, "SELECT id FROM requests WHERE state = 'running'")) == 4
    assert (await rows(store, "SELECT COUNT(*) AS n FROM inbox WHERE state = 'done'"))[0]["n"] == 4
    for i in range(4):
        assert await card_rows(store, 500 + i)  # queued by the one-by-one path


async def test_webhooks_arriving_after_a_pass_are_applied_before_the_next_whole_pass(
        worker: Worker, monkeypatch: pytest.MonkeyPatch) -> None:
    """After a part batch the whole pass (request tables, schedules, ...) waits ``GATHER_S``; webhooks that arrive
    meanwhile are applied by webhook-only passes, so a card does not wait for the next whole pass."""
    import asyncio

    from bot.runtime import worker as worker_module

    monkeypatch.setattr(worker_module, "GATHER_S", 30.0)
    monkeypatch.setattr(worker_module, "WEBHOOK_GATHER_S", 0.0)
    store, whole = worker.store, 0
    run_once = worker.run_once

    async def counted() -> int:
        nonlocal whole
        whole += 1
        return await run_once()

    monkeypatch.setattr(worker, "run_once", counted)

    async def running(n: int) -> None:
        for _ in range(500):
            if len(await rows(store, "SELECT id FROM requests WHERE state = 'running'")) == n:
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"{n} runs not applied")

    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await record(store, run(601, "in_progress"))
        worker.wake()  # what recording an inbound item does in the app (Pipeline.record_inbound)
        await running(1)
        passes = whole
        await record(store, run(602, "in_progress"))
        worker.wake()
        await running(2)
        assert whole == passes  # no whole pass in between
    finally:
        stop.set()
        await task


async def test_a_failing_webhook_only_pass_does_not_stop_the_worker(worker: Worker,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from bot.runtime import worker as worker_module

    monkeypatch.setattr(worker_module, "GATHER_S", 30.0)  # 702 arrives during the gather after 701's pass
    monkeypatch.setattr(worker_module, "WEBHOOK_GATHER_S", 0.0)
    store, failures = worker.store, 0
    apply_webhooks = worker._apply_webhooks

    async def once_broken() -> int:
        nonlocal failures
        if failures == 0 and await rows(store, "SELECT id FROM requests"):  # after the first pass applied 701
            failures += 1
            raise RuntimeError("the database went away for a moment")
        return await apply_webhooks()

    monkeypatch.setattr(worker, "_apply_webhooks", once_broken)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop, interval=0.05))
    try:
        await record(store, run(701, "in_progress"))
        worker.wake()
        for _ in range(500):
            if await rows(store, "SELECT id FROM requests"):
                break
            await asyncio.sleep(0.02)
        await record(store, run(702, "in_progress"))
        worker.wake()
        for _ in range(500):
            if len(await rows(store, "SELECT id FROM requests WHERE state = 'running'")) == 2:
                break
            await asyncio.sleep(0.02)
        assert failures == 1 and not task.done()
        assert len(await rows(store, "SELECT id FROM requests WHERE state = 'running'")) == 2
    finally:
        stop.set()
        await task


async def test_the_gather_ends_under_a_steady_stream_of_webhooks(worker: Worker,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A webhook arriving during every webhook-only pass must not hold off the whole pass (dispatches, expiries,
    GitHub jobs) past ``GATHER_S``: before the bound, this gather never returned."""
    import asyncio

    from bot.runtime import worker as worker_module

    monkeypatch.setattr(worker_module, "GATHER_S", 0.2)
    monkeypatch.setattr(worker_module, "WEBHOOK_GATHER_S", 0.0)
    passes = 0

    async def always_more() -> int:
        nonlocal passes
        passes += 1
        await asyncio.sleep(0)
        worker.wake()  # the next webhook was recorded while this pass ran
        return 1

    monkeypatch.setattr(worker, "_apply_webhooks", always_more)
    worker.wake()
    await asyncio.wait_for(worker._gather(asyncio.Event()), timeout=30)  # a liveness bound, not a speed target
    assert passes >= 1


async def test_a_chunk_that_cannot_open_its_transaction_goes_up_instead_of_spinning(
        worker: Worker, monkeypatch: pytest.MonkeyPatch) -> None:
    """The database gone after the claim: the chunk took nothing, so the error reaches the worker loop (which
    waits before the next pass); before, the pass retried the same chunk at once, forever."""
    import asyncio
    from contextlib import asynccontextmanager

    from bot.errors import StoreUnavailable

    await record(worker.store, run(801, "in_progress"))
    attempts = 0

    @asynccontextmanager
    async def gone(store: Any) -> AsyncIterator[Any]:
        nonlocal attempts
        attempts += 1
        await asyncio.sleep(0)
        raise StoreUnavailable("database unavailable: ConnectionRefusedError")
        yield  # pragma: no cover

    monkeypatch.setattr(webhook_pass, "pass_unit", gone)
    with pytest.raises(StoreUnavailable):
        await asyncio.wait_for(worker._apply_github(), timeout=30)
    assert attempts == 1


async def test_the_worker_tells_the_outbox_which_webhooks_are_applied(database_url: str,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 27 item 2 (bot.delivery.pending): a run's webhooks noted by ingest are forgotten once the transaction
    that applied them (or judged them repeats, or counted their failure) has committed, and the worker says which
    run each card it queued shows; none is forgotten before its pass commits."""
    from bot.delivery.pending import PendingCards

    monkeypatch.setattr(webhook_pass, "CHUNK_S", 60.0)
    store = await Store.open(database_url)
    try:
        config = load_config(EXAMPLE_CONFIG, env={"TEAMS_OPS_WEBHOOK_URL": "http://127.0.0.1:9/teams/ops"})
        pending = PendingCards()
        pipeline = Pipeline(config=config, store=store, clock=lambda: T0, pending=pending)
        worker = Worker(pipeline=pipeline, github=Repos(store, config), clock=lambda: T0, pending=pending)
        ups = [run(701, "in_progress"), run(701, "job", jobs=(("build", "in_progress", ""),)),
               run(702, "in_progress"), run(702, "completed", conclusion="failure")]
        for i, up in enumerate(ups):
            assert await pipeline.record_github(up, delivery=f"d{i}", event="workflow_run")
        assert pending.noted() == 4

        noted_at_commit: list[int] = []
        write = webhook_pass.write_outcomes

        async def outcomes(u: Any, out: Any) -> None:
            noted_at_commit.append(pending.noted())  # inside the pass's transaction: nothing forgotten yet
            await write(u, out)

        monkeypatch.setattr(webhook_pass, "write_outcomes", outcomes)
        completed = type(worker.events)._completed

        async def boom(self: Any, u: Any, r: DeployRequest, up: RunUpdate) -> DeployRequest | None:
            raise RuntimeError("boom")  # a failing webhook: retried later, not waited for meanwhile

        monkeypatch.setattr(type(worker.events), "_completed", boom)
        await worker._apply_github()
        monkeypatch.setattr(type(worker.events), "_completed", completed)
        assert noted_at_commit == [4] and pending.noted() == 0
        requests = {r["run_id"]: r["id"] for r in await rows(store, "SELECT id, run_id FROM requests")}
        assert {run_id: pending.run_of(f"req:{rid}") for run_id, rid in requests.items()} == {701: 701, 702: 702}

        assert await pipeline.record_github(ups[1], delivery="again", event="workflow_run")  # GitHub redelivers
        assert pending.noted() == 1
        await worker._apply_github()  # a repeat: done in the claim's transaction (702's retry is applied after it)
        assert noted_at_commit == [4, 0] and pending.noted() == 0
        assert (await rows(store, "SELECT state FROM inbox WHERE key = 'gh:again'"))[0]["state"] == "done"
    finally:
        await store.close()


@pytest.mark.parametrize("gather_s", [30.0, 0.0], ids=["webhook-only pass", "whole pass"])
async def test_a_pass_that_only_marks_repeats_done_does_not_wake_the_outbox(
        worker: Worker, monkeypatch: pytest.MonkeyPatch, gather_s: float) -> None:
    """A repeat queues nothing: waking the outbox for it only made the outbox read its backlog again (up to 20
    times a second under a stream of repeats; issue 27 item 4). A webhook that is applied still wakes it."""
    import asyncio

    from bot.runtime import worker as worker_module

    monkeypatch.setattr(worker_module, "GATHER_S", gather_s)
    monkeypatch.setattr(worker_module, "WEBHOOK_GATHER_S", 0.0)
    wakes: list[str] = []
    worker.wake_outbox = worker.webhooks.wake_outbox = lambda: wakes.append("wake")
    store = worker.store

    async def recorded(key: str, up: RunUpdate) -> None:
        assert await store.record_inbox(source="github", key=key, kind="workflow_run", body=github_update_to_json(up))
        worker.wake()  # what recording an inbound item does in the app (Pipeline.record_inbound)
        for _ in range(500):
            if await rows(store, "SELECT id FROM inbox WHERE key = ? AND state = 'done'", key):
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"{key} not done")

    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop, interval=30.0))
    try:
        await recorded("gh:first", run(801, "in_progress"))  # a new run: a request and its card
        await asyncio.sleep(0.3)  # the pass's wakes come after its commit, which the row's state shows
        assert wakes
        woken = len(wakes)
        for i in range(3):
            await recorded(f"gh:again-{i}", run(801, "in_progress"))  # GitHub redelivers: changes nothing
        await asyncio.sleep(0.3)
        assert len(wakes) == woken
        await recorded("gh:done", run(801, "completed", conclusion="success"))
        assert len(wakes) > woken
    finally:
        stop.set()
        await task


async def test_repeats_are_marked_done_without_being_leased_first(worker: Worker) -> None:
    """A pass leases only the webhooks it applies: a repeat's row is marked done in the claim's transaction by one
    UPDATE, not leased by the claim and then done (issue 27 item 4). The applied ones are leased while applied."""
    from bot.store.leases import OWNER

    store = worker.store
    await record(store, run(811, "in_progress"))  # a new run: its request and card
    assert await worker._apply_webhooks() == 1
    assert await store.record_inbox(source="github", key="gh:again", kind="workflow_run",
                                    body=github_update_to_json(run(811, "in_progress")))  # a redelivery: a repeat
    assert await store.record_inbox(source="github", key="gh:done", kind="workflow_run",
                                    body=github_update_to_json(run(811, "completed", conclusion="success")))
    assert await worker._apply_webhooks() == 2
    got = {r["key"]: r for r in await rows(store, "SELECT key, state, lease_owner, attempts FROM inbox")}
    assert (got["gh:again"]["state"], got["gh:again"]["lease_owner"], got["gh:again"]["attempts"]) == ("done", "", 1)
    assert (got["gh:done"]["state"], got["gh:done"]["lease_owner"], got["gh:done"]["attempts"]) == ("done", OWNER, 1)


async def test_a_pass_records_deployments_in_the_order_their_runs_completed(worker: Worker) -> None:
    """Webhooks are applied in inbox order, not sorted by run (a review of a run-id sort: run 101 completing after
    run 102 in one pass made 102's release the latest, though 101's went live last)."""
    from dataclasses import replace

    store = worker.store
    r101 = replace(run(101, "in_progress", title="deploy api to staging"), event="push", head_sha="1" * 40,
                   head_branch="v1")
    r102 = replace(r101, run_id=102, html_url=URL.format(102), head_sha="2" * 40, head_branch="v2")
    await record(store, r101, r102)
    await worker._apply_github()
    await record(store, replace(r102, status="completed", conclusion="success"),
                 replace(r101, status="completed", conclusion="success"))
    await worker._apply_github()
    async with store.unit() as u:
        latest = await u.latest_deployments()
    assert latest[("api", "staging")].version == "v1", latest
