"""Issue 24 item 1: a webhook lost on the way (GitHub never redelivers by itself) does not leave a card at "running":
after ``github.reconcile_after`` with no webhook, the bot reads the run and its jobs through the API and applies them
through the webhook path; a run GitHub does not have marks the request lost, with the reason on its card."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sandbox.stack import EXAMPLE_CONFIG, Stack, message_text, wait_for
from tests.reliability.helpers import request_id, rows, settled


def config(tmp_path: Path, **github: Any) -> Path:
    data = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    data["github"].update(github)
    path = tmp_path / "chatops.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def card(stack: Stack, rid: str) -> str:
    return next((message_text(m) for m in stack.card_messages("C0DEPLOYS") if rid in message_text(m)), "")


async def test_a_dropped_completed_webhook_is_reconciled_through_the_api(tmp_path: Path) -> None:
    stack = Stack(database_url=f"sqlite:///{tmp_path}/bot.db", config_path=config(tmp_path, reconcile_after="1s"))
    async with stack:
        stack.github.hooks.drop("workflow_run", "completed")  # lost on the way, e.g. a 502 during a hand-over
        stack.github.hooks.drop("workflow_job", "completed")
        _, answer = await stack.command("U0DEV", "api v1.4.2 to dev", key="cmd")
        rid = request_id(answer)
        await wait_for(lambda: any(d.event == "workflow_run" and d.status == 502 for d in stack.github.deliveries),
                       timeout=20, what="the completed webhook dropped")
        await wait_for(lambda: "succeeded" in card(stack, rid), timeout=20, what="the card reconciled to succeeded")
        assert "deploy" in card(stack, rid)  # the job line read from the API, as its webhook would have set it
        state = await rows(stack, "SELECT state, run_id FROM requests WHERE id = ?", rid)
        assert state[0]["state"] == "succeeded"
        reads = [r for r in stack.github.requests if r.path.endswith(f"/actions/runs/{state[0]['run_id']}")]
        assert reads, "the run was read through the API"
        # no redelivery happened: the reconciler did it
        assert not any(d.redelivery for d in stack.github.deliveries)
        # applied once: a later late webhook (a redelivery) changes nothing, and exactly one success is recorded
        completed = next(d for d in stack.github.deliveries if d.event == "workflow_run" and d.status == 502)
        again = await stack.github.redeliver(completed.delivery_id)
        assert again.ok, again.status
        await settled(stack)  # the late copy is applied (or found to change nothing)
        recorded = await rows(stack, "SELECT COUNT(*) AS n FROM deployments WHERE request_id = ?", rid)
        assert recorded[0]["n"] == 1
        _, metrics = await stack.get("/metrics")
        assert 'chatops_github_reconciled_total{result="read"}' in metrics


async def test_a_run_github_does_not_have_marks_the_request_lost(tmp_path: Path) -> None:
    stack = Stack(database_url=f"sqlite:///{tmp_path}/bot.db", config_path=config(tmp_path, reconcile_after="1s"))
    async with stack:
        for event in ("workflow_run", "workflow_job"):
            stack.github.hooks.drop(event, times=20)  # no webhook of this run ever arrives
        _, answer = await stack.command("U0DEV", "api v1.4.2 to dev", key="cmd")
        rid = request_id(answer)
        await wait_for(lambda: len(stack.github.dispatches) == 1, what="the dispatch")
        run_id = stack.github.dispatches[0].run_id
        stack.github.sim.runs.pop(run_id)  # deleted on GitHub: GET .../runs/{id} answers 404
        await wait_for(lambda: "lost" in card(stack, rid), timeout=20, what="the card marked lost")
        text = card(stack, rid)
        assert f"no workflow run {run_id}" in text and "404" in text
        state = await rows(stack, "SELECT state, detail FROM requests WHERE id = ?", rid)
        assert state[0]["state"] == "lost"
