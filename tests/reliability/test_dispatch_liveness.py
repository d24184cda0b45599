"""Nothing waits for ever to be dispatched, and nothing is dispatched twice, when a claim lapses (found by a review
of the lane fix after CI's soak ended with a request dispatching and nine approved behind it; docs/reliability.md).
The real app (sandbox Stack: worker, GitHub client) against the GitHub fake; requests are written to the store as
they stand after the events named in each test."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sandbox.github_payloads as gp
from bot.domain import RequestState as S
from chatops.app import STORE, WORKER
from sandbox.stack import Stack, wait_for
from tests.reliability.helpers import rows
from tests.unit.store.test_contract import make_request


async def _insert(stack: Stack, *requests: object) -> None:
    assert stack.app is not None
    async with stack.app[STORE].unit() as u:
        for r in requests:
            await u.insert_request(r)  # type: ignore[arg-type]


async def _lapse(stack: Stack, rid: str) -> None:
    """The request's claim lease runs out (DISPATCH_LEASE_S, 60 s, has passed)."""
    assert stack.app is not None
    async with stack.app[STORE].unit() as u:
        await u.c.execute("UPDATE requests SET lease_until = 0 WHERE id = ?", rid)


def _dispatched(stack: Stack, rid: str) -> int:
    return sum(1 for d in stack.github.dispatches if d.inputs.get("request_id") == rid)


async def test_a_hundred_waiting_in_one_lane_do_not_hide_another_lanes_turn(tmp_path: Path) -> None:
    """api/dev runs one request and 100 more wait behind it; web/dev's request, newer than all of them, is
    dispatched (the worker read only the 100 oldest waiting requests, so it never saw it)."""
    now = datetime.now(UTC)
    async with Stack(database_url=f"sqlite:///{tmp_path}/bot.db") as stack:
        await _insert(stack, make_request("r-busy0000", state=S.RUNNING, environment="dev", run_id=424242,
                                          created_at=now - timedelta(seconds=200)),
                      *(make_request(f"r-q{i:07d}", state=S.APPROVED, environment="dev",
                                     created_at=now - timedelta(seconds=150 - i)) for i in range(100)),
                      make_request("r-webturn0", state=S.APPROVED, service="web", environment="dev",
                                   workflow="web-ci.yml", created_at=now))
        await wait_for(lambda: _dispatched(stack, "r-webturn0") == 1, timeout=20, what="web/dev's request dispatched")
        assert not any(_dispatched(stack, f"r-q{i:07d}") for i in range(100))  # api/dev: one run at a time


async def test_a_lapsed_claim_github_refuses_to_look_up_fails_plainly_and_frees_its_lane(tmp_path: Path) -> None:
    """The first dispatch's outcome is unknown (a timeout); when the claim lapses, GitHub answers the run lookup
    with a lasting error (404: the workflow file was renamed). The request fails with the reason instead of being
    claimed every 60 s for ever, holding its lane, and the request waiting behind it is dispatched."""
    now = datetime.now(UTC)
    async with Stack(database_url=f"sqlite:///{tmp_path}/bot.db") as stack:
        await _insert(stack, make_request("r-waiting0", state=S.APPROVED, environment="dev",
                                          created_at=now - timedelta(seconds=60)),
                      make_request("r-lapsed00", state=S.DISPATCHING, environment="dev", created_at=now,
                                   workflow="renamed-ci.yml"))  # GitHub has no such workflow (any more): 404
        await _lapse(stack, "r-lapsed00")
        await wait_for(lambda: _dispatched(stack, "r-waiting0") == 1, timeout=20, what="the waiting one dispatched")
        failed = await rows(stack, "SELECT state, detail FROM requests WHERE id = 'r-lapsed00'")
        assert failed[0]["state"] == "dispatch_failed", failed
        assert "could not look for the run" in failed[0]["detail"] and "404" in failed[0]["detail"], failed
        assert _dispatched(stack, "r-lapsed00") == 0


