"""The Store contract: one suite, run against SQLite and PostgreSQL (``database_url`` is parametrized)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain import (
    Approval,
    AuditEntry,
    Card,
    Deployment,
    DeployRequest,
    Destination,
    Lock,
    Op,
    OutboundMessage,
    Platform,
    RequestKind,
    RequestState,
    RunHead,
)
from bot.store.db import migrations
from bot.store.store import Store

S = RequestState


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    s = await Store.open(database_url)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """PostgreSQL only (several replicas sharing one database); fails rather than skips when CI is set."""
    from tests.conftest import drop_pg_schema, new_pg_schema, require_postgres

    require_postgres()
    schema, url = await new_pg_schema()
    try:
        yield url
    finally:
        await drop_pg_schema(schema)


def is_pg(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def make_request(rid: str = "r-abcd2345", *, state: RequestState = S.PENDING_APPROVAL, **kw: object) -> DeployRequest:
    fields: dict[str, object] = {
        "id": rid,
        "kind": RequestKind.DEPLOY,
        "service": "api",
        "environment": "production",
        "ref": "v1.4.2",
        "requester": "dev",
        "requester_platform": Platform.SLACK,
        "requester_id": "U0DEV",
        "channel": "C0DEPLOYS",
        "state": state,
        "created_at": datetime(2025, 11, 28, 9, 0, 0, 123456, tzinfo=UTC),
        "workflow": "api-ci.yml",
    }
    fields.update(kw)
    return DeployRequest(**fields)  # type: ignore[arg-type]


def msg(key: str, *, channel: str = "C0DEPLOYS", op: Op = Op.CARD, card_key: str = "req:1",
        title: str = "t", platform: Platform = Platform.SLACK) -> OutboundMessage:
    return OutboundMessage(key=key, destination=Destination(platform, channel), op=op,
                           card=Card(kind="deployment", title=title), card_key=card_key)


async def states(store: Store) -> dict[str, str]:
    """key -> outbox state (read through the store's own connection)."""
    async with store.unit() as u:
        rows = await u.c.fetch("SELECT key, state FROM outbox")
    return {r["key"]: r["state"] for r in rows}


# ------------------------------------------------------------------------------------------ schema


async def test_migrations_are_idempotent(database_url: str) -> None:
    first = await Store.open(database_url)
    second = await Store.open(database_url)  # applies nothing twice, does not fail
    try:
        async with second.unit() as u:
            rows = await u.c.fetch("SELECT version FROM schema_migrations ORDER BY version")
            assert await u.claim_key("k")
        assert [r["version"] for r in rows] == [v for v, _ in migrations()]
        assert await first.ping() and await second.ping()
    finally:
        await first.close()
        await second.close()


async def test_replicas_starting_together_migrate_once(pg_url: str) -> None:
    """Several replicas starting at the same moment against a fresh database all come up (each round uses a
    fresh schema, since the race is in creating the very first table)."""
    from tests.conftest import drop_pg_schema, new_pg_schema

    for _ in range(3):
        schema, url = await new_pg_schema()
        try:
            stores = await asyncio.gather(*(Store.open(url) for _ in range(8)), return_exceptions=True)
            opened = [s for s in stores if isinstance(s, Store)]
            failures = [repr(s) for s in stores if not isinstance(s, Store)]
            for s in opened:
                await s.close()
            assert failures == []
        finally:
            await drop_pg_schema(schema)


# ------------------------------------------------------------------------------------------ idempotency


async def test_claim_key_once(store: Store) -> None:
    async with store.unit() as u:
        assert await u.claim_key("slack:trigger:1") is True
        assert await u.claim_key("slack:trigger:1") is False
    async with store.unit() as u:
        assert await u.claim_key("slack:trigger:1") is False
        assert await u.claim_key("slack:trigger:2") is True


# ------------------------------------------------------------------------------------------ requests


async def test_request_round_trip_keeps_every_field(store: Store) -> None:
    r = make_request(
        "r-round234",
        kind=RequestKind.ROLLBACK,
        state=S.RUNNING,
        requester_platform=Platform.TEAMS,
        requester_id="29:teams-id",
        approvals_required=2,
        expires_at=datetime(2026, 11, 28, 11, 0, 0, 654321, tzinfo=UTC),
        updated_at=datetime(2026, 11, 28, 9, 5, 0, 1, tzinfo=UTC),
        sha="a" * 40,
        target_version="v1.4.1",
        run_id=2**40 + 7,
        run_url="https://github.com/acme/platform/actions/runs/1",
        response_url="https://hooks.slack.com/commands/T/1/x",
        detail="ünïcode ✓ detail",
    )
    async with store.unit() as u:
        await u.insert_request(r)
    async with store.unit() as u:
        got = await u.get_request("r-round234")
        by_run = await u.request_by_run(2**40 + 7)
        missing = await u.get_request("r-missing2")
    assert got == r
    assert by_run == r
    assert missing is None
    assert got is not None
    for value in (got.created_at, got.updated_at, got.expires_at):
        assert value is not None and value.utcoffset() == timedelta(0)


async def test_run_heads_reads_what_the_worker_judges_repeats_by(store: Store) -> None:
    """``run_heads``: state, attempt, link and job lines of each run's request, by run id, from one read per 500
    runs; a run no request is bound to is absent."""
    runs = [2**40 + i for i in range(600)]
    async with store.unit() as u:
        for i, run in enumerate(runs):
            jobs = (("build", "success", ""), ("deploy", "failure", "migrate ✓")) if i % 2 else ()
            await u.insert_request(make_request(f"r-head{i:04d}", state=S.RUNNING if i % 3 else S.FAILED,
                                                run_id=run, run_url=f"https://github.com/a/b/actions/runs/{i}",
                                                attempt=1 + i % 4, jobs=jobs))
    async with store.unit() as u:
        heads = await u.run_heads([*runs, 5, 6])
        whole = {run: await u.request_by_run(run) for run in runs}
    assert set(heads) == set(runs)
    for run, r in whole.items():
        assert r is not None
        assert heads[run] == RunHead(state=r.state, attempt=r.attempt, run_url=r.run_url, jobs=r.jobs)
    assert heads[runs[1]].jobs == (("build", "success", ""), ("deploy", "failure", "migrate ✓"))
    assert heads[runs[3]].attempt == 4 and heads[runs[3]].state is S.FAILED and heads[runs[4]].state is S.RUNNING
    assert heads[runs[0]].jobs == ()


async def test_request_without_optional_fields(store: Store) -> None:
    r = make_request("r-plain234", state=S.RECEIVED)
    async with store.unit() as u:
        await u.insert_request(r)
        got = await u.get_request(r.id)
    assert got is not None
    assert got.expires_at is None and got.run_id is None and got.sha == ""
    assert got.updated_at == r.created_at  # updated_at defaults to created_at
    assert got.created_at.tzinfo is not None


async def test_transition_only_from_listed_states(store: Store) -> None:
    async with store.unit() as u:
        await u.insert_request(make_request("r-trans234", state=S.PENDING_APPROVAL))
    async with store.unit() as u:
        assert await u.transition("r-trans234", from_states=[S.APPROVED], to=S.DISPATCHING) is None
        assert await u.transition("r-nothere2", from_states=[S.PENDING_APPROVAL], to=S.APPROVED) is None
        moved = await u.transition("r-trans234", from_states=[S.RECEIVED, S.PENDING_APPROVAL], to=S.APPROVED,
                                   detail="approved by lead", sha="b" * 40)
        assert moved is not None
        assert moved.state is S.APPROVED and moved.detail == "approved by lead" and moved.sha == "b" * 40
        assert moved.updated_at is not None and moved.updated_at >= moved.created_at
        # the same transition again finds the request no longer in a listed state
        assert await u.transition("r-trans234", from_states=[S.PENDING_APPROVAL], to=S.APPROVED) is None
        with pytest.raises(ValueError):
            await u.transition("r-trans234", from_states=[S.APPROVED], to=S.FAILED, state="x")
    async with store.unit() as u:
        got = await u.get_request("r-trans234")
    assert got is not None and got.state is S.APPROVED


async def test_transition_datetime_change_is_stored(store: Store) -> None:
    exp = datetime(2027, 1, 1, 0, 0, tzinfo=UTC)
    async with store.unit() as u:
        await u.insert_request(make_request("r-dtchg234"))
        moved = await u.transition("r-dtchg234", from_states=[S.PENDING_APPROVAL], to=S.PENDING_APPROVAL,
                                   expires_at=exp)
    assert moved is not None and moved.expires_at == exp


async def _race_transition(stores: list[Store], rid: str, n: int = 20) -> list[DeployRequest | None]:
    async def one(i: int) -> DeployRequest | None:
        async with stores[i % len(stores)].unit() as u:
            got = await u.get_request(rid)
            assert got is not None
            await asyncio.sleep(0)  # let the others read the same state before anyone writes
            return await u.transition(rid, from_states=[S.PENDING_APPROVAL], to=S.APPROVED, detail=f"winner {i}")

    return await asyncio.gather(*(one(i) for i in range(n)))


async def test_concurrent_transitions_have_one_winner(database_url: str, store: Store) -> None:
    async with store.unit() as u:
        await u.insert_request(make_request("r-race2345"))
    stores = [store]
    if is_pg(database_url):
        stores.append(await Store.open(database_url))  # a second replica
    try:
        results = await _race_transition(stores, "r-race2345")
    finally:
        for s in stores[1:]:
            await s.close()
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    async with store.unit() as u:
        got = await u.get_request("r-race2345")
    assert got is not None and got.state is S.APPROVED and got.detail == winners[0].detail


async def test_claim_dispatch_lease(store: Store) -> None:
    async with store.unit() as u:
        await u.insert_request(make_request("r-disp2345", state=S.APPROVED))
        await u.insert_request(make_request("r-pend2345", state=S.PENDING_APPROVAL))
    async with store.unit() as u:
        assert await u.claim_dispatch("r-pend2345", lease_s=60) is None
        first = await u.claim_dispatch("r-disp2345", lease_s=60)
        assert first is not None and first.state is S.DISPATCHING
        # held under a live lease: nobody else may claim it
        assert await u.claim_dispatch("r-disp2345", lease_s=60) is None
    # an expired lease (a crashed worker) may be re-claimed, exactly once
    async with store.unit() as u:
        await u.insert_request(make_request("r-crash234", state=S.APPROVED, environment="staging"))  # its own lane
        assert await u.claim_dispatch("r-crash234", lease_s=-1) is not None
    await asyncio.sleep(0.01)
    async with store.unit() as u:
        again = await u.claim_dispatch("r-crash234", lease_s=60)
        assert again is not None and again.state is S.DISPATCHING
        assert await u.claim_dispatch("r-crash234", lease_s=60) is None
        done = await u.transition("r-crash234", from_states=[S.DISPATCHING], to=S.DISPATCHED)
        assert done is not None
        assert await u.claim_dispatch("r-crash234", lease_s=-1) is None  # dispatched: never again


async def test_concurrent_claim_dispatch_one_winner(database_url: str, store: Store) -> None:
    async with store.unit() as u:
        await u.insert_request(make_request("r-cdsp2345", state=S.APPROVED))
    other = await Store.open(database_url) if is_pg(database_url) else store

    async def claim(s: Store) -> DeployRequest | None:
        async with s.unit() as u:
            return await u.claim_dispatch("r-cdsp2345", lease_s=60)

    try:
        results = await asyncio.gather(*(claim(store if i % 2 else other) for i in range(10)))
    finally:
        if other is not store:
            await other.close()
    assert sum(r is not None for r in results) == 1


async def test_claim_dispatch_one_run_per_service_and_environment(store: Store) -> None:
    """Issue 23 item 5: the lane of (service, environment) holds one unfinished run; first come, first served."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    async with store.unit() as u:
        for i, rid in enumerate(("r-lane2341", "r-lane2342", "r-lane2343")):
            await u.insert_request(make_request(rid, state=S.APPROVED, created_at=base + timedelta(minutes=i)))
        await u.insert_request(make_request("r-lane2344", state=S.APPROVED, environment="staging"))
    async with store.unit() as u:
        assert await u.claim_dispatch("r-lane2342", lease_s=60) is None  # an older approved request goes first
        assert (h := await u.lane_holder("r-lane2342")) is not None and h.id == "r-lane2341"
        assert await u.claim_dispatch("r-lane2341", lease_s=60) is not None
        assert await u.claim_dispatch("r-lane2344", lease_s=60) is not None  # another environment: its own lane
        await u.transition("r-lane2341", from_states=[S.DISPATCHING], to=S.RUNNING, run_id=11)
        assert await u.claim_dispatch("r-lane2342", lease_s=60) is None
        assert (h := await u.lane_holder("r-lane2343")) is not None and h.id == "r-lane2341"  # the running one
        await u.transition("r-lane2341", from_states=[S.RUNNING], to=S.SUCCEEDED)
        assert await u.lane_holder("r-lane2342") is None
        assert await u.claim_dispatch("r-lane2343", lease_s=60) is None
        claimed = await u.claim_dispatch("r-lane2342", lease_s=60)
        assert claimed is not None and claimed.state is S.DISPATCHING
        # a run GitHub holds at the protection rule (gate: github, waiting for chat approval) holds the lane too
        await u.transition("r-lane2342", from_states=[S.DISPATCHING], to=S.PENDING_APPROVAL, run_id=12)
        assert await u.claim_dispatch("r-lane2343", lease_s=60) is None


async def test_a_lapsed_dispatch_is_claimed_again_before_an_older_request_approved_meanwhile(store: Store) -> None:
    """A newer request was claimed first (the older one still waited for its approval or its ref) and its dispatch's
    outcome is unknown (GitHub timed out); then the older one was approved. The claimed one holds the lane: when its
    lease runs out it is claimed again (to look for its run), and the older one waits for it. Before, each waited for
    the other for ever (the soak in CI: one request dispatching, nine approved behind it)."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    async with store.unit() as u:
        await u.insert_request(make_request("r-lapse234", state=S.RECEIVED, created_at=base))
        await u.insert_request(make_request("r-lapse235", state=S.APPROVED, created_at=base + timedelta(minutes=1)))
    async with store.unit() as u:
        assert await u.claim_dispatch("r-lapse235", lease_s=-1) is not None  # claimed; its lease has run out
        assert await u.transition("r-lapse234", from_states=[S.RECEIVED], to=S.APPROVED) is not None
        assert await u.claim_dispatch("r-lapse234", lease_s=60) is None  # the lane is held
        assert (h := await u.lane_holder("r-lapse234")) is not None and h.id == "r-lapse235"
        again = await u.claim_dispatch("r-lapse235", lease_s=60)
        assert again is not None and again.state is S.DISPATCHING
        assert await u.claim_dispatch("r-lapse235", lease_s=60) is None  # its new lease holds
        await u.transition("r-lapse235", from_states=[S.DISPATCHING], to=S.SUCCEEDED)
        claimed = await u.claim_dispatch("r-lapse234", lease_s=60)
        assert claimed is not None and claimed.state is S.DISPATCHING


async def test_lane_turns_are_lapsed_claims_and_each_free_lanes_oldest_approved(store: Store) -> None:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    async with store.unit() as u:
        for i, (rid, state, service, env) in enumerate((
                ("r-turn0001", S.APPROVED, "api", "production"), ("r-turn0002", S.APPROVED, "api", "production"),
                ("r-turn0003", S.APPROVED, "api", "staging"), ("r-turn0004", S.APPROVED, "api", "staging"),
                ("r-turn0005", S.PENDING_APPROVAL, "web", "dev"), ("r-turn0006", S.APPROVED, "web", "dev"),
                ("r-turn0007", S.RUNNING, "web", "staging"), ("r-turn0008", S.APPROVED, "web", "staging"),
                ("r-turn0009", S.APPROVED, "worker", "dev"))):
            await u.insert_request(make_request(rid, state=state, service=service, environment=env,
                                                created_at=base + timedelta(minutes=i)))
    async with store.unit() as u:
        assert await u.claim_dispatch("r-turn0003", lease_s=-1) is not None  # claimed; its lease has run out
        assert await u.claim_dispatch("r-turn0009", lease_s=60) is not None  # claimed; its lease holds
        # web/staging is busy (a run), api/staging's approved one waits for the lapsed claim: neither is a turn
        assert await u.lane_turns() == ["r-turn0001", "r-turn0003", "r-turn0006"]
        assert await u.lane_turns(limit=2) == ["r-turn0001", "r-turn0003"]


async def test_concurrent_claims_in_one_lane_one_winner(database_url: str, store: Store) -> None:
    """Two replicas claiming different requests of one (service, environment) at once: one dispatches."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    rids = [f"r-conc234{i}" for i in range(2, 8)]
    async with store.unit() as u:
        for rid in rids:  # asked at the same instant: none is older, so only the lane decides
            await u.insert_request(make_request(rid, state=S.APPROVED, created_at=base))
    other = await Store.open(database_url) if is_pg(database_url) else store

    async def claim(s: Store, rid: str) -> DeployRequest | None:
        async with s.unit() as u:
            return await u.claim_dispatch(rid, lease_s=60)

    try:
        results = await asyncio.gather(*(claim(store if i % 2 else other, rids[0]) for i in range(4)),
                                       *(claim(store if i % 2 else other, rid) for i, rid in enumerate(rids)))
    finally:
        if other is not store:
            await other.close()
    assert sum(r is not None for r in results) == 1



async def test_a_failed_run_is_not_re_run_beside_another_run_of_its_lane_nor_over_a_newer_one(store: Store) -> None:
    """``/deploy rerun`` (the card's Re-run button) of a failed run: refused while another run of its lane is under
    way, and once a newer request of the lane has started a run (re-running would deploy the older version over
    it); a newer request that has not run yet, or another lane's, does not stop it."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    async with store.unit() as u:
        await u.insert_request(make_request("r-rern0001", state=S.FAILED, run_id=21, created_at=base))
        await u.insert_request(make_request("r-rern0002", state=S.APPROVED, created_at=base + timedelta(minutes=1)))
        await u.insert_request(make_request("r-rern0003", state=S.SUCCEEDED, run_id=23, environment="staging",
                                            created_at=base + timedelta(minutes=2)))
        await u.insert_request(make_request("r-rern0004", state=S.RUNNING, run_id=24, service="web",
                                            created_at=base + timedelta(minutes=3)))  # another service's lane
    async with store.unit() as u:
        assert await u.rerun_blocker("r-rern0001") is None  # the newer one has not run; other lanes do not count
        assert await u.claim_dispatch("r-rern0002", lease_s=60) is not None
        assert await u.rerun_blocker("r-rern0001") == ("r-rern0002", "newer")  # being dispatched: it will run
        await u.transition("r-rern0002", from_states=[S.DISPATCHING], to=S.RUNNING, run_id=22)
        assert await u.rerun_blocker("r-rern0001") == ("r-rern0002", "newer")
        await u.transition("r-rern0002", from_states=[S.RUNNING], to=S.FAILED)
        assert await u.rerun_blocker("r-rern0001") == ("r-rern0002", "newer")  # it ran, whatever became of it
        assert await u.rerun_blocker("r-rern0002") is None  # the newest failed run may be re-run
        await u.transition("r-rern0002", from_states=[S.FAILED], to=S.DISPATCHED)  # its re-run
        assert await u.rerun_blocker("r-rern0001") == ("r-rern0002", "newer")
        assert await u.rerun_blocker("r-missing1") is None


async def test_a_re_run_waits_for_an_older_run_and_knows_what_ran_after_it_whatever_the_order_made(
        store: Store) -> None:
    """Requests of a lane do not run in the order they were made: one held for approval runs after a newer rollback
    that needed none. What ran after the failed run counts as newer (it changed after the failure); an older run
    still under way (held at GitHub's protection rule) makes the lane busy, and once rejected there it still counts
    (an earlier attempt of it may have deployed: fail closed); a request rejected before any run, or one with no run
    yet, does not; a tie counts as newer, and so does a newer request that ran before the failed one (fail closed)."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    failed_at = base + timedelta(hours=1)
    async with store.unit() as u:
        await u.insert_request(make_request("r-ordr0001", state=S.SUCCEEDED, run_id=42, created_at=base,
                                            updated_at=failed_at + timedelta(minutes=5)))  # approved late, ran last
        await u.insert_request(make_request("r-ordr0002", kind=RequestKind.ROLLBACK, state=S.FAILED, run_id=41,
                                            created_at=base + timedelta(minutes=1), updated_at=failed_at))
    async with store.unit() as u:
        assert await u.rerun_blocker("r-ordr0002") == ("r-ordr0001", "newer")
    async with store.unit() as u:  # the same, but it ran (and ended) before the failed one: the re-run may go
        await u.c.execute("UPDATE requests SET updated_at = ? WHERE id = ?",
                          (failed_at - timedelta(minutes=30)).timestamp(), "r-ordr0001")
        assert await u.rerun_blocker("r-ordr0002") is None
        await u.insert_request(make_request("r-ordr0003", state=S.PENDING_APPROVAL, run_id=43, created_at=base,
                                            updated_at=base))  # older, its run held at the protection rule
        assert await u.rerun_blocker("r-ordr0002") == ("r-ordr0003", "busy")
        await u.transition("r-ordr0003", from_states=[S.PENDING_APPROVAL], to=S.REJECTED)
        assert await u.rerun_blocker("r-ordr0002") == ("r-ordr0003", "newer")
        await u.c.execute("DELETE FROM requests WHERE id = ?", "r-ordr0003")
        await u.insert_request(make_request("r-ordr0004", state=S.REJECTED, created_at=base + timedelta(minutes=2)))
        await u.insert_request(make_request("r-ordr0005", state=S.APPROVED, created_at=base + timedelta(minutes=3)))
        assert await u.rerun_blocker("r-ordr0002") is None  # rejected in chat before any run; not run yet
        await u.insert_request(make_request("r-ordr0006", state=S.SUCCEEDED, created_at=base + timedelta(minutes=1),
                                            updated_at=base + timedelta(minutes=1)))  # a tie; its run id not known
        assert await u.rerun_blocker("r-ordr0002") == ("r-ordr0006", "newer")  # made with it, ran before it
        await u.insert_request(make_request("r-ordr0007", state=S.DISPATCHING, created_at=base,
                                            updated_at=base))  # busy and older, beside a newer one
        assert await u.rerun_blocker("r-ordr0002") == ("r-ordr0006", "newer")  # the lasting reason first


async def test_a_re_run_and_a_claim_in_one_lane_at_once_start_one_run(database_url: str, store: Store) -> None:
    """Two replicas, one re-running a failed run while the other claims an approved request of the same lane:
    the lane's lock orders them, so the second sees the first's run and does not start its own."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    async with store.unit() as u:
        await u.insert_request(make_request("r-rrace001", state=S.FAILED, run_id=31, created_at=base))
        await u.insert_request(make_request("r-rrace002", state=S.APPROVED, created_at=base + timedelta(minutes=1)))
    other = await Store.open(database_url) if is_pg(database_url) else store

    async def rerun(s: Store) -> bool:
        async with s.unit() as u:
            if await u.rerun_blocker("r-rrace001") is not None:
                return False
            await asyncio.sleep(0.05)  # the other replica's claim comes meanwhile
            return await u.transition("r-rrace001", from_states=[S.FAILED], to=S.DISPATCHED) is not None

    async def claim(s: Store) -> bool:
        await asyncio.sleep(0.01)
        async with s.unit() as u:
            return await u.claim_dispatch("r-rrace002", lease_s=60) is not None

    try:
        results = await asyncio.gather(rerun(store), claim(other))
    finally:
        if other is not store:
            await other.close()
    assert sum(results) == 1, results

async def test_requests_in_and_find(store: Store) -> None:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    async with store.unit() as u:
        await u.insert_request(make_request("r-aaaa2345", state=S.APPROVED, created_at=base))
        await u.insert_request(make_request("r-bbbb2345", state=S.PENDING_APPROVAL,
                                            created_at=base + timedelta(minutes=1)))
        await u.insert_request(make_request("r-cccc2345", state=S.SUCCEEDED, service="web",
                                            created_at=base + timedelta(minutes=2)))
    async with store.unit() as u:
        open_ = await u.requests_in([S.APPROVED, S.PENDING_APPROVAL])
        api = await u.find_requests(service="api")
        done = await u.find_requests(states=[S.SUCCEEDED])
    assert [r.id for r in open_] == ["r-aaaa2345", "r-bbbb2345"]  # oldest first
    assert [r.id for r in api] == ["r-bbbb2345", "r-aaaa2345"]  # newest first
    assert [r.id for r in done] == ["r-cccc2345"]


# ------------------------------------------------------------------------------------------ approvals


async def test_approvals_unique_per_person(store: Store) -> None:
    t = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
    async with store.unit() as u:
        await u.insert_request(make_request("r-appr2345"))
        assert await u.add_approval(Approval("r-appr2345", "lead", Platform.SLACK, "U0LEAD", "approve", "lgtm", t,
                                             "c" * 40))
        # the same person through another platform identity is still the same approver
        assert not await u.add_approval(Approval("r-appr2345", "lead", Platform.TEAMS, "29:lead", "reject", "",
                                                 t + timedelta(seconds=1)))
        assert await u.add_approval(Approval("r-appr2345", "sre", Platform.SLACK, "U0SRE", "reject", "no",
                                             t + timedelta(seconds=2)))
    async with store.unit() as u:
        got = await u.approvals("r-appr2345")
        none = await u.approvals("r-other234")
    assert [(a.person, a.decision, a.platform_id) for a in got] == [
        ("lead", "approve", "U0LEAD"), ("sre", "reject", "U0SRE")
    ]
    assert got[0] == Approval("r-appr2345", "lead", Platform.SLACK, "U0LEAD", "approve", "lgtm", t, "c" * 40)
    assert none == []


async def test_concurrent_approvals_by_one_person_count_once(database_url: str, store: Store) -> None:
    async with store.unit() as u:
        await u.insert_request(make_request("r-capr2345"))
    other = await Store.open(database_url) if is_pg(database_url) else store

    async def approve(i: int) -> bool:
        s = other if i % 2 else store
        async with s.unit() as u:
            return await u.add_approval(Approval("r-capr2345", "lead", Platform.SLACK, "U0LEAD", "approve", "",
                                                 datetime.now(UTC)))

    try:
        results = await asyncio.gather(*(approve(i) for i in range(10)))
    finally:
        if other is not store:
            await other.close()
    assert results.count(True) == 1


# ------------------------------------------------------------------------------------------ audit


async def test_audit_append_and_since(store: Store) -> None:
    t0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    entries = [
        AuditEntry(t0 + timedelta(minutes=i), f"actor{i}", "deploy", f"r-{i}", "C0DEPLOYS", "ok", f"d{i}")
        for i in range(3)
    ]
    async with store.unit() as u:
        for e in entries:
            await u.audit(e)
    async with store.unit() as u:
        everything = await u.audit_log()
        since = await u.audit_log(since=t0 + timedelta(minutes=1))
        limited = await u.audit_log(limit=1)
    assert everything == entries
    assert since == entries[1:]
    assert limited == entries[:1]
    assert all(e.at.tzinfo is not None for e in everything)


# ------------------------------------------------------------------------------------------ outbox


async def test_enqueue_is_idempotent_by_key(store: Store) -> None:
    async with store.unit() as u:
        assert await u.enqueue(msg("k1", title="first")) is True
        assert await u.enqueue(msg("k1", title="second")) is False
    async with store.unit() as u:
        due = await u.outbox_due(limit=10, lease_s=60)
    assert len(due) == 1
    assert due[0].key == "k1" and due[0].card.title == "first" and due[0].id > 0 and due[0].attempts == 0
    assert due[0].destination == Destination(Platform.SLACK, "C0DEPLOYS")


async def test_outbox_round_trip_of_message_fields(store: Store) -> None:
    from bot.domain import Button, Fact, Link

    card = Card(kind="approval", title="Deploy api", status="waiting", tone="warning", text="text ✓",
                facts=(Fact("Ref", "v1"),), buttons=(Button("approve", "Approve", "r-x", "primary"),),
                links=(Link("run", "https://x"),), footer="f", mention="here")
    m = OutboundMessage(key="full", destination=Destination(Platform.SLACK, "C0APPROVALS", "U0DEV"),
                        op=Op.EPHEMERAL, card=card, card_key="req:r-x")
    async with store.unit() as u:
        await u.enqueue(m)
        (got,) = await u.outbox_due(limit=5, lease_s=60)
    assert got.card == card and got.destination == m.destination and got.op is Op.EPHEMERAL
    assert got.card_key == "req:r-x"


async def test_outbox_due_leases_messages(store: Store) -> None:
    async with store.unit() as u:
        for i in range(5):
            await u.enqueue(msg(f"m{i}", card_key=f"c{i}", channel=f"C0CHAN{i}"))
    async with store.unit() as u:
        first = await u.outbox_due(limit=3, lease_s=60)
    async with store.unit() as u:
        second = await u.outbox_due(limit=10, lease_s=60)
    async with store.unit() as u:
        third = await u.outbox_due(limit=10, lease_s=60)
    assert [m.key for m in first] == ["m0", "m1", "m2"]  # oldest first
    assert [m.key for m in second] == ["m3", "m4"]  # claimed ones are not claimed again
    assert third == []


async def test_outbox_due_keeps_each_channel_in_order(store: Store) -> None:
    """Behind a leased or not-yet-due message, nothing later of the same channel is claimed."""
    async with store.unit() as u:
        for i in range(3):
            await u.enqueue(msg(f"a{i}", card_key=f"c{i}", channel="C0A"))
        await u.enqueue(msg("b0", card_key="x", channel="C0B"))
    async with store.unit() as u:
        first = await u.outbox_due(limit=1, lease_s=60)
    async with store.unit() as u:
        second = await u.outbox_due(limit=10, lease_s=60)
    assert [m.key for m in first] == ["a0"]
    assert [m.key for m in second] == ["b0"]  # a1, a2 wait behind the leased a0
    async with store.unit() as u:
        await u.outbox_retry(first[0].id, delay_s=60, error="500", give_up=False)
        assert await u.outbox_due(limit=10, lease_s=60) == []  # a0 retries later: a1 must not overtake it


async def test_a_post_without_a_card_waits_in_its_channel_lane(store: Store) -> None:
    """A digest (a post with no card) queued behind a card that waits for a retry does not overtake it; a
    post in a card's thread is a lane of its own."""
    async with store.unit() as u:
        await u.enqueue(msg("card", card_key="c1", channel="C0A"))
        await u.enqueue(msg("digest", card_key="", channel="C0A", op=Op.POST))
        await u.enqueue(msg("thread", card_key="c1", channel="C0A", op=Op.POST))
    async with store.unit() as u:
        first = await u.outbox_due(limit=10, lease_s=60)
    assert [m.key for m in first] == ["card", "thread"]
    async with store.unit() as u:
        await u.outbox_retry(first[0].id, delay_s=60, error="500", give_up=False)
        await u.outbox_release(first[1].id, delay_s=60)
        assert await u.outbox_due(limit=10, lease_s=60) == []  # the digest waits behind the card


async def test_outbox_due_reclaims_after_lease_expiry(store: Store) -> None:
    async with store.unit() as u:
        await u.enqueue(msg("m0"))
        assert [m.key for m in await u.outbox_due(limit=5, lease_s=-1)] == ["m0"]
    await asyncio.sleep(0.01)
    async with store.unit() as u:
        assert [m.key for m in await u.outbox_due(limit=5, lease_s=60)] == ["m0"]
        assert await u.outbox_due(limit=5, lease_s=60) == []


async def test_outbox_release_puts_back_without_attempt(store: Store) -> None:
    async with store.unit() as u:
        await u.enqueue(msg("m0"))
        (m,) = await u.outbox_due(limit=5, lease_s=60)
        await u.outbox_release(m.id, delay_s=0)
    await asyncio.sleep(0.01)
    async with store.unit() as u:
        (again,) = await u.outbox_due(limit=5, lease_s=60)
        assert again.attempts == 0
        await u.outbox_release(m.id, delay_s=60)
        assert await u.outbox_due(limit=5, lease_s=60) == []  # not due yet


async def test_two_stores_claim_disjoint_sets(pg_url: str) -> None:
    store = await Store.open(pg_url)
    async with store.unit() as u:
        for i in range(60):
            await u.enqueue(msg(f"m{i:02d}", card_key=f"c{i}", channel=f"C0CHAN{i}"))
    other = await Store.open(pg_url)
    try:
        # one replica holds its claim's transaction open while the other claims: the other must not wait
        # for it (and must not claim behind it, which could reorder a channel): it gets nothing this pass
        async def claim_b() -> list[OutboundMessage]:
            async with other.unit() as u2:
                return await u2.outbox_due(limit=20, lease_s=60)

        async with store.unit() as u1:
            a = await u1.outbox_due(limit=10, lease_s=60)
            assert await asyncio.wait_for(claim_b(), timeout=5) == []
        b = await asyncio.wait_for(claim_b(), timeout=5)
        # and many concurrent claims from both replicas
        async def claim(s: Store) -> list[str]:
            async with s.unit() as u:
                return [m.key for m in await u.outbox_due(limit=7, lease_s=60)]

        rest: list[list[str]] = []
        for _ in range(50):  # concurrent rounds from both replicas until everything is claimed
            rest += await asyncio.gather(*(claim(store if i % 2 else other) for i in range(4)))
            if sum(map(len, rest)) + len(a) + len(b) >= 60:
                break
    finally:
        await other.close()
        await store.close()
    keys = [m.key for m in a] + [m.key for m in b] + [k for batch in rest for k in batch]
    assert len(a) == 10 and len(b) == 20
    assert len(keys) == len(set(keys)) == 60


async def test_outbox_done_supersedes_older_updates_of_the_same_card_only(store: Store) -> None:
    async with store.unit() as u:
        await u.enqueue(msg("x1", card_key="req:x"))
        await u.enqueue(msg("y1", card_key="req:y"))  # another card, same channel
        await u.enqueue(msg("x1-other", card_key="req:x", channel="C0OTHER"))  # same card, another channel
        await u.enqueue(msg("x-thread", card_key="req:x", op=Op.POST))  # a thread reply under the card
        await u.enqueue(msg("x-teams", card_key="req:x", platform=Platform.TEAMS))  # another platform
        await u.enqueue(msg("x2", card_key="req:x"))
        await u.enqueue(msg("x3", card_key="req:x"))
        await u.enqueue(msg("x4", card_key="req:x"))  # newer than the one sent: stays pending
        due = {r["key"]: r for r in await u.c.fetch("SELECT key, id FROM outbox")}
        await u.outbox_done(due["x3"]["id"], supersede_card=True)
    assert await states(store) == {
        "x1": "superseded", "x2": "superseded", "x3": "sent", "x4": "pending",
        "y1": "pending", "x1-other": "pending", "x-thread": "pending", "x-teams": "pending",
    }
    async with store.unit() as u:
        assert (await u.outbox_counts()) == {"superseded": 2, "sent": 1, "pending": 5}


async def test_outbox_done_without_supersede(store: Store) -> None:
    async with store.unit() as u:
        await u.enqueue(msg("x1", card_key="req:x"))
        await u.enqueue(msg("x2", card_key="req:x"))
        due = {r["key"]: r for r in await u.c.fetch("SELECT key, id FROM outbox")}
        await u.outbox_done(due["x2"]["id"], supersede_card=False)
    assert await states(store) == {"x1": "pending", "x2": "sent"}


async def test_newer_pending_card_and_supersede(store: Store) -> None:
    async with store.unit() as u:
        await u.enqueue(msg("x1", card_key="req:x"))
        await u.enqueue(msg("x2", card_key="req:x"))
        ids = {r["key"]: int(r["id"]) for r in await u.c.fetch("SELECT key, id FROM outbox")}
        x1 = dataclasses.replace(msg("x1", card_key="req:x"), id=ids["x1"])
        x2 = dataclasses.replace(msg("x2", card_key="req:x"), id=ids["x2"])
        assert await u.newer_pending_card(x1) is True
        assert await u.newer_pending_card(x2) is False
        assert await u.supersede_older(x1) == 1
    assert await states(store) == {"x1": "superseded", "x2": "pending"}


async def test_outbox_retry_and_give_up(store: Store) -> None:
    async with store.unit() as u:
        await u.enqueue(msg("a", card_key="a"))
        await u.enqueue(msg("b", card_key="b", channel="C0OTHER"))
        due = {m.key: m for m in await u.outbox_due(limit=10, lease_s=60)}
        await u.outbox_retry(due["a"].id, delay_s=0, error="slack answered 500", give_up=False)
        await u.outbox_retry(due["b"].id, delay_s=0, error="channel_not_found", give_up=True)
    await asyncio.sleep(0.01)
    async with store.unit() as u:
        again = await u.outbox_due(limit=10, lease_s=60)
        counts = await u.outbox_counts()
        rows = await u.c.fetch("SELECT key, last_error FROM outbox ORDER BY id")
    assert [(m.key, m.attempts) for m in again] == [("a", 1)]  # retried, attempt counted; b is never due
    assert counts == {"pending": 1, "failed": 1}
    assert [r["last_error"] for r in rows] == ["slack answered 500", "channel_not_found"]


async def test_outbox_retry_delay_defers(store: Store) -> None:
    async with store.unit() as u:
        await u.enqueue(msg("a"))
        (m,) = await u.outbox_due(limit=10, lease_s=60)
        await u.outbox_retry(m.id, delay_s=60, error="x" * 2000, give_up=False)
        assert await u.outbox_due(limit=10, lease_s=60) == []


# ------------------------------------------------------------------------------------------ message refs


async def test_message_ref_upsert(store: Store) -> None:
    async with store.unit() as u:
        assert await u.message_ref(Platform.SLACK, "C0DEPLOYS", "req:x") is None
        await u.save_message_ref(Platform.SLACK, "C0DEPLOYS", "req:x", "1700000000.000100")
        await u.save_message_ref(Platform.SLACK, "C0OTHER", "req:x", "1700000000.000200")
    async with store.unit() as u:
        assert await u.message_ref(Platform.SLACK, "C0DEPLOYS", "req:x") == "1700000000.000100"
        await u.save_message_ref(Platform.SLACK, "C0DEPLOYS", "req:x", "1700000000.000300")
    async with store.unit() as u:
        assert await u.message_ref(Platform.SLACK, "C0DEPLOYS", "req:x") == "1700000000.000300"
        assert await u.message_ref(Platform.SLACK, "C0OTHER", "req:x") == "1700000000.000200"
        assert await u.message_ref(Platform.TEAMS, "C0DEPLOYS", "req:x") is None


# ------------------------------------------------------------------------------------------ inbox


async def test_inbox_add_dedup_claim_done(store: Store) -> None:
    async with store.unit() as u:
        assert await u.inbox_add(source="slack", key="ev1", kind="command", body='{"a":1}') is True
        assert await u.inbox_add(source="slack", key="ev1", kind="command", body='{"a":2}') is False
        assert await u.inbox_add(source="slack", key="ev2", kind="action", body="{}") is True
        assert await u.inbox_add(source="github", key="gh1", kind="workflow_run", body="{}") is True
    async with store.unit() as u:
        claimed = await u.inbox_claim(source="slack", limit=10, lease_s=60)
        assert await u.inbox_claim(source="slack", limit=10, lease_s=60) == []  # leased
    assert [(r["key"], r["kind"], r["body"], r["attempts"]) for r in claimed] == [
        ("ev1", "command", '{"a":1}', 0), ("ev2", "action", "{}", 0)
    ]
    async with store.unit() as u:
        await u.inbox_done(claimed[0]["id"])
        await u.inbox_done(claimed[1]["id"], state="failed", error="boom")
        counts = await u.inbox_counts()
    assert counts == {"slack:done": 1, "slack:failed": 1, "github:pending": 1}
    async with store.unit() as u:
        assert [r["key"] for r in await u.inbox_claim(source="github", limit=10, lease_s=-1)] == ["gh1"]
    await asyncio.sleep(0.01)
    async with store.unit() as u:
        # done items are never claimed again; an expired lease is
        assert await u.inbox_claim(source="slack", limit=10, lease_s=60) == []
        assert [r["key"] for r in await u.inbox_claim(source="github", limit=10, lease_s=60)] == ["gh1"]


async def test_inbox_claimable_is_held_by_its_transaction_and_leased_or_done_before_it_ends(
        database_url: str, store: Store) -> None:
    """``inbox_claimable`` reads without leasing; the caller marks some rows done and leases the others in the same
    transaction (the worker's repeats: one UPDATE of their rows, not a lease and then "done"). Meanwhile another
    replica's claim does not get them (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite: BEGIN IMMEDIATE serializes)."""
    async with store.unit() as u:
        for key in ("a", "b", "c"):
            assert await u.inbox_add(source="github", key=key, kind="workflow_run", body="{}") is True
    other = await Store.open(database_url) if is_pg(database_url) else None
    try:
        async with store.unit() as u:
            rows = await u.inbox_claimable(source="github", limit=10)
            assert [r["key"] for r in rows] == ["a", "b", "c"]
            if other is not None:  # a second replica, while this transaction holds the rows
                async with other.unit() as v:
                    assert await v.inbox_claim(source="github", limit=10, lease_s=60) == []
            await u.inbox_done_many([rows[0]["id"]])
            await u.inbox_lease([rows[1]["id"], rows[2]["id"]], lease_s=60)
            await u.inbox_lease([], lease_s=60)  # nothing to lease: no statement
    finally:
        if other is not None:
            await other.close()
    async with store.unit() as u:
        got = {r["key"]: r for r in await u.c.fetch("SELECT key, state, lease_owner, lease_until, attempts FROM inbox")}
        assert await u.inbox_claimable(source="github", limit=10) == []  # one done, two leased
    assert (got["a"]["state"], got["a"]["lease_owner"], got["a"]["lease_until"], got["a"]["attempts"]) == (
        "done", "", None, 1)
    assert [got[k]["state"] for k in ("b", "c")] == ["pending", "pending"]
    assert all(got[k]["lease_owner"] and got[k]["lease_until"] is not None for k in ("b", "c"))


# ------------------------------------------------------------------------------------------ locks


async def test_locks(store: Store) -> None:
    now = datetime.now(UTC)
    mine = Lock("production", "lead", "release freeze", now, now + timedelta(hours=2))
    async with store.unit() as u:
        assert await u.acquire_lock(mine) is True
        assert await u.acquire_lock(Lock("production", "dev", "", now, None)) is False
        assert await u.acquire_lock(Lock("staging", "dev", "", now, None)) is True
        held = await u.get_lock("production")
    assert held is not None and held.holder == "lead" and held.reason == "release freeze"
    assert held.expires_at is not None and abs((held.expires_at - mine.expires_at).total_seconds()) < 1e-3
    async with store.unit() as u:
        assert await u.release_lock("production") is True
        assert await u.release_lock("production") is False
        assert await u.get_lock("production") is None
        assert (await u.get_lock("staging")) is not None  # no expiry: held until released


async def test_expired_lock_is_replaced(store: Store) -> None:
    past = datetime.now(UTC) - timedelta(hours=3)
    async with store.unit() as u:
        assert await u.acquire_lock(Lock("production", "lead", "old", past, past + timedelta(hours=1)))
        assert await u.get_lock("production") is None  # expired: not shown as held
        assert await u.acquire_lock(Lock("production", "sre", "new", datetime.now(UTC), None)) is True
        held = await u.get_lock("production")
    assert held is not None and held.holder == "sre" and held.expires_at is None


# ------------------------------------------------------------------------------------------ deployments


async def test_deployments_latest_first(store: Store) -> None:
    t = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    deps = [Deployment("api", "production", f"v1.{i}", f"{i}" * 40, f"r-{i}", "dev", t + timedelta(hours=i))
            for i in range(3)]
    async with store.unit() as u:
        for d in deps:
            await u.record_deployment(d)
        await u.record_deployment(Deployment("api", "staging", "v9", "9" * 40, "r-9", "dev", t))
    async with store.unit() as u:
        latest_two = await u.deployments("api", "production")
        all_three = await u.deployments("api", "production", limit=10)
        none = await u.deployments("web", "production")
    assert latest_two == [deps[2], deps[1]]
    assert all_three == deps[::-1]
    assert none == []


# ------------------------------------------------------------------------------------------ atomicity


class Boom(Exception):
    pass


async def test_a_failing_unit_leaves_nothing_behind(store: Store) -> None:
    async with store.unit() as u:
        await u.insert_request(make_request("r-keep2345", state=S.PENDING_APPROVAL))
    now = datetime.now(UTC)
    with pytest.raises(Boom):
        async with store.unit() as u:
            await u.insert_request(make_request("r-gone2345"))
            await u.transition("r-keep2345", from_states=[S.PENDING_APPROVAL], to=S.APPROVED)
            await u.add_approval(Approval("r-keep2345", "lead", Platform.SLACK, "U0LEAD", "approve", "", now))
            assert await u.claim_key("key-1")
            await u.enqueue(msg("out-1"))
            await u.audit(AuditEntry(now, "lead", "approve", "r-keep2345", "C0", "ok"))
            await u.save_message_ref(Platform.SLACK, "C0", "req:x", "1.2")
            await u.inbox_add(source="slack", key="in-1", kind="command", body="{}")
            await u.acquire_lock(Lock("production", "lead", "", now, None))
            await u.record_deployment(Deployment("api", "production", "v1", "a" * 40, "r-keep2345", "lead", now))
            raise Boom
    async with store.unit() as u:
        assert await u.get_request("r-gone2345") is None
        kept = await u.get_request("r-keep2345")
        assert kept is not None and kept.state is S.PENDING_APPROVAL
        assert await u.approvals("r-keep2345") == []
        assert await u.claim_key("key-1") is True
        assert await u.outbox_counts() == {}
        assert await u.audit_log() == []
        assert await u.message_ref(Platform.SLACK, "C0", "req:x") is None
        assert await u.inbox_counts() == {}
        assert await u.get_lock("production") is None
        assert await u.deployments("api", "production") == []
    # the store is still usable after a rolled-back unit
    assert await store.ping()


async def test_a_cancelled_unit_rolls_back(store: Store) -> None:
    started = asyncio.Event()

    async def slow() -> None:
        async with store.unit() as u:
            await u.enqueue(msg("cancelled-1"))
            started.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(slow())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with store.unit() as u:
        assert await u.outbox_counts() == {}


async def test_group_commit_records_each_key_once_across_replicas(pg_url: str) -> None:
    """Two replicas recording overlapping keys at once, in opposite orders: every call succeeds (no
    deadlock between their batched transactions) and exactly one of them records each key."""
    one, two = await Store.open(pg_url), await Store.open(pg_url)
    try:
        keys = [f"k{i:03d}" for i in range(120)]

        async def record(s: Store, key: str) -> bool:
            return await s.record_inbox(source="t", key=key, kind="k", body="{}")

        results = await asyncio.gather(*(record(one, k) for k in keys), *(record(two, k) for k in reversed(keys)))
        async with one.unit() as u:
            rows = await u.c.fetch("SELECT key FROM inbox WHERE source = 't'")
    finally:
        await one.close()
        await two.close()
    assert sum(results) == len(keys)
    assert sorted(r["key"] for r in rows) == keys


async def test_group_commit_answers_each_caller_after_its_row_is_committed(store: Store) -> None:
    results = await asyncio.gather(*(store.record_inbox(source="t", key=f"k{i % 50}", kind="k", body="{}")
                                     for i in range(200)))
    assert sum(results) == 50  # duplicates within and across batches: one True per key
    async with store.unit() as u:
        assert len(await u.c.fetch("SELECT key FROM inbox WHERE source = 't'")) == 50


async def test_prune_drops_only_finished_bookkeeping_past_retention(store: Store) -> None:
    async with store.unit() as u:
        await u.enqueue(msg("old-sent", card_key="a"))
        await u.enqueue(msg("old-pending", card_key="b", channel="C0OTHER"))
        await u.inbox_add(source="github", key="old-done", kind="k", body="{}")
        await u.inbox_add(source="github", key="old-pending", kind="k", body="{}")
        await u.claim_key("old-key")
        await u.c.execute("UPDATE outbox SET created_at = 0")
        await u.c.execute("UPDATE inbox SET received_at = 0")
        await u.c.execute("UPDATE idempotency SET at = 0")
        await u.c.execute("UPDATE outbox SET state = 'sent' WHERE key = 'old-sent'")
        await u.c.execute("UPDATE inbox SET state = 'done' WHERE key = 'old-done'")
        await u.audit(AuditEntry(datetime(2000, 1, 1, tzinfo=UTC), "a", "deploy", "t", "c", "ok"))
        await u.enqueue(msg("new-sent", card_key="c", channel="C0THIRD"))
        assert await u.prune(older_than_s=86400) == (3, False)
        assert [r["key"] for r in await u.c.fetch("SELECT key FROM outbox ORDER BY id")] == ["old-pending",
                                                                                            "new-sent"]
        assert [r["key"] for r in await u.c.fetch("SELECT key FROM inbox")] == ["old-pending"]
        assert len(await u.audit_log()) == 1  # the audit log is the record: never pruned
    async with store.unit() as u:  # a large backlog goes in bounded transactions
        for i in range(5):
            await u.inbox_add(source="github", key=f"bulk-{i}", kind="k", body="{}")
        await u.c.execute("UPDATE inbox SET received_at = 0, state = 'done' WHERE key LIKE 'bulk-%'")
        assert await u.prune(older_than_s=86400, limit=2) == (2, True)
        assert await u.prune(older_than_s=86400, limit=2) == (2, True)
        assert await u.prune(older_than_s=86400, limit=2) == (1, False)
        assert [r["key"] for r in await u.c.fetch("SELECT key FROM inbox")] == ["old-pending"]


async def test_one_replica_holds_a_job_lease(store: Store) -> None:
    """Issue 24: a periodic job (reconcile, redeliver) is held by one owner; another takes it only once the lease
    ran out or was released, and only the holder records the job's progress."""
    from bot.store.leases import job_mark, release_owned, set_job_mark, take_job

    async with store.unit() as u:
        assert await take_job(u.c, "reconcile", lease_s=60, owner="a")
        assert not await take_job(u.c, "reconcile", lease_s=60, owner="b")
        assert await take_job(u.c, "reconcile", lease_s=60, owner="a")  # renewed by its holder
        assert not await set_job_mark(u.c, "reconcile", "7", owner="b")
        assert await set_job_mark(u.c, "reconcile", "7", owner="a")
        assert await job_mark(u.c, "reconcile") == "7"
        assert (await release_owned(u.c, owner="a"))["jobs"] == 1
        assert await take_job(u.c, "reconcile", lease_s=60, owner="b")
        assert await take_job(u.c, "redeliver", lease_s=-1, owner="b")  # already run out
        assert await take_job(u.c, "redeliver", lease_s=60, owner="a")


async def test_a_claim_in_another_schema_of_the_database_does_not_starve_this_one(pg_url: str) -> None:
    """Advisory locks are database-wide (postgresql.org/docs/current/explicit-locking.html#ADVISORY-LOCKS): the
    outbox claim's lock is keyed by the schema too, so another bot (or test run) using another schema of the same
    database, caught in the middle of its own claim, does not make this one come back empty."""
    import asyncpg

    from tests.conftest import PG_DSN, drop_pg_schema, new_pg_schema

    other, _ = await new_pg_schema()
    conn = await asyncpg.connect(PG_DSN)
    s = await Store.open(pg_url)
    try:
        async with s.unit() as u:
            await u.enqueue(msg("card", card_key="c1", channel="C0A"))
        async with conn.transaction():  # the other schema's claimer holds its lock, in any version of the key
            await conn.execute(f'SET LOCAL search_path = "{other}"')
            await conn.execute("SELECT pg_advisory_xact_lock(4243)")
            await conn.execute("SELECT pg_advisory_xact_lock(4243, hashtext(current_schema()))")
            async with s.unit() as u:
                assert [m.key for m in await u.outbox_due(limit=10, lease_s=60)] == ["card"]
    finally:
        await s.close()
        await conn.close()
        await drop_pg_schema(other)
