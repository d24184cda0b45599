"""Issue 3 end to end: webhooks, evolving cards, failure alerts, gate: github, locks and freezes, App auth."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.domain import RunUpdate
from chatops.app import OUTBOX, PIPELINE, STORE, WORKER
from sandbox.paths import PUBLISHED_FIXTURES
from sandbox.signing import sign_github
from sandbox.stack import EXAMPLE_CONFIG, Stack, message_text, wait_for

FIXTURES = PUBLISHED_FIXTURES / "github"
SECRET = "sandbox-webhook-secret"


def write_config(tmp_path: Path, **changes: Any) -> Path:
    data = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    for dotted, value in changes.items():
        node = data
        *parents, last = dotted.split(".")
        for p in parents:
            node = node[p]
        node[last] = value
    path = tmp_path / "chatops.yml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
async def gated(tmp_path: Path) -> AsyncIterator[Stack]:
    """production behind the bot as a GitHub custom deployment protection rule."""
    config = write_config(tmp_path, **{"environments.production": {
        "deployers": ["deployers"], "approvers": ["approvers"], "approvals": 1, "approval_ttl": "2h",
        "gate": "github"}})
    stack = Stack(database_url=f"sqlite:///{tmp_path}/bot.db", config_path=config)
    async with stack:
        stack.github.protect("production", "custom")
        yield stack


async def rows(stack: Stack, sql: str) -> list[dict[str, Any]]:
    assert stack.app is not None
    async with stack.app[STORE].unit() as u:
        return await u.c.fetch(sql)


# ---------------------------------------------------------------- webhook ingress with the published payloads

@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.glob("*.json")))
async def test_published_payloads_are_accepted_once_and_forgeries_refused(tmp_path: Path, fixture: str) -> None:
    body = (FIXTURES / fixture).read_bytes()
    payload = json.loads(body)
    event = fixture.split(".")[0]
    config = write_config(tmp_path, **{"github.repository": payload["repository"]["full_name"]})
    async with Stack(database_url=f"sqlite:///{tmp_path}/bot.db", config_path=config) as stack:
        headers = {**sign_github(SECRET, body), "X-GitHub-Event": event, "X-GitHub-Delivery": f"d-{fixture}",
                   "Content-Type": "application/json"}
        status, text = await stack.post("/github/webhook", body, headers)
        assert status in (200, 202), text
        recorded = await rows(stack, "SELECT key FROM inbox WHERE source = 'github'")
        if event == "ping":
            assert "pong" in text and recorded == []
        else:
            assert [r["key"] for r in recorded] == [f"gh:d-{fixture}"], text
        again_status, again = await stack.post("/github/webhook", body, headers)
        assert again_status in (200, 202)
        assert len(await rows(stack, "SELECT key FROM inbox WHERE source = 'github'")) == len(recorded)
        if event != "ping":
            assert "duplicate" in again
        forged = {**headers, **sign_github("not-the-secret", body), "X-GitHub-Delivery": "forged"}
        assert (await stack.post("/github/webhook", body, forged))[0] == 401
        unsigned = {k: v for k, v in headers.items() if k != "X-Hub-Signature-256"}
        assert (await stack.post("/github/webhook", body, unsigned))[0] == 401
        await asyncio.sleep(0.2)
        assert len(await rows(stack, "SELECT key FROM inbox WHERE source = 'github'")) == len(recorded)


async def test_other_repositories_unknown_events_and_bad_json(stack: Stack) -> None:
    body = (FIXTURES / "workflow_run.completed.success.octokit.json").read_bytes()  # octo-org/octo-repo
    h = {**sign_github(SECRET, body), "X-GitHub-Event": "workflow_run", "X-GitHub-Delivery": "x1"}
    status, text = await stack.post("/github/webhook", body, h)
    assert status == 202 and "not the configured repository" in text
    other = json.dumps({"repository": {"full_name": "acme/platform"}, "zen": "x"}).encode()
    h = {**sign_github(SECRET, other), "X-GitHub-Event": "star", "X-GitHub-Delivery": "x2"}
    status, text = await stack.post("/github/webhook", other, h)
    assert status == 202 and "not handled" in text
    garbage = b"{not json"
    h = {**sign_github(SECRET, garbage), "X-GitHub-Event": "workflow_run", "X-GitHub-Delivery": "x3"}
    assert (await stack.post("/github/webhook", garbage, h))[0] == 400
    missing = json.dumps({"repository": {"full_name": "acme/platform"}, "workflow_run": {"id": "7"}}).encode()
    h = {**sign_github(SECRET, missing), "X-GitHub-Event": "workflow_run", "X-GitHub-Delivery": "x4"}
    status, text = await stack.post("/github/webhook", missing, h)
    assert status == 400 and "workflow_run" in text
    assert await rows(stack, "SELECT key FROM inbox") == []
    _, metrics = await stack.get("/metrics")
    assert 'chatops_ignored_total{reason="other_repository",source="github"}' in metrics


# ---------------------------------------------------------------- cards and failure alerts

async def test_failed_run_alerts_with_working_rerun_and_rollback(stack: Stack) -> None:
    stack.github.next_conclusion = "failure"
    _, answer = await stack.command("U0DEV", "api v1.4.2 to staging")
    rid = answer["text"].split("`")[1]
    await wait_for(lambda: any("Deployment failed" in message_text(m) for m in stack.card_messages("C0DEPLOYS")),
                   what="failure alert")
    alert = next(m for m in stack.card_messages("C0DEPLOYS") if "Deployment failed" in message_text(m))
    text = message_text(alert)
    assert "<!here>" in text  # the failure route mentions here
    assert "Re-run failed jobs" in text and "Roll back" in text
    await wait_for(lambda: any(rid in message_text(m) and "· *failed*" in message_text(m)
                               for m in stack.card_messages("C0DEPLOYS")), what="the request card shows failure")
    run_id = stack.github.dispatches[0].run_id

    await stack.click("U0GUEST", "rerun", rid, channel="C0DEPLOYS", key="guest")
    await wait_for(lambda: bool(stack.slack.responses("guest")), what="guest refusal")
    assert "Not allowed" in stack.slack.responses("guest")[0]["text"]

    await stack.click("U0LEAD", "rerun", rid, channel="C0DEPLOYS", key="rerun")
    await wait_for(lambda: run_id in stack.github.reruns, what="rerun-failed-jobs call")
    assert stack.github.reruns.count(run_id) == 1

    # the re-run holds api/staging (one run per pair, issue 23 item 5); the fake never runs a re-run's jobs, so
    # the requester cancels it: GitHub answers 409 (the run has completed) and the bot applies how the run ended
    await stack.click("U0LEAD", "rollback", rid, channel="C0DEPLOYS", key="rb")
    await wait_for(lambda: any(f"queued behind {rid}" in message_text(m) for m in stack.card_messages("C0DEPLOYS")),
                   what="the rollback queued behind the re-run")
    await stack.command("U0DEV", f"cancel {rid}")  # the requester
    await wait_for(lambda: any(d.workflow == "rollback.yml" for d in stack.github.dispatches), what="rollback")
    rb = next(d for d in stack.github.dispatches if d.workflow == "rollback.yml")
    assert rb.inputs["service"] == "api" and rb.inputs["environment"] == "staging"



async def test_a_failed_run_is_not_re_run_over_a_newer_deploy(stack: Stack) -> None:
    """The Re-run button of an old failure, after a newer deploy of the same service and environment has run:
    re-running would put the older version back. The bot refuses, says why, records the refusal, and asks GitHub
    for nothing."""
    stack.github.next_conclusion = "failure"
    _, answer = await stack.command("U0DEV", "api v1.4.1 to staging")
    old = answer["text"].split("`")[1]
    await wait_for(lambda: any(old in message_text(m) and "· *failed*" in message_text(m)
                               for m in stack.card_messages("C0DEPLOYS")), what="the old request failed")
    _, answer = await stack.command("U0DEV", "api v1.4.2 to staging")
    new = answer["text"].split("`")[1]
    await wait_for(lambda: any(new in message_text(m) and "· *succeeded*" in message_text(m)
                               for m in stack.card_messages("C0DEPLOYS")), what="the newer request succeeded")

    await stack.click("U0LEAD", "rerun", old, channel="C0DEPLOYS", key="stale")
    await wait_for(lambda: bool(stack.slack.responses("stale")), what="the refusal")
    text = stack.slack.responses("stale")[0]["text"]
    assert "not re-run" in text and new in text and "older version" in text, text
    assert stack.github.reruns == []
    audit = await rows(stack, "SELECT result, detail FROM audit WHERE action = 'rerun'")
    assert [(a["result"], a["detail"]) for a in audit] == [("denied", f"newer: {new} (as slack:U0LEAD)")], audit
    assert [r["state"] for r in await rows(stack, f"SELECT state FROM requests WHERE id = '{old}'")] == ["failed"]


async def test_a_second_re_run_press_after_a_skipped_one_re_runs(stack: Stack) -> None:
    """GitHub answers the first re-run call with a timeout (not processed), and meanwhile a late webhook of the run's
    failed attempt puts the request back to failed: the queued job then asks GitHub for nothing (its request moved
    on). A second press of the button must queue its own job: with one job key per request and attempt, it was a
    repeat of the first, nothing was queued, and the reply still said "Re-running"."""
    stack.github.next_conclusion = "failure"
    _, answer = await stack.command("U0DEV", "api v1.4.2 to staging")
    rid = answer["text"].split("`")[1]
    await wait_for(lambda: any(rid in message_text(m) and "· *failed*" in message_text(m)
                               for m in stack.card_messages("C0DEPLOYS")), what="the request failed")
    run_id = stack.github.dispatches[0].run_id
    run = stack.github.runs[run_id]
    stack.github.time_out(r"rerun-failed-jobs", after=1.0)
    await stack.click("U0LEAD", "rerun", rid, channel="C0DEPLOYS", key="one")
    await wait_for(lambda: bool(stack.slack.responses("one")), what="the first answer")
    assert stack.app is not None
    await stack.app[WORKER].events.apply(RunUpdate(  # attempt 1's completed webhook, late
        run_id=run_id, workflow=run.workflow.file, status="completed", conclusion="failure", html_url="",
        head_sha=run.head_sha, head_branch="", title=run.display_title, event=run.event, actor=run.actor,
        repository="acme/platform"))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        jobs = await rows(stack, "SELECT state FROM inbox WHERE source = 'ghjob'")
        if jobs and all(j["state"] == "done" for j in jobs):
            break
        await asyncio.sleep(0.05)
    assert [j["state"] for j in jobs] == ["done"] and stack.github.reruns == [], (jobs, stack.github.reruns)
    assert [r["state"] for r in await rows(stack, f"SELECT state FROM requests WHERE id = '{rid}'")] == ["failed"]

    await stack.click("U0LEAD", "rerun", rid, channel="C0DEPLOYS", key="two")
    await wait_for(lambda: run_id in stack.github.reruns, what="the second press re-runs")
    assert "Re-running" in stack.slack.responses("two")[0]["text"]
    assert stack.github.reruns == [run_id]

async def test_a_run_started_outside_chat_gets_the_same_card(stack: Stack) -> None:
    run = await stack.github.start_run("web-ci.yml", "main", event="push", actor="dev-gh")
    await wait_for(lambda: any("succeeded" in message_text(m) and "web" in message_text(m)
                               for m in stack.card_messages("C0DEPLOYS")), what="external run card")
    cards_for_run = [m for m in stack.card_messages("C0DEPLOYS") if f"/runs/{run.id}" in message_text(m)]
    assert len(cards_for_run) == 1
    assert "*Requested by*\ndev" in message_text(cards_for_run[0])


# ---------------------------------------------------------------- gate: github

async def test_gate_github_external_run_needs_another_person_then_one_callback(gated: Stack) -> None:
    stack = gated
    run = await stack.github.start_run("api-ci.yml", "main", inputs={"environment": "production"},
                                       event="workflow_dispatch", actor="dev-gh")
    await wait_for(lambda: any("Approve" in message_text(m) for m in stack.card_messages("C0APPROVALS")),
                   what="approval card for the external run")
    card = next(m for m in stack.card_messages("C0APPROVALS") if "Approve" in message_text(m))
    rid = next(w for w in message_text(card).split() if w.startswith("r-"))
    await stack.click("U0DEV", "approve", rid, message_ts=card.ts, key="self")  # dev-gh triggered it
    await wait_for(lambda: bool(stack.slack.responses("self")), what="self refusal")
    assert "four eyes" in stack.slack.responses("self")[0]["text"]
    await asyncio.sleep(0.3)
    assert [r for r in stack.github.reviews if r.run_id == run.id] == []

    await stack.click("U0SRE", "approve", rid, message_ts=card.ts, key="sre")
    await wait_for(lambda: any(r.run_id == run.id for r in stack.github.reviews), what="callback")
    await wait_for(lambda: stack.github.runs[run.id].status == "completed", what="run completes")
    callbacks = [r for r in stack.github.reviews if r.run_id == run.id]
    assert len(callbacks) == 1
    assert callbacks[0].body["state"] == "approved" and callbacks[0].body["environment_name"] == "production"
    assert "sre" in callbacks[0].body["comment"]


async def test_gate_github_chat_deploy_is_dispatched_then_approved_at_the_rule(gated: Stack) -> None:
    stack = gated
    _, answer = await stack.command("U0DEV", "api v1.4.2 to production")
    rid = answer["text"].split("`")[1]
    await wait_for(lambda: len(stack.github.dispatches) == 1, what="dispatch (the gate is at GitHub)")
    await wait_for(lambda: any(rid in message_text(m) and "Approve" in message_text(m)
                               for m in stack.card_messages("C0APPROVALS")), what="approval card")
    await stack.click("U0LEAD", "approve", rid, key="lead")
    await wait_for(lambda: any(rid in message_text(m) and "succeeded" in message_text(m)
                               for m in stack.card_messages("C0APPROVALS")), what="success")
    assert len(stack.github.reviews) == 1 and stack.github.reviews[0].body["state"] == "approved"


async def test_gate_github_expired_request_is_rejected(tmp_path: Path) -> None:
    config = write_config(tmp_path, **{"environments.production": {
        "deployers": ["deployers"], "approvers": ["approvers"], "approvals": 1, "approval_ttl": "1s",
        "gate": "github"}})
    async with Stack(database_url=f"sqlite:///{tmp_path}/bot.db", config_path=config) as stack:
        stack.github.protect("production", "custom")
        run = await stack.github.start_run("api-ci.yml", "main", inputs={"environment": "production"},
                                           event="workflow_dispatch", actor="dev-gh")
        await wait_for(lambda: any(r.run_id == run.id for r in stack.github.reviews), timeout=20,
                       what="rejection callback")
        (review,) = [r for r in stack.github.reviews if r.run_id == run.id]
        assert review.body["state"] == "rejected" and "Expired" in review.body["comment"]
        await wait_for(lambda: any("expired" in message_text(m) for m in stack.card_messages("C0APPROVALS")),
                       what="card says expired")


async def test_lock_refuses_chat_deploys_and_rejects_runs_started_elsewhere(gated: Stack) -> None:
    stack = gated
    _, reply = await stack.command("U0SRE", "lock production incident 42")
    assert "locked" in reply["text"]
    _, reply = await stack.command("U0DEV", "api v1.4.2 to production")
    assert "locked by sre" in reply["text"] and "incident 42" in reply["text"]
    run = await stack.github.start_run("api-ci.yml", "main", inputs={"environment": "production"},
                                       event="workflow_dispatch", actor="dev-gh")
    await wait_for(lambda: any(r.run_id == run.id for r in stack.github.reviews), what="rejection")
    (review,) = [r for r in stack.github.reviews if r.run_id == run.id]
    assert review.body["state"] == "rejected" and "incident 42" in review.body["comment"]
    assert stack.github.dispatches == []


async def test_freeze_refuses_deploys_and_admin_force_is_announced(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    config = write_config(tmp_path, freezes=[{
        "environments": ["staging"], "from": (now - timedelta(hours=1)).isoformat(),
        "to": (now + timedelta(hours=1)).isoformat(), "reason": "year-end freeze"}])
    async with Stack(database_url=f"sqlite:///{tmp_path}/bot.db", config_path=config) as stack:
        _, reply = await stack.command("U0LEAD", "api v1.4.2 to staging")
        assert "frozen" in reply["text"] and "year-end freeze" in reply["text"]
        _, reply = await stack.command("U0LEAD", "api v1.4.2 to staging --force")
        assert "only admins" in reply["text"]
        _, reply = await stack.command("U0SRE", "status api")
        assert "frozen" in reply["text"]
        assert stack.github.dispatches == []


async def test_a_server_without_run_details_is_correlated_by_request_id(stack: Stack) -> None:
    stack.github.legacy_dispatch = True  # like an older GHES: 204, no run id
    stack.github.webhook_url = None  # and no webhooks either: the bot must look the run up itself
    _, answer = await stack.command("U0DEV", "api v1.4.2 to staging")
    rid = answer["text"].split("`")[1]
    await wait_for(lambda: len(stack.github.dispatches) == 1, what="dispatch")
    run_id = stack.github.dispatches[0].run_id
    await wait_for(lambda: any(f"/runs/{run_id}" in message_text(m) and rid in message_text(m)
                               for m in stack.card_messages("C0DEPLOYS")), timeout=20, what="run link on the card")
    rows_ = await rows(stack, f"SELECT run_id FROM requests WHERE id = '{rid}'")
    assert rows_[0]["run_id"] == run_id


async def test_a_rollback_run_started_in_github_gets_a_rollback_card(stack: Stack) -> None:
    run = await stack.github.start_run("rollback.yml", "main", event="workflow_dispatch", actor="sre-gh",
                                       inputs={"service": "api", "environment": "production",
                                               "target_version": "v1.4.1", "request_id": ""})
    await wait_for(lambda: any("Rollback api v1.4.1 → production" in message_text(m) and "succeeded"
                               in message_text(m) for m in stack.card_messages("C0DEPLOYS")), what="rollback card")
    card = next(m for m in stack.card_messages("C0DEPLOYS") if f"/runs/{run.id}" in message_text(m))
    assert "*Requested by*\nsre" in message_text(card)


async def test_repeated_webhooks_change_nothing_and_post_nothing(stack: Stack) -> None:
    """GitHub redelivers, and sends in_progress again for each job: a webhook that repeats what the card
    already shows is done without a write and without a chat call (the worker reads the batch's runs once)."""
    run = await stack.github.start_run("web-ci.yml", "main", event="push", actor="dev-gh")
    await wait_for(lambda: any("succeeded" in message_text(m) and f"/runs/{run.id}" in message_text(m)
                               for m in stack.card_messages("C0DEPLOYS")), what="external run card")
    await stack.github.wait_idle()
    await _github_inbox_done(stack)
    await asyncio.sleep(1.5)  # past the outbox's channel interval: every card update has gone out
    sql = f"SELECT state, updated_at, attempt, jobs FROM requests WHERE run_id = {run.id}"
    before, calls = await rows(stack, sql), len(stack.slack.calls)
    repeats = [d for d in stack.github.deliveries if d.event in ("workflow_run", "workflow_job")
               and (d.payload.get("workflow_run") or d.payload.get("workflow_job") or {}).get(
                   "id" if d.event == "workflow_run" else "run_id") == run.id]
    assert {d.payload["action"] for d in repeats if d.event == "workflow_run"} >= {"in_progress", "completed"}
    for d in repeats:  # the same payloads again, under new delivery ids
        assert (await stack.github.send_webhook(d.event, d.payload)).status == 202
    await _github_inbox_done(stack)
    await asyncio.sleep(1.5)  # a card update, had there been one, would have gone out by now
    assert before[0]["state"] == "succeeded"
    assert await rows(stack, sql) == before
    assert [(c.method, c.args.get("text")) for c in stack.slack.calls[calls:]] == []


async def test_ingest_worker_and_outbox_share_what_is_on_its_way_to_a_card(stack: Stack) -> None:
    """Issue 27 item 2 (bot.delivery.pending): the app wires one record of the webhooks acked and not applied yet;
    once a run's webhooks are applied nothing of it is left to wait for, and its card is known by its run."""
    assert stack.app is not None
    pending = stack.app[PIPELINE].pending
    assert pending is not None and stack.app[WORKER].pending is pending and stack.app[OUTBOX].pending is pending
    run = await stack.github.start_run("web-ci.yml", "main", event="push", actor="dev-gh")
    await wait_for(lambda: any("succeeded" in message_text(m) and f"/runs/{run.id}" in message_text(m)
                               for m in stack.card_messages("C0DEPLOYS")), what="external run card")
    await stack.github.wait_idle()
    await _github_inbox_done(stack)
    request = (await rows(stack, f"SELECT id FROM requests WHERE run_id = {run.id}"))[0]["id"]
    await wait_for(lambda: pending.noted() == 0, what="the run's webhooks forgotten once applied")
    assert pending.run_of(f"req:{request}") == run.id


async def _github_inbox_done(stack: Stack, within: float = 10.0) -> None:
    async def pending() -> int:
        return len(await rows(stack, "SELECT id FROM inbox WHERE source = 'github' AND state = 'pending'"))
    deadline = time.monotonic() + within
    while await pending() and time.monotonic() < deadline:  # noqa: ASYNC110 - polls the database
        await asyncio.sleep(0.05)
    assert await pending() == 0
