"""Issue 23, item 5, end to end (signed Slack commands and GitHub webhooks through the real app, PyGithub against
the GitHub fake, which applies GitHub's concurrency rule to the shipped api-ci.yml): deploys queue in the bot per
(service, environment), `/deploy cancel` removes a waiting request or cancels its run, and a run GitHub cancels
says so on its card."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.domain import RequestState
from chatops.app import STORE
from sandbox.stack import Stack, message_text, wait_for
from tests.run_gate import Gate
from tests.scenario.store_reads import request


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[tuple[Stack, Gate]]:
    async with Stack(database_url=f"sqlite:///{tmp_path}/bot.db") as s:
        gate = Gate()
        s.github.executor = gate
        yield s, gate
        for run_id in list(s.github.runs):
            gate.finish(run_id)




async def states(stack: Stack, *rids: str) -> list[RequestState]:
    return [(await request(stack, rid)).state for rid in rids]


async def until(stack: Stack, rid: str, *wanted: RequestState) -> None:
    for _ in range(750):
        if (await request(stack, rid)).state in wanted:
            return
        await asyncio.sleep(0.02)
    raise TimeoutError(f"{rid} never reached {wanted}")


def card(stack: Stack, rid: str) -> str:
    texts = [message_text(m) for m in stack.card_messages("C0DEPLOYS") if rid in message_text(m)]
    return texts[0] if texts else ""


async def deploy(stack: Stack, ref: str) -> str:
    _, answer = await stack.command("U0DEV", f"api {ref} to production")
    return str(answer["text"]).split("`")[1]


async def test_three_quick_production_deploys_run_in_order_none_lost(stack: tuple[Stack, Gate]) -> None:
    s, gate = stack
    rids = [await deploy(s, ref) for ref in ("v1.3.0", "v1.4.1", "v1.4.2")]
    for rid in rids:
        await until(s, rid, RequestState.PENDING_APPROVAL)
        await s.click("U0LEAD", "approve", rid, key=f"approve-{rid}")
    await wait_for(lambda: len(gate.started) == 1, what="the first run starts")
    first_run = gate.started[0]
    assert [d.inputs["request_id"] for d in s.github.dispatches] == [rids[0]]  # one run per pair at a time
    await wait_for(lambda: f"queued behind {rids[0]}" in card(s, rids[1]), what="the second card says queued")
    await wait_for(lambda: f"queued behind {rids[0]}" in card(s, rids[2]), what="the third card says queued")
    assert await states(s, rids[1], rids[2]) == [RequestState.APPROVED, RequestState.APPROVED]

    gate.finish(first_run)
    await wait_for(lambda: len(gate.started) == 2, what="the second run starts after the first finished")
    assert (await request(s, rids[0])).state is RequestState.SUCCEEDED
    await wait_for(lambda: f"queued behind {rids[1]}" in card(s, rids[2]), what="the third now waits for the second")
    gate.finish(gate.started[1])
    await wait_for(lambda: len(gate.started) == 3, what="the third run starts")
    gate.finish(gate.started[2])
    for rid in rids:
        await until(s, rid, RequestState.SUCCEEDED)
    assert [d.inputs["request_id"] for d in s.github.dispatches] == rids  # in order
    assert all(run.conclusion == "success" for run in s.github.runs.values())  # GitHub cancelled none


async def test_cancel_a_queued_request_and_a_running_run(stack: tuple[Stack, Gate]) -> None:
    s, gate = stack
    first, second = await deploy(s, "v1.4.1"), await deploy(s, "v1.4.2")
    for rid in (first, second):
        await until(s, rid, RequestState.PENDING_APPROVAL)
        await s.click("U0LEAD", "approve", rid, key=f"approve-{rid}")
    await wait_for(lambda: len(gate.started) == 1, what="the first run starts")
    await until(s, first, RequestState.RUNNING)

    # someone who is neither the requester, an approver nor an admin may not
    _, denied = await s.command("U0OTHER", f"cancel {second}")
    assert "Not allowed" in denied["text"]
    # the requester removes the waiting request: it is never dispatched
    _, answer = await s.command("U0DEV", f"cancel {second}")
    assert "Cancelled" in answer["text"], answer
    assert (await request(s, second)).state is RequestState.CANCELLED
    await wait_for(lambda: "Cancelled by dev before it started" in card(s, second), what="the card says so")

    # an approver cancels the running run at GitHub; the run's webhook ends the request
    _, answer = await s.command("U0LEAD", f"cancel {first}")
    assert "Asked GitHub to cancel" in answer["text"], answer
    await wait_for(lambda: first_run_cancel_sent(s), what="POST .../cancel")
    gate.finish(gate.started[0])
    await until(s, first, RequestState.CANCELLED)
    await wait_for(lambda: "Cancelled by lead" in card(s, first), what="the card names who cancelled")
    assert [d.inputs["request_id"] for d in s.github.dispatches] == [first]

    assert s.app is not None
    async with s.app[STORE].unit() as u:
        audit = [(e.actor, e.target, e.result) for e in await u.audit_log() if e.action == "cancel"]
    assert ("dev", second, "ok") in audit and ("lead", first, "ok") in audit
    assert any(target == second and result == "denied" for _, target, result in audit)


def first_run_cancel_sent(s: Stack) -> bool:
    return any(r.path.endswith("/cancel") and r.status == 202 for r in s.github.requests)


async def test_a_run_github_cancels_says_so_on_its_card(stack: tuple[Stack, Gate]) -> None:
    s, gate = stack
    # runs started in GitHub (not through the bot): GitHub's own rule replaces the pending one
    runs = [await s.github.start_run("api-ci.yml", "main", inputs={"environment": "staging"},
                                     event="workflow_dispatch") for _ in range(3)]
    await wait_for(lambda: runs[1].conclusion == "cancelled", what="GitHub cancels the pending run")
    assert s.app is not None
    for _ in range(750):
        async with s.app[STORE].unit() as u:
            r = await u.request_by_run(runs[1].id)
        if r is not None and r.state is RequestState.CANCELLED:
            break
        await asyncio.sleep(0.02)
    assert r is not None and r.state is RequestState.CANCELLED
    await wait_for(lambda: "GitHub cancelled the run" in card(s, r.id), what="the card says GitHub cancelled it")
    for run in runs:
        gate.finish(run.id)
