"""Ingest hands a recorded GitHub update to the worker of the same process (``Pipeline.handoff``, issue 27 item 4)
instead of the worker decoding the inbox copy again. What is applied must stay what decoding the inbox row gives:
an update survives its inbox text unchanged (published payloads and generated values, wide ints and non-ASCII
text included), an entry is used only for the row whose body is its text, and a row recorded before a restart or
by another replica (no entry here) is decoded from the inbox as before, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import load_config
from bot.deploys import update_codec
from bot.deploys.pipeline import Pipeline
from bot.deploys.repos import GitHubRepos
from bot.deploys.update_codec import Handoff, github_update_from_json, github_update_to_json
from bot.domain import (
    CheckUpdate,
    DeploymentUpdate,
    GitHubUpdate,
    ProtectionRuleRequest,
    PushUpdate,
    ReviewRequest,
    RunUpdate,
)
from bot.runtime import worker as worker_module
from bot.runtime.worker import Worker
from bot.store.store import Store
from handlers.github_parse import PARSERS, parse_event, read_payload
from sandbox.paths import PUBLISHED_FIXTURES
from sandbox.stack import EXAMPLE_CONFIG

T0 = datetime(2026, 3, 1, tzinfo=UTC)
FIXTURES = sorted(p for p in (PUBLISHED_FIXTURES / "github").rglob("*.octokit.json")
                  if p.name.split(".", 1)[0] in PARSERS)

_text = st.text(max_size=12)
_int = st.one_of(st.integers(min_value=-(2**70), max_value=2**70), st.integers(min_value=0, max_value=10**10))
_jobs = st.lists(st.tuples(_text, _text, _text), max_size=4).map(tuple)
_names = st.lists(_text, max_size=4).map(tuple)
UPDATES: st.SearchStrategy[GitHubUpdate] = st.one_of(
    st.builds(RunUpdate, run_id=_int, workflow=_text, status=_text, conclusion=_text, html_url=_text,
              head_sha=_text, head_branch=_text, title=_text, actor=_text, event=_text, jobs=_jobs, attempt=_int,
              path=_text, repository=_text, actor_id=_int, triggering_actor=_text, triggering_actor_id=_int),
    st.builds(ProtectionRuleRequest, run_id=_int, environment=_text, callback_url=_text, sha=_text, ref=_text,
              actor=_text, event=_text, workflow=_text, deployment_id=_int, actor_id=_int),
    st.builds(ReviewRequest, run_id=_int, environment=_text, reviewers=_names, html_url=_text, head_sha=_text,
              head_branch=_text, title=_text, requestor=_text),
    st.builds(DeploymentUpdate, deployment_id=_int, environment=_text, state=_text, description=_text, sha=_text,
              ref=_text, creator=_text, run_id=st.none() | _int, request_id=_text, service=_text, log_url=_text,
              repository=_text, run_repository=_text),
    st.builds(PushUpdate, repository=_text, branch=_text, sha=_text, pusher=_text, pusher_id=_int),
    st.builds(CheckUpdate, repository=_text, sha=_text, branches=_names, conclusion=_text, source=_text),
)


def _same(a: GitHubUpdate, b: GitHubUpdate) -> None:
    """Equal, and of the same types field by field (a list where a tuple was would compare unequal anyway)."""
    assert type(a) is type(b) and a == b
    for f in fields(a):
        assert type(getattr(a, f.name)) is type(getattr(b, f.name)), f.name


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_a_published_payloads_update_is_what_its_inbox_text_gives_back(path: Path) -> None:
    event = path.name.split(".", 1)[0]
    update = parse_event(event, read_payload(event, path.read_bytes()))
    if update is not None:
        _same(github_update_from_json(github_update_to_json(update)), update)


@settings(max_examples=400, deadline=None)
@given(UPDATES)
def test_every_update_is_what_its_inbox_text_gives_back(update: GitHubUpdate) -> None:
    _same(github_update_from_json(github_update_to_json(update)), update)


def test_an_entry_is_taken_once_and_only_for_its_own_text() -> None:
    handoff = Handoff(limit=3)
    up = RunUpdate(run_id=1, workflow="w", status="in_progress", conclusion="", html_url="", head_sha="",
                   head_branch="", title="")
    body = github_update_to_json(up)
    handoff.put("gh:a", body, up)
    assert handoff.take("gh:a", body) is up
    assert handoff.take("gh:a", body) is None  # taken: a retry of the row decodes it
    handoff.put("gh:b", body, up)
    assert handoff.take("gh:b", body.replace('"w"', '"x"')) is None  # another text under that key: not this update
    assert len(handoff) == 0
    for key in "cdef":
        handoff.put(f"gh:{key}", body, up)
    assert len(handoff) == 3 and handoff.take("gh:c", body) is None  # the oldest went first
    other = github_update_to_json(up)  # equal text, another object: a concurrent delivery's offer stays
    handoff.drop("gh:d", other)
    assert handoff.take("gh:d", body) is up
    handoff.drop("gh:e", body)
    assert handoff.take("gh:e", body) is None


@pytest.fixture
async def pipeline(database_url: str) -> AsyncIterator[Pipeline]:
    store = await Store.open(database_url)
    config = load_config(EXAMPLE_CONFIG, env={"TEAMS_OPS_WEBHOOK_URL": "http://127.0.0.1:9/teams/ops"})
    try:
        yield Pipeline(config=config, store=store, clock=lambda: T0)
    finally:
        await store.close()


def _worker(pipeline: Pipeline) -> Worker:
    repos = GitHubRepos(env={"GITHUB_TOKEN": "unused"}, base_url="http://127.0.0.1:9",
                        repositories=lambda: pipeline.config.repositories)
    return Worker(pipeline=pipeline, github=repos, clock=lambda: T0)


def _run(run_id: int, status: str = "in_progress") -> RunUpdate:
    return RunUpdate(run_id=run_id, workflow="api-ci.yml", status=status, conclusion="",
                     html_url=f"https://github.com/acme/platform/actions/runs/{run_id}", head_sha="a" * 40,
                     head_branch="main", title="deploy api to dev ✓", actor="dev-gh", event="push",
                     repository="acme/platform", path=".github/workflows/api-ci.yml", actor_id=1001)


async def test_recording_offers_the_update_and_a_repeated_delivery_withdraws_its_offer(pipeline: Pipeline) -> None:
    up = _run(41)
    assert await pipeline.record_github(up, delivery="d-1", event="workflow_run")
    assert len(pipeline.handoff) == 1
    assert not await pipeline.record_github(_run(42), delivery="d-1", event="workflow_run")  # a repeat: no row
    assert len(pipeline.handoff) == 1
    assert pipeline.handoff.take("gh:d-1", github_update_to_json(up)) is up


async def test_a_failed_write_withdraws_its_offer(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(**_: Any) -> bool:
        raise RuntimeError("disk full")

    monkeypatch.setattr(pipeline.store, "record_inbox", broken)
    with pytest.raises(RuntimeError):
        await pipeline.record_github(_run(43), delivery="d-2", event="workflow_run")
    assert len(pipeline.handoff) == 0


async def test_the_worker_applies_the_handed_over_update_and_decodes_rows_it_was_not_handed(
        pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    decoded: list[str] = []

    def spy(body: str) -> GitHubUpdate:
        decoded.append(body)
        return update_codec.github_update_from_json(body)

    monkeypatch.setattr(worker_module, "github_update_from_json", spy)
    ours, theirs = _run(51), _run(52)
    assert await pipeline.record_github(ours, delivery="d-ours", event="workflow_run")
    # recorded by another replica, or by this process before a restart: the row only, no offer here
    assert await pipeline.store.record_inbox(source="github", key="gh:d-theirs", kind="workflow_run",
                                             body=github_update_to_json(theirs))
    worker = _worker(pipeline)
    assert await worker._apply_webhooks() == 2
    assert decoded == [github_update_to_json(theirs)]  # the handed-over one was not decoded again
    assert len(pipeline.handoff) == 0
    async with pipeline.store.unit() as u:
        got = {run: await u.request_by_run(run) for run in (51, 52)}
        pending = await u.c.fetch("SELECT id FROM inbox WHERE state <> 'done'")
    assert pending == []
    for run, r in got.items():  # both tracked alike: a request per run, running, at its link
        assert r is not None and r.state.value == "running" and r.run_url.endswith(f"/runs/{run}")
    # a restarted process (a new pipeline over the same store) applies what was left from the inbox alone
    assert await pipeline.store.record_inbox(source="github", key="gh:d-later", kind="workflow_run",
                                             body=github_update_to_json(_run(51, "completed")))
    restarted = Pipeline(config=pipeline.config, store=pipeline.store, clock=lambda: T0)
    assert await _worker(restarted)._apply_webhooks() == 1
    async with pipeline.store.unit() as u:
        done = await u.request_by_run(51)
    assert done is not None and done.state.final
