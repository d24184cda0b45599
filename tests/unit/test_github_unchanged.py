"""``unchanged(r, up)`` lets the worker skip a webhook without a transaction. It must say True exactly when
applying the update (``GitHubEvents._run``, against a real store) would write nothing and queue nothing.
Checked over every request state x attempt x update kind x attempt x link x job state."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.config import load_config
from bot.deploys.cards import card_key
from bot.deploys.github_events import GitHubEvents
from bot.deploys.github_runs import unchanged
from bot.deploys.pipeline import Pipeline
from bot.deploys.repos import GitHubRepos
from bot.domain import DeployRequest, Platform, RequestKind, RequestState, RunUpdate
from bot.store.store import Store
from sandbox.stack import EXAMPLE_CONFIG

T0 = datetime(2026, 3, 1, tzinfo=UTC)
URL = "https://github.com/acme/platform/actions/runs/{}"
JOBS = [(), (("build", "in_progress", ""),), (("build", "success", ""),), (("build", "queued", ""),)]


def _request(run_id: int, state: RequestState, attempt: int, jobs: tuple[tuple[str, ...], ...]) -> DeployRequest:
    return DeployRequest(id=f"r-{run_id:08d}"[-10:], kind=RequestKind.DEPLOY, service="api", environment="dev",
                         ref="main", requester="dev", requester_platform=Platform.GITHUB, requester_id="dev-gh",
                         channel="", state=state, created_at=T0, workflow="api-ci.yml", run_id=run_id,
                         run_url=URL.format(run_id), jobs=jobs, attempt=attempt)


def _updates(run_id: int) -> list[RunUpdate]:
    out = []
    for status, attempt, link in itertools.product(
            ("requested", "queued", "in_progress", "completed", "waiting"), (1, 2), ("same", "other", "")):
        url = {"same": URL.format(run_id), "other": URL.format(run_id) + "/attempts/2", "": ""}[link]
        out.append(RunUpdate(run_id=run_id, workflow="api-ci.yml", status=status,
                             conclusion="success" if status == "completed" else "", html_url=url,
                             head_sha="a" * 40, head_branch="main", title="", attempt=attempt))
    for job, attempt in itertools.product(JOBS[1:], (1, 2)):
        out.append(RunUpdate(run_id=run_id, workflow="api-ci.yml", status="job", conclusion="", html_url="",
                             head_sha="a" * 40, head_branch="main", title="", jobs=job, attempt=attempt))
    return out


async def _snapshot(store: Store, run_id: int) -> tuple[Any, ...]:
    async with store.unit() as u:
        row = await u.c.fetchrow("SELECT state, attempt, run_url, jobs, updated_at, detail FROM requests "
                                 "WHERE run_id = ?", run_id)
        queued = await u.c.fetchrow("SELECT COUNT(*) AS n FROM outbox")
    assert row is not None and queued is not None
    return tuple(row.values()), queued["n"]


@pytest.fixture
async def applied(tmp_path: Any) -> AsyncIterator[tuple[Store, GitHubEvents]]:
    """A real store and the real webhook applier over the example configuration (GitHub is never called)."""
    store = await Store.open(f"sqlite:///{tmp_path}/bot.db")
    config = load_config(EXAMPLE_CONFIG, env={"TEAMS_OPS_WEBHOOK_URL": "http://127.0.0.1:9/teams/ops"})
    pipeline = Pipeline(config=config, store=store, clock=lambda: T0)
    repos = GitHubRepos(env={"GITHUB_TOKEN": "unused"}, base_url="http://127.0.0.1:9",
                        repositories=lambda: config.repositories)
    try:
        yield store, GitHubEvents(pipeline=pipeline, github=repos, clock=lambda: T0)
    finally:
        await store.close()


async def test_unchanged_says_true_exactly_when_applying_changes_nothing(
        applied: tuple[Store, GitHubEvents]) -> None:
    store, events = applied
    run_id, seen = 1000, {True: 0, False: 0}
    for state, attempt, jobs in itertools.product(RequestState, (1, 2), JOBS):
        for up in _updates(0):
            run_id += 1
            r = _request(run_id, state, attempt, jobs)
            up = RunUpdate(**{**{f: getattr(up, f) for f in up.__slots__}, "run_id": run_id,
                              "html_url": up.html_url and up.html_url.replace("/runs/0", f"/runs/{run_id}")})
            async with store.unit() as u:
                await u.insert_request(r)
            before = await _snapshot(store, run_id)
            said = unchanged(r, up)
            await events.apply(up)
            after = await _snapshot(store, run_id)
            assert said == (after == before), (state, attempt, jobs, up)
            seen[said] += 1
    assert seen[True] > 100 and seen[False] > 100  # both answers were exercised


async def test_the_workers_narrow_read_gives_the_same_answers_as_the_whole_request(
        applied: tuple[Store, GitHubEvents]) -> None:
    """The worker judges repeats against ``Unit.run_heads`` (issue 27 item 4), not the whole request: for every
    request state x attempt x link x job lines, the same fields, and ``unchanged`` says the same for every update."""
    store, _ = applied
    inserted = []
    for i, (state, attempt, jobs, link) in enumerate(itertools.product(RequestState, (1, 2), JOBS, ("url", ""))):
        r = _request(5000 + i, state, attempt, jobs)
        inserted.append(r if link else DeployRequest(**{**{f: getattr(r, f) for f in r.__slots__}, "run_url": ""}))
    async with store.unit() as u:
        for r in inserted:
            await u.insert_request(r)
        heads = await u.run_heads(r.run_id for r in inserted if r.run_id is not None)
    for r in inserted:
        assert r.run_id is not None
        head = heads[r.run_id]
        assert (head.state, head.attempt, head.run_url, head.jobs) == (r.state, r.attempt, r.run_url, r.jobs)
        for up in _updates(r.run_id):
            assert unchanged(head, up) == unchanged(r, up), (r, up)


async def test_a_rerun_starts_its_job_lines_afresh_and_ignores_the_last_attempts(
        applied: tuple[Store, GitHubEvents]) -> None:
    store, events = applied

    def run(status: str, attempt: int) -> RunUpdate:
        return RunUpdate(run_id=77, workflow="api-ci.yml", status=status, conclusion="", html_url=URL.format(77),
                         head_sha="a" * 40, head_branch="main", title="", attempt=attempt)

    def job(state: str, attempt: int) -> RunUpdate:
        return RunUpdate(run_id=77, workflow="api-ci.yml", status="job", conclusion="", html_url="",
                         head_sha="a" * 40, head_branch="main", title="", jobs=(("deploy", state, ""),),
                         attempt=attempt)

    async def card() -> tuple[str, int, tuple[tuple[str, ...], ...]]:
        async with store.unit() as u:
            r = await u.request_by_run(77)
        assert r is not None
        return r.state.value, r.attempt, r.jobs

    async with store.unit() as u:
        await u.insert_request(_request(77, RequestState.FAILED, 1, (("deploy", "failure", "migrate"),)))
    await events.apply(run("requested", 2))
    assert await card() == ("dispatched", 2, ())
    await events.apply(job("queued", 2))
    assert await card() == ("dispatched", 2, (("deploy", "queued", ""),))
    await events.apply(job("failure", 1))  # a late event of the first attempt changes nothing
    assert await card() == ("dispatched", 2, (("deploy", "queued", ""),))
    await events.apply(run("in_progress", 2))
    await events.apply(job("in_progress", 2))
    await events.apply(job("queued", 2))  # redelivered: a job does not go back
    assert await card() == ("running", 2, (("deploy", "in_progress", ""),))


@pytest.mark.parametrize(("attempt", "link"), [(1, True), (2, True), (1, False)])
async def test_a_run_first_seen_in_progress_is_made_as_the_insert_and_update_made_it(
        applied: tuple[Store, GitHubEvents], attempt: int, link: bool) -> None:
    """A run the bot did not start, first seen ``in_progress``, is tracked in one write (issue 27 item 4): the
    request, its card and what the next repeat is judged against are what the insert as DISPATCHED then the
    in_progress update made before."""
    store, events = applied

    def update(run_id: int) -> RunUpdate:
        return RunUpdate(run_id=run_id, workflow="api-ci.yml", status="in_progress", conclusion="",
                         html_url=URL.format(run_id) if link else "", head_sha="a" * 40, head_branch="main",
                         title="", attempt=attempt)

    async def made(run_id: int) -> tuple[Any, ...]:
        async with store.unit() as u:
            row = await u.c.fetchrow("SELECT kind, service, environment, requester, state, attempt, run_url, jobs, "
                                     "workflow, sha, requester_identities FROM requests WHERE run_id = ?", run_id)
            request = await u.request_by_run(run_id)
            assert row is not None and request is not None
            cards = await u.c.fetch("SELECT payload FROM outbox WHERE card_key = ?", card_key(request.id))
            head = (await u.run_heads([run_id]))[run_id]
        text = [str(v).replace(str(run_id), "RUN") for v in row.values()]
        bodies = [c["payload"].replace(str(run_id), "RUN").replace(request.id, "ID") for c in cards]
        return tuple(text), bodies, unchanged(head, update(run_id))

    statements: list[str] = []
    store.db._conn.set_trace_callback(statements.append)  # type: ignore[attr-defined]  # what SQLite runs
    await events.apply(update(7001))
    store.db._conn.set_trace_callback(None)  # type: ignore[attr-defined]
    writes = [s.split("(")[0].strip() for s in statements if s.startswith(("INSERT INTO requests", "UPDATE requests"))]
    assert writes == ["INSERT INTO requests"], writes  # one write
    async with store.unit() as u:  # the two it replaces: tracked as DISPATCHED, then the update applied to it
        await events._external(u, run_id=7002, workflow="api-ci.yml", ref="main", sha="a" * 40, actor="",
                               html_url=URL.format(7002) if link else "")
    await events.apply(update(7002))
    one, two = await made(7001), await made(7002)
    assert one == two
    assert one[0][4] == "running" and len(one[1]) == 1 and one[2] is True, one  # one card; a repeat is skipped
