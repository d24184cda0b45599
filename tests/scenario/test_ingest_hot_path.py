"""The GitHub ingest path after issue 27 item 4: a recorded webhook wakes the worker only (recording queues nothing
to send, and waking the outbox after every webhook made it re-read its backlog up to 20 times a second under ingest
load; a command's state change still wakes both, ``Pipeline.wake``), and the configured repositories, now built
once per config, still follow a reload."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

from bot.config import load_config
from bot.deploys.pipeline import Pipeline
from bot.domain import RunUpdate
from bot.store.store import Store
from chatops.app import PIPELINE, WORKER
from sandbox.paths import PUBLISHED_FIXTURES
from sandbox.signing import sign_github
from sandbox.stack import EXAMPLE_CONFIG, SANDBOX_SECRETS, Stack


def _run(run_id: int) -> RunUpdate:
    return RunUpdate(run_id=run_id, workflow="api-ci.yml", status="in_progress", conclusion="", html_url="",
                     head_sha="a" * 40, head_branch="main", title="")


async def test_recording_a_webhook_wakes_the_worker_and_not_the_outbox(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite:///{tmp_path}/bot.db")
    woken: list[str] = []
    config = load_config(EXAMPLE_CONFIG, env={"TEAMS_OPS_WEBHOOK_URL": "http://127.0.0.1:9/teams/ops"})
    pipeline = Pipeline(config=config, store=store, wake=lambda: woken.append("worker and outbox"),
                        clock=lambda: datetime(2026, 3, 1, tzinfo=UTC))
    pipeline.wake_worker = lambda: woken.append("worker")
    try:
        assert await pipeline.record_github(_run(1), delivery="d-1", event="workflow_run")
        assert not await pipeline.record_github(_run(1), delivery="d-1", event="workflow_run")  # a repeat
    finally:
        await store.close()
    assert woken == ["worker"]


async def test_the_app_wires_the_workers_wake_for_recorded_webhooks(tmp_path: Path) -> None:
    async with Stack(database_url=f"sqlite:///{tmp_path}/bot.db") as stack:
        assert stack.app is not None
        assert stack.app[PIPELINE].wake_worker == stack.app[WORKER].wake


async def test_the_configured_repositories_follow_a_reload(tmp_path: Path) -> None:
    body = (PUBLISHED_FIXTURES / "github" / "workflow_run.completed.success.octokit.json").read_bytes()  # octo-org
    secret = SANDBOX_SECRETS["GITHUB_WEBHOOK_SECRET"]

    async def send(delivery: str) -> str:
        headers = {**sign_github(secret, body), "X-GitHub-Event": "workflow_run", "X-GitHub-Delivery": delivery}
        status, text = await stack.post("/github/webhook", body, headers)
        assert status in (200, 202)
        return text

    async with Stack(database_url=f"sqlite:///{tmp_path}/bot.db") as stack:
        assert stack.app is not None
        pipeline = stack.app[PIPELINE]
        assert "not the configured repository" in await send("r1")
        serving = pipeline.config
        pipeline.config = dataclasses.replace(serving, repository="Octo-Org/octo-repo")  # what a reload does
        assert "accepted" in await send("r2")
        pipeline.config = serving
        assert "not the configured repository" in await send("r3")
