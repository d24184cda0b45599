"""Issue 2's acceptance, end to end: signed Slack requests through the real app to the sandbox fakes."""

from __future__ import annotations

import asyncio
import json
import re
import time

import pytest

from sandbox.signing import sign_slack, slash_command_body
from sandbox.stack import Stack, message_text, wait_for

REQ = re.compile(r"`(r-[a-z0-9]{8})`")


def request_id(answer: dict) -> str:
    m = REQ.search(answer.get("text", ""))
    assert m, answer
    return m.group(1)


async def audit(stack: Stack) -> list:
    from chatops.app import STORE

    assert stack.app is not None
    async with stack.app[STORE].unit() as u:
        return await u.audit_log()


async def test_staging_deploy_dispatches_once_and_card_evolves(stack: Stack) -> None:
    status, answer = await stack.command("U0DEV", "api v1.4.2 to staging")
    assert status == 200
    assert answer["response_type"] == "ephemeral"
    rid = request_id(answer)
    await wait_for(lambda: len(stack.github.dispatches) == 1, what="dispatch")
    d = stack.github.dispatches[0]
    assert (d.workflow, d.ref) == ("api-ci.yml", "v1.4.2")
    assert d.inputs == {"environment": "staging", "request_id": rid, "requested_by": "dev"}
    await wait_for(lambda: any("succeeded" in message_text(m) for m in stack.card_messages("C0DEPLOYS")),
                   what="card shows success")
    cards = stack.card_messages("C0DEPLOYS")
    assert len(cards) == 1, "one evolving card, not a stream"
    assert cards[0].edits >= 1
    text = message_text(cards[0])
    sha = stack.github.resolve("v1.4.2")
    assert sha
    assert rid in text and sha[:7] in text
    assert f"/actions/runs/{d.run_id}" in text
    await asyncio.sleep(0.3)
    assert len(stack.github.dispatches) == 1


