"""Issue 11 defects 6 and 7, issue 12 items 2 and 3, end to end: signed webhooks from the GitHub fake through the
real HTTP app. The rule (docs/configuration.md, "Gates"): when GitHub asks the bot, the bot answers for every gate;
a run it dispatched after a chat decision is approved, a run started elsewhere gets the chat policy, the environment
judged is the one asked for, and every request of a run (one per job that names the environment) is answered."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from chatops.app import STORE
from sandbox.stack import EXAMPLE_CONFIG, Stack, message_text, wait_for


def config_file(tmp_path: Path, edit: Any = None) -> Path:
    data = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    if edit:
        edit(data)
    path = tmp_path / "chatops.yml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
async def protected(tmp_path: Path) -> AsyncIterator[Stack]:
    """The example config as shipped (production: gate bot, 1 approval) with the protection rule installed on every
    environment, as infra/environments/*.tfvars do."""
    async with Stack(database_url=f"sqlite:///{tmp_path}/bot.db", config_path=config_file(tmp_path)) as stack:
        for env in ("dev", "staging", "production"):
            stack.github.protect(env, "custom")
        yield stack


async def rows(stack: Stack, sql: str) -> list[dict[str, Any]]:
    assert stack.app is not None
    async with stack.app[STORE].unit() as u:
        return await u.c.fetch(sql)


def callbacks(stack: Stack, run_id: int) -> list[dict[str, Any]]:
    return [r.body for r in stack.github.reviews if r.run_id == run_id and r.kind == "protection_rule"]


async def test_gate_bot_deploy_approved_in_chat_is_approved_at_the_rule(protected: Stack) -> None:
    stack = protected
    _, answer = await stack.command("U0DEV", "api v1.4.2 to production")
    rid = answer["text"].split("`")[1]
    await wait_for(lambda: any(rid in message_text(m) and "Approve" in message_text(m)
                               for m in stack.card_messages("C0APPROVALS")), what="approval card")
    assert stack.github.dispatches == []  # gate bot: held until approved
    await stack.click("U0LEAD", "approve", rid, key="lead")
    await wait_for(lambda: len(stack.github.dispatches) == 1, what="dispatch after approval")
    run_id = stack.github.dispatches[0].run_id
    assert run_id is not None
    await wait_for(lambda: bool(callbacks(stack, run_id)), what="protection-rule answer")
    (answer_,) = callbacks(stack, run_id)
    assert answer_["state"] == "approved" and answer_["environment_name"] == "production"
    assert "lead" in answer_["comment"]
    await wait_for(lambda: stack.github.runs[run_id].conclusion == "success", what="the run deploys")


async def test_gate_bot_deploy_without_approvals_is_approved_at_the_rule(protected: Stack) -> None:
    stack = protected
    await stack.command("U0DEV", "api v1.4.2 to staging")
    await wait_for(lambda: len(stack.github.dispatches) == 1, what="dispatch")
    run_id = stack.github.dispatches[0].run_id
    assert run_id is not None
    await wait_for(lambda: bool(callbacks(stack, run_id)), what="protection-rule answer")
    assert callbacks(stack, run_id)[0]["state"] == "approved"
    assert callbacks(stack, run_id)[0]["comment"] == "No approval needed"


async def test_run_started_in_github_waits_for_chat_approval_whatever_the_gate(protected: Stack) -> None:
    stack = protected  # production is gate: bot; a run from the Actions UI still needs the chat approval
    run = await stack.github.start_run("api-ci.yml", "main", inputs={"environment": "production"},
                                       event="workflow_dispatch", actor="dev-gh")
    await wait_for(lambda: any(f"/runs/{run.id}" in message_text(m) and "Approve" in message_text(m)
                               for m in stack.card_messages("C0APPROVALS")), what="approval card")
    assert callbacks(stack, run.id) == []
    card = next(m for m in stack.card_messages("C0APPROVALS") if f"/runs/{run.id}" in message_text(m))
    rid = next(w for w in message_text(card).split() if w.startswith("r-"))
    await stack.click("U0SRE", "approve", rid, message_ts=card.ts, key="sre")
    await wait_for(lambda: bool(callbacks(stack, run.id)), what="answer after approval")
    assert callbacks(stack, run.id)[0]["state"] == "approved"
    assert callbacks(stack, run.id)[0]["environment_name"] == "production"


async def test_run_started_in_github_without_approvals_is_approved_unless_locked(protected: Stack) -> None:
    stack = protected
    run = await stack.github.start_run("api-ci.yml", "main", inputs={"environment": "staging"},
                                       event="workflow_dispatch", actor="dev-gh")
    await wait_for(lambda: bool(callbacks(stack, run.id)), what="answer")
    assert callbacks(stack, run.id)[0]["state"] == "approved"
    _, reply = await stack.command("U0SRE", "lock staging db migration")
    assert "locked" in reply["text"]
    locked = await stack.github.start_run("api-ci.yml", "main", inputs={"environment": "staging"},
                                          event="workflow_dispatch", actor="dev-gh")
    await wait_for(lambda: bool(callbacks(stack, locked.id)), what="refusal")
    assert callbacks(stack, locked.id)[0]["state"] == "rejected"
    assert "db migration" in callbacks(stack, locked.id)[0]["comment"]


async def test_every_job_that_names_the_environment_is_answered(tmp_path: Path) -> None:
    """An image-build job and a release job both name production: two requests for one run, two answers."""
    def gate_github(data: dict[str, Any]) -> None:
        data["environments"]["production"]["gate"] = "github"

    async with Stack(database_url=f"sqlite:///{tmp_path}/bot.db",
                     config_path=config_file(tmp_path, gate_github)) as stack:
        stack.github.protect("production", "custom")
        stack.github.gates_per_run = 2
        _, answer = await stack.command("U0DEV", "api v1.4.2 to production")
        rid = answer["text"].split("`")[1]
        await wait_for(lambda: any(rid in message_text(m) and "Approve" in message_text(m)
                                   for m in stack.card_messages("C0APPROVALS")), what="approval card")
        await stack.click("U0LEAD", "approve", rid, key="lead")
        run_id = stack.github.dispatches[0].run_id
        assert run_id is not None
        await wait_for(lambda: stack.github.runs[run_id].status == "completed", what="the run completes")
        answers = callbacks(stack, run_id)
        assert [a["state"] for a in answers] == ["approved", "approved"]
        assert stack.github.runs[run_id].conclusion == "success"
        # the completed webhook is recorded, then applied by a worker: wait for it, then check the state
        for _ in range(300):
            states = [r["state"] for r in await rows(stack, f"SELECT state FROM requests WHERE id = '{rid}'")]
            if states != ["running"]:
                break
            await asyncio.sleep(0.05)
        assert states == ["succeeded"]


async def test_protection_rule_for_another_environment_is_refused_for_that_environment(tmp_path: Path) -> None:
    """Issue 12.2: a run the bot started for staging asks for prodgh; a staging-only approver must not let it in."""
    def two_gates(data: dict[str, Any]) -> None:
        data["people"]["qa"] = {"slack": "U0QA", "github": "qa-gh"}
        data["groups"]["stagers"] = ["qa"]
        data["environments"]["staging"] = {"deployers": ["deployers"], "approvers": ["stagers"], "approvals": 1,
                                           "gate": "github"}
        data["environments"]["prodgh"] = {"deployers": ["deployers"], "approvers": ["approvers"], "approvals": 1,
                                          "gate": "github"}
        data["services"]["api"]["environments"].append("prodgh")

    async with Stack(database_url=f"sqlite:///{tmp_path}/bot.db",
                     config_path=config_file(tmp_path, two_gates)) as stack:
        stack.github.protect("prodgh", "custom")
        stack.github.job_environment = {"staging": "prodgh"}  # the run's deploy job names prodgh
        _, answer = await stack.command("U0DEV", "api v1.4.2 to staging")
        rid = answer["text"].split("`")[1]
        await wait_for(lambda: len(stack.github.dispatches) == 1, what="dispatch (gate github)")
        run_id = stack.github.dispatches[0].run_id
        assert run_id is not None
        await wait_for(lambda: bool(callbacks(stack, run_id)), what="the answer for prodgh")
        (refusal,) = callbacks(stack, run_id)
        assert refusal["state"] == "rejected" and refusal["environment_name"] == "prodgh"
        assert "staging" in refusal["comment"]
        await stack.click("U0QA", "approve", rid, key="qa")
        await wait_for(lambda: bool(stack.slack.responses("qa")), what="answer to the staging approver")
        await stack.github.wait_idle()
        assert [c["state"] for c in callbacks(stack, run_id)] == ["rejected"]
        assert stack.github.runs[run_id].conclusion == "failure"


async def test_a_title_naming_a_request_does_not_bind_an_unrelated_run(protected: Stack) -> None:
    """Issue 12.3: a pull request's lint run titled ``Fix typo [r-…]`` must not drive a pending request."""
    stack = protected
    _, answer = await stack.command("U0DEV", "api v1.4.2 to production")
    rid = answer["text"].split("`")[1]
    await wait_for(lambda: any(rid in message_text(m) and "Approve" in message_text(m)
                               for m in stack.card_messages("C0APPROVALS")), what="pending request")
    stack.github.add_workflow("lint.yml", name="lint")
    attacker = stack.github.add_ref("fix-typo", kind="branch")
    hijack = await stack.github.start_run("lint.yml", "fix-typo", event="pull_request", actor="mallory")
    hijack.display_title = f"Fix typo [{rid}]"  # set before the first webhook goes out
    same_workflow = await stack.github.start_run("api-ci.yml", "fix-typo", event="pull_request", actor="mallory")
    same_workflow.display_title = f"deploy api to production [{rid}]"  # a pull request may rewrite run-name
    await stack.github.wait_idle()
    (req,) = await rows(stack, f"SELECT state, run_id, sha FROM requests WHERE id = '{rid}'")
    assert req["state"] == "pending_approval" and req["run_id"] is None
    assert await rows(stack, "SELECT * FROM deployments") == []
    assert attacker not in {r["sha"] for r in await rows(stack, "SELECT sha FROM requests")}
    _, status = await stack.command("U0SRE", "status api")
    assert attacker[:7] not in status["text"]


async def status_until(stack: Stack, needle: str, *, what: str) -> str:
    """The ``/deploy status api`` reply (a signed slash command), once it contains ``needle``."""
    text = ""
    for _ in range(100):
        _, reply = await stack.command("U0SRE", "status api")
        text = str(reply["text"])
        if needle in text:
            return text
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what}: {needle!r} not in {text!r}")


async def test_a_run_started_by_a_push_reaches_deploy_status(protected: Stack) -> None:
    stack = protected
    await stack.github.start_run("api-ci.yml", "main", event="push", actor="dev-gh")  # run-name: deploy api to dev
    main_sha = stack.github.branches["main"]
    text = await status_until(stack, f"dev: main ({main_sha[:7]})", what="the push run's deployment")
    assert "staging: nothing deployed yet" in text


async def test_deploy_status_shows_the_release_a_rollback_put_live(protected: Stack) -> None:
    stack = protected
    old, new, main = stack.github.tags["v1.4.1"], stack.github.tags["v1.4.2"], stack.github.branches["main"]
    for version in ("v1.4.1", "v1.4.2"):
        await stack.command("U0DEV", f"api {version} to staging")
        sha = stack.github.tags[version]
        await status_until(stack, f"staging: {version} ({sha[:7]})", what=f"{version} deployed")
    _, reply = await stack.command("U0LEAD", "api staging to v1.4.1", command="/rollback")
    assert "rollback" in reply["text"]
    await wait_for(lambda: any(d.workflow == "rollback.yml" for d in stack.github.dispatches), what="rollback")
    text = await status_until(stack, f"staging: v1.4.1 ({old[:7]})", what="status after the rollback")
    staging = next(line for line in text.splitlines() if "staging:" in line)
    assert main[:7] not in staging and new[:7] not in staging

    await stack.command("U0LEAD", "api staging", command="/rollback")  # previous = the deployment before v1.4.1
    await wait_for(lambda: sum(d.workflow == "rollback.yml" for d in stack.github.dispatches) == 2, what="rb 2")
    await status_until(stack, f"staging: v1.4.2 ({new[:7]})", what="status after rolling back to previous")