async def test_a_lapsed_claim_is_not_dispatched_again_while_the_bots_login_is_unknown(tmp_path: Path) -> None:
    """Without the bot's own login no run can be told to be the bot's (``GitHubClient.find_run`` finds none), so
    dispatching a lapsed claim again could start a second run of a dispatch that did run: it waits until the
    login is known, then looks, then dispatches once."""
    stack = Stack(database_url=f"sqlite:///{tmp_path}/bot.db")
    await stack.start_fakes()
    stack.github.fail(r"^/user$", 500, times=10_000)  # GitHub cannot tell the bot who it is, from the start
    try:
        await stack.start_bot()
        await _insert(stack, make_request("r-lapsed01", state=S.DISPATCHING, environment="dev",
                                          created_at=datetime.now(UTC)))
        await _lapse(stack, "r-lapsed01")
        asked = time.time()
        await wait_for(lambda: any(r.path == "/user" and r.at > asked for r in stack.github.requests),
                       timeout=20, what="the worker asked for the bot's login")
        claimed = await rows(stack, "SELECT state, lease_until FROM requests WHERE id = 'r-lapsed01'")
        assert claimed[0]["state"] == "dispatching" and float(claimed[0]["lease_until"]) > asked, claimed
        assert _dispatched(stack, "r-lapsed01") == 0

        stack.github.clear_faults()  # GitHub answers again; the next claim looks for the run, finds none, dispatches
        await _lapse(stack, "r-lapsed01")
        await wait_for(lambda: _dispatched(stack, "r-lapsed01") == 1, timeout=20, what="dispatched once known")
        looked = [r for r in stack.github.requests if r.path.endswith("/runs") and r.method == "GET"]
        assert looked, "the run was looked for before the dispatch"
        assert _dispatched(stack, "r-lapsed01") == 1
    finally:
        await stack.stop()


async def test_a_lapsed_claim_whose_run_a_webhook_bound_is_dispatched_not_failed(tmp_path: Path) -> None:
    """The dispatch's answer was a timeout but GitHub ran it: its ``queued`` webhook bound the run to the request,
    which stays DISPATCHING until ``in_progress``. When the claim lapses, the bound run is the answer: the request
    is DISPATCHED (before, it was looked up again, and a lasting error there failed a request whose run went on)."""
    async with Stack(database_url=f"sqlite:///{tmp_path}/bot.db") as stack:
        await _insert(stack, make_request("r-bound000", state=S.DISPATCHING, environment="dev", run_id=5000000001,
                                          created_at=datetime.now(UTC), workflow="renamed-ci.yml"))
        await _lapse(stack, "r-bound000")
        for _ in range(200):
            state = (await rows(stack, "SELECT state FROM requests WHERE id = 'r-bound000'"))[0]["state"]
            if state != "dispatching":
                break
            await asyncio.sleep(0.05)
        assert state == "dispatched"
        assert _dispatched(stack, "r-bound000") == 0
        assert not any(r.path.endswith("/runs") for r in stack.github.requests)  # nothing to look up


async def test_a_login_github_refuses_for_good_fails_the_lapsed_claim_and_frees_its_lane(tmp_path: Path) -> None:
    """GitHub answers the bot's ``GET /user`` with a refusal (403, not a rate limit): not a passing fault, so the
    lapsed claim is failed with the reason instead of waiting for a login that never comes, holding its lane."""
    stack = Stack(database_url=f"sqlite:///{tmp_path}/bot.db")
    await stack.start_fakes()
    stack.github.fail(r"^/user$", 403, times=10_000)
    try:
        await stack.start_bot()
        now = datetime.now(UTC)
        await _insert(stack, make_request("r-waiting1", state=S.APPROVED, environment="dev",
                                          created_at=now - timedelta(seconds=60)),
                      make_request("r-lapsed02", state=S.DISPATCHING, environment="dev", created_at=now))
        await _lapse(stack, "r-lapsed02")
        failed: list[Any] = []
        for _ in range(400):
            failed = await rows(stack, "SELECT state, detail FROM requests WHERE id = 'r-lapsed02'")
            if failed[0]["state"] != "dispatching":
                break
            await asyncio.sleep(0.05)
        assert failed[0]["state"] == "dispatch_failed", failed
        assert "refuses to tell the bot its own login" in failed[0]["detail"], failed
        await wait_for(lambda: _dispatched(stack, "r-waiting1") == 1, timeout=20, what="the lane freed")
        assert _dispatched(stack, "r-lapsed02") == 0
    finally:
        await stack.stop()