async def test_slack_retry_of_the_same_command_has_no_second_effect(stack: Stack) -> None:
    body = slash_command_body("/deploy", "api v1.4.2 to staging", "U0DEV", "C0DEPLOYS", trigger_id="111.222.abc",
                              response_url=stack.slack.response_url("k"))
    headers = {**sign_slack("sandbox-signing-secret", body), "Content-Type": "application/x-www-form-urlencoded"}
    first = await stack.post("/slack/events", body, headers)
    retry_headers = {**headers, "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    second = await stack.post("/slack/events", body, retry_headers)
    assert first[0] == second[0] == 200
    assert "Already received" in second[1]
    await wait_for(lambda: len(stack.github.dispatches) == 1, what="dispatch")
    await asyncio.sleep(0.5)
    assert len(stack.github.dispatches) == 1


async def test_bad_or_stale_signature_is_refused_and_changes_nothing(stack: Stack) -> None:
    body = slash_command_body("/deploy", "api v1.4.2 to staging", "U0DEV", "C0DEPLOYS")
    bad = {**sign_slack("wrong-secret", body), "Content-Type": "application/x-www-form-urlencoded"}
    stale = {**sign_slack("sandbox-signing-secret", body, timestamp=int(time.time()) - 600),
             "Content-Type": "application/x-www-form-urlencoded"}
    missing = {"Content-Type": "application/x-www-form-urlencoded"}
    for headers in (bad, stale, missing):
        status, _ = await stack.post("/slack/events", body, headers)
        assert status == 401
    await asyncio.sleep(0.3)
    assert stack.github.dispatches == []
    assert await audit(stack) == []


async def test_production_needs_another_persons_approval(stack: Stack) -> None:
    _, answer = await stack.command("U0DEV", "api v1.4.2 to production")
    rid = request_id(answer)
    await wait_for(lambda: len(stack.card_messages("C0APPROVALS")) == 1, what="approval card")
    card = stack.card_messages("C0APPROVALS")[0]
    await wait_for(lambda: "Approve" in message_text(stack.card_messages("C0APPROVALS")[0]), what="buttons")
    text = message_text(stack.card_messages("C0APPROVALS")[0])
    for fact in (rid, "api", "production", "dev", stack.github.resolve("v1.4.2")[:7], "Expires"):
        assert fact in text
    await asyncio.sleep(0.3)
    assert stack.github.dispatches == [], "nothing dispatched before approval"

    status, _ = await stack.click("U0DEV", "approve", rid, message_ts=card.ts, key="self")
    assert status == 200
    await wait_for(lambda: stack.slack.responses("self"), what="refusal")
    assert "four eyes" in stack.slack.responses("self")[0]["text"]
    await asyncio.sleep(0.2)
    assert stack.github.dispatches == []

    await stack.click("U0LEAD", "approve", rid, message_ts=card.ts, key="lead")
    await wait_for(lambda: len(stack.github.dispatches) == 1, what="dispatch after approval")
    assert stack.github.dispatches[0].inputs["environment"] == "production"
    await wait_for(lambda: "succeeded" in message_text(stack.card_messages("C0APPROVALS")[0]), what="success")
    final = message_text(stack.card_messages("C0APPROVALS")[0])
    assert "approved by lead" in final
    # decisions update the same card (a production success adds its deploy notes as a reply in its thread)
    assert len([m for m in stack.card_messages("C0APPROVALS") if m.thread_ts in (None, m.ts)]) == 1
    entries = await audit(stack)
    assert any(e.actor == "dev" and e.action == "approve" and e.result == "denied" for e in entries)
    assert any(e.actor == "lead" and e.action == "approve" and e.result == "ok" for e in entries)


async def test_two_approvers_at_once_give_one_dispatch(stack: Stack) -> None:
    _, answer = await stack.command("U0DEV", "web v1.4.2 to production")
    rid = request_id(answer)
    await wait_for(lambda: any("Approve" in message_text(m) for m in stack.card_messages("C0APPROVALS")),
                   what="approval card")
    results = await asyncio.gather(stack.click("U0LEAD", "approve", rid, key="a"),
                                   stack.click("U0SRE", "approve", rid, key="b"))
    assert [s for s, _ in results] == [200, 200]
    await wait_for(lambda: len(stack.github.dispatches) == 1, what="dispatch")
    await asyncio.sleep(0.5)
    assert len(stack.github.dispatches) == 1
    answers = stack.slack.responses("a") + stack.slack.responses("b")
    assert sum("Approved" in a["text"] for a in answers) == 1


async def test_guest_is_refused_everywhere_with_an_audit_entry_each(stack: Stack) -> None:
    _, answer = await stack.command("U0DEV", "api v1.4.2 to production")
    rid = request_id(answer)
    attempts = [
        ("/deploy", "api v1.4.2 to staging"),
        ("/deploy", "status"),
        ("/approve", ""),
        ("/approve", rid),
        ("/rollback", "api staging"),
        ("/deploy", "lock staging"),
    ]
    for command, text in attempts:
        status, reply = await stack.command("U0GUEST", text, command=command)
        assert status == 200
        assert "Not allowed" in reply["text"], (command, text, reply)
    await stack.click("U0GUEST", "approve", rid, key="guest")
    await wait_for(lambda: stack.slack.responses("guest"), what="click refusal")
    assert "Not allowed" in stack.slack.responses("guest")[0]["text"]
    entries = [e for e in await audit(stack) if e.actor == "slack:U0GUEST"]
    assert len(entries) == len(attempts) + 1
    assert all(e.result == "denied" for e in entries)
    await asyncio.sleep(0.3)
    assert stack.github.dispatches == []


async def test_bad_input_gets_usage_and_changes_nothing(stack: Stack) -> None:
    cases = {
        "nope v1 to staging": "Unknown service",
        "api v1 to mars": "Unknown environment",
        "api -rf to staging": "Malformed ref",
        "api v1.4.2 staging": "Missing `to`",
        "api $(reboot) to staging": "Malformed ref",
    }
    for text, expected in cases.items():
        status, reply = await stack.command("U0DEV", text)
        assert status == 200
        assert expected in reply["text"], (text, reply)
        assert "Usage:" in reply["text"]
    status, reply = await stack.command("U0DEV", "web staging to", command="/rollback")
    assert "Usage:" in reply["text"]
    await asyncio.sleep(0.3)
    assert stack.github.dispatches == []


async def test_rollback_dispatches_the_rollback_workflow(stack: Stack) -> None:
    _, answer = await stack.command("U0LEAD", "api production to v1.4.1", command="/rollback")
    rid = request_id(answer)
    assert "approval" in answer["text"]  # production rollbacks follow production's approval policy
    await wait_for(lambda: any(rid in message_text(m) and "Approve" in message_text(m)
                               for m in stack.card_messages("C0APPROVALS")), what="approval card")
    assert stack.github.dispatches == []
    await stack.click("U0SRE", "approve", rid, key="sre-rollback")
    await wait_for(lambda: len(stack.github.dispatches) == 1, what="rollback dispatch")
    d = stack.github.dispatches[0]
    assert d.workflow == "rollback.yml"
    assert d.inputs == {"service": "api", "environment": "production", "target_version": "v1.4.1",
                        "request_id": rid}


async def test_unknown_ref_is_reported_to_the_requester(stack: Stack) -> None:
    await stack.command("U0DEV", "api no-such-branch to staging", key="missing")
    await wait_for(lambda: any("could not start" in r["text"] for r in stack.slack.responses("missing")),
                   what="failure notice")
    assert stack.github.dispatches == []


async def test_status_shows_what_is_deployed(stack: Stack) -> None:
    await stack.command("U0DEV", "api v1.4.2 to staging")
    await wait_for(lambda: any("succeeded" in message_text(m) for m in stack.card_messages("C0DEPLOYS")),
                   what="deployed")
    await wait_for(lambda: False if not stack.app else True, what="app")
    for _ in range(50):
        _, reply = await stack.command("U0SRE", "status api")
        if "v1.4.2" in reply["text"]:
            break
        await asyncio.sleep(0.05)
    assert "staging: v1.4.2" in reply["text"]
    assert "by dev" in reply["text"]


async def test_lock_refuses_deploys_until_unlocked(stack: Stack) -> None:
    _, reply = await stack.command("U0SRE", "lock staging for 1h db migration")
    assert "locked" in reply["text"]
    _, reply = await stack.command("U0DEV", "api v1.4.2 to staging")
    assert "locked by sre" in reply["text"] and "db migration" in reply["text"]
    _, reply = await stack.command("U0SRE", "unlock staging")
    assert "unlocked" in reply["text"]
    _, reply = await stack.command("U0DEV", "api v1.4.2 to staging")
    assert "Request" in reply["text"]
    await wait_for(lambda: len(stack.github.dispatches) == 1, what="dispatch after unlock")


async def test_approve_command_lists_and_decides(stack: Stack) -> None:
    _, answer = await stack.command("U0DEV", "api v1.4.2 to production")
    rid = request_id(answer)
    await wait_for(lambda: any("Approve" in message_text(m) for m in stack.card_messages("C0APPROVALS")),
                   what="approval card")
    _, mine = await stack.command("U0DEV", "", command="/approve")
    assert "Nothing is waiting for your approval" in mine["text"]  # the requester may not approve
    _, listing = await stack.command("U0LEAD", "", command="/approve")
    assert rid in json.dumps(listing["blocks"])
    buttons = [el for b in listing["blocks"] if b["type"] == "actions" for el in b["elements"]]
    assert {(b["action_id"], b["value"]) for b in buttons} >= {("approve", rid), ("reject", rid)}
    _, decided = await stack.command("U0SRE", f"reject {rid} not during the incident", command="/approve")
    assert "Rejected" in decided["text"]
    await wait_for(lambda: any(rid in message_text(m) and "rejected" in message_text(m)
                               and "not during the incident" in message_text(m)
                               for m in stack.card_messages("C0APPROVALS")), what="card shows the rejection")
    _, late = await stack.command("U0LEAD", f"{rid} looks good", command="/approve")
    assert "Not allowed" in late["text"] and "rejected" in late["text"]
    await asyncio.sleep(0.3)
    assert stack.github.dispatches == []


@pytest.fixture
async def stack(database_url: str):
    async with Stack(database_url=database_url) as s:
        yield s


async def test_card_links_the_changes_since_the_previous_deployment(stack: Stack) -> None:
    first = request_id((await stack.command("U0DEV", "api v1.4.1 to staging"))[1])
    await wait_for(lambda: any(first in message_text(m) and "succeeded" in message_text(m)
                               for m in stack.card_messages("C0DEPLOYS")), what="first deploy")
    second = request_id((await stack.command("U0DEV", "api v1.4.2 to staging"))[1])
    await wait_for(lambda: any(second in message_text(m) and "succeeded" in message_text(m)
                               for m in stack.card_messages("C0DEPLOYS")), what="second deploy")
    card = next(m for m in stack.card_messages("C0DEPLOYS") if second in message_text(m))
    old, new = stack.github.resolve("v1.4.1"), stack.github.resolve("v1.4.2")
    assert f"/compare/{old}...{new}|Changes since last deploy" in message_text(card)