async def test_a_claim_taken_over_while_github_answered_slowly_is_not_dispatched(tmp_path: Path) -> None:
    """A lapsed claim's run lookup takes longer than expected; meanwhile its lease runs out and another replica
    claims it again (written here as that replica's claim: another lease owner, a fresh lease). The first must not
    dispatch as well: it renews its own claim just before the dispatch, and that fails."""
    async with Stack(database_url=f"sqlite:///{tmp_path}/bot.db") as stack:
        stack.github.slow(r"/actions/workflows/[^/]+/runs$", 1.5)
        await _insert(stack, make_request("r-taken000", state=S.DISPATCHING, environment="dev",
                                          created_at=datetime.now(UTC)))
        await _lapse(stack, "r-taken000")
        await wait_for(lambda: any(r.path.endswith("/runs") for r in stack.github.requests), timeout=20,
                       what="the lookup under way")
        assert stack.app is not None
        async with stack.app[STORE].unit() as u:  # the other replica's claim
            await u.c.execute("UPDATE requests SET lease_owner = 'replica-b', lease_until = ? WHERE id = ?",
                              time.time() + 60, "r-taken000")
        await wait_for(lambda: any(r.path.endswith("/runs") and r.status for r in stack.github.requests),
                       timeout=20, what="the slow lookup answered")
        for _ in range(20):  # the worker's step after the answer: a dispatch would come now (within a second)
            await asyncio.sleep(0.1)
        assert _dispatched(stack, "r-taken000") == 0
        held = await rows(stack, "SELECT state, lease_owner FROM requests WHERE id = 'r-taken000'")
        assert held[0]["state"] == "dispatching" and held[0]["lease_owner"] == "replica-b", held


async def test_a_queued_re_run_whose_request_moved_on_is_not_sent(tmp_path: Path) -> None:
    """The Re-run button queues a durable GitHub job (``op: rerun``) with the request DISPATCHED. When that job is
    only run after the request moved on (retried through a GitHub outage until the reconciler gave the request up
    and its lane went on, or bound to another run since), a re-run then would run beside whatever has the lane: the
    job checks the request first and asks GitHub for nothing. The control, still the dispatched re-run of its run,
    is re-run once."""
    now = datetime.now(UTC)
    async with Stack(database_url=f"sqlite:///{tmp_path}/bot.db") as stack:
        workflow = next(w for w in stack.github.workflows.values() if w.file == "api-ci.yml")
        for run_id in (515151, 616161, 626262, 727272):  # runs GitHub has, all failed: each could be re-run
            stack.github.sim.runs[run_id] = gp.Run(
                id=run_id, number=run_id, workflow=workflow, head_branch="main", head_sha="a" * 40, inputs={},
                display_title="t", event="workflow_dispatch", actor="bot", created_at=time.time(),
                status="completed", conclusion="failure", updated_at=time.time())
        await _insert(stack, make_request("r-gaveup00", state=S.FAILED, environment="dev", run_id=515151,
                                          created_at=now - timedelta(seconds=600)),
                      make_request("r-moved000", state=S.DISPATCHED, environment="staging", run_id=626262,
                                   created_at=now - timedelta(seconds=600)),  # dispatched, but another run
                      make_request("r-legit000", state=S.DISPATCHED, environment="production", run_id=727272,
                                   created_at=now - timedelta(seconds=600)))
        assert stack.app is not None
        async with stack.app[STORE].unit() as u:
            for rid, run_id in (("r-gaveup00", 515151), ("r-moved000", 616161), ("r-legit000", 727272)):
                await u.inbox_add(source="ghjob", key=f"rerun:{rid}:1:press", kind="rerun", body=json.dumps(
                    {"op": "rerun", "request_id": rid, "run_id": run_id, "repository": "acme/platform"}))
        stack.app[WORKER].wake()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            jobs = await rows(stack, "SELECT state FROM inbox WHERE source = 'ghjob' ORDER BY key")
            if all(j["state"] != "pending" for j in jobs):
                break
            await asyncio.sleep(0.05)
        assert stack.github.reruns == [727272]
        assert [j["state"] for j in jobs] == ["done", "done", "done"], jobs


async def _protection_rule_for_an_unbound_run(stack: Stack) -> None:
    """A request being dispatched (no lease: the worker leaves it be), a run in GitHub whose title names it, and the
    run's deployment_protection_rule webhook: binding it needs the bot's login (was the run the bot's?)."""
    fake = stack.github
    await _insert(stack, make_request("r-login000", state=S.DISPATCHING, environment="dev",
                                      created_at=datetime.now(UTC)))
    workflow = next(w for w in fake.workflows.values() if w.file == "api-ci.yml")
    run = gp.Run(id=880001, number=1, workflow=workflow, head_branch="main", head_sha="a" * 40, inputs={},
                 display_title="Deploy api to dev [r-login000]", event="workflow_dispatch", actor="someone",
                 created_at=time.time(), status="waiting", conclusion=None, updated_at=time.time())
    fake.sim.runs[run.id] = run
    common = {"repository": gp.repository(fake.url, fake.repository, fake.repo_id, fake.default_branch),
              "sender": gp.user(fake.url, "someone"), "installation": {"id": fake.installation_id}}
    dep = gp.deployment(fake.url, fake.repository, dep_id=990_101, sha=run.head_sha, ref=run.head_branch,
                        environment="dev", creator="someone", ts=0.0)
    await fake.send_webhook("deployment_protection_rule", {
        "action": "requested", "environment": "dev", "event": "workflow_dispatch",
        "deployment_callback_url": f"{fake.url}/repos/{fake.repository}/actions/runs/{run.id}/"
                                   "deployment_protection_rule",
        "deployment": dep, "pull_requests": [], **common})


async def _webhooks_settled(stack: Stack) -> list[Any]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        hooks = await rows(stack, "SELECT state, attempts FROM inbox WHERE source = 'github'")
        if hooks and all(h["state"] != "pending" for h in hooks):
            break
        await asyncio.sleep(0.05)
    return [(h["state"], h["attempts"]) for h in hooks]


async def test_the_bots_login_is_asked_of_github_outside_any_transaction(tmp_path: Path) -> None:
    """A protection rule for a run that names a request and is not bound yet needs the bot's own login. While it is
    unknown, GitHub was asked inside the webhook's transaction: up to 15 s holding the webhooks' lock and, on
    SQLite, the one writer every Slack ack and ingest waits for. The transaction is rolled back and GitHub asked
    outside it now: while GitHub answers (3 s late here), another connection can write (the fake records a request
    when it arrives, its status when it is answered). Then the webhook is applied again, once, with the login."""
    async with Stack(database_url=f"sqlite:///{tmp_path}/bot.db") as stack:
        fake = stack.github
        fake.slow(r"^/user$", 3.0)
        await _protection_rule_for_an_unbound_run(stack)
        await wait_for(lambda: any(r.path == "/user" and not r.status for r in fake.requests), timeout=15,
                       what="the bot asking GitHub for its login")
        other = sqlite3.connect(tmp_path / "bot.db", timeout=1.0, isolation_level=None)  # the bot held it ~3 s
        try:
            other.execute("BEGIN IMMEDIATE")  # "database is locked" while the bot's transaction waits for GitHub
            other.execute("ROLLBACK")
        finally:
            other.close()
        assert await _webhooks_settled(stack) == [("done", 1)]
        assert [r.status for r in fake.requests if r.path == "/user"] == [200]  # asked once, then known


async def test_a_login_github_cannot_give_binds_no_run_and_the_webhook_is_still_applied(tmp_path: Path) -> None:
    """The same, with GitHub failing ``GET /user``: asked (outside the transaction), then the webhook is applied
    with no login, which binds no run by its title (fail closed: the run is tracked as one started outside chat),
    and it is done, not retried as a failure."""
    async with Stack(database_url=f"sqlite:///{tmp_path}/bot.db") as stack:
        stack.github.fail(r"^/user$", 500, times=10_000)
        await _protection_rule_for_an_unbound_run(stack)
        assert await _webhooks_settled(stack) == [("done", 1)]
        assert any(r.path == "/user" and r.status == 500 for r in stack.github.requests)
        bound = await rows(stack, "SELECT id, state, run_id FROM requests WHERE run_id = 880001")
        assert [b["id"] for b in bound] != ["r-login000"] and len(bound) == 1, bound
        mine = await rows(stack, "SELECT state, run_id FROM requests WHERE id = 'r-login000'")
        assert (mine[0]["state"], mine[0]["run_id"]) == ("dispatching", None), mine
