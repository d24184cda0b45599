"""Issue 25 items 1 and 3 end to end (signed Slack commands and clicks, GitHub webhooks from the fake, the real app):
promotion order refused and allowed, the **Promote to production** button and `/deploy promote`, the GitHub
Deployments API as the fallback record, and an admin's emergency deploy past a freeze (card, notices, audit)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.domain import RequestState
from sandbox import github_payloads as gp
from sandbox.stack import Stack, message_text, wait_for
from tests.scenario.store_reads import audit, request, until
from tests.scenario.test_github_flow import write_config

REQ = re.compile(r"`(r-[a-z0-9]{8})`")
PRODUCTION = {"deployers": ["deployers"], "approvers": ["approvers"], "approvals": 1, "approval_ttl": "2h",
              "gate": "bot", "promote_from": "staging"}


def promoting(tmp_path: Path, **changes: Any) -> Path:
    return write_config(tmp_path, **{"environments.production": PRODUCTION, "admins": ["sre", "lead"], **changes})


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with Stack(database_url=f"sqlite:///{tmp_path}/bot.db", config_path=promoting(tmp_path)) as s:
        yield s




def card(stack: Stack, channel: str, rid: str) -> Any:
    found = [m for m in stack.card_messages(channel) if rid in message_text(m) and m.thread_ts is None]
    return found[0] if found else None


async def deploy(stack: Stack, user: str, text: str, *, key: str | None = None) -> str:
    _, answer = await stack.command(user, text, key=key)
    m = REQ.search(str(answer.get("text", "")))
    assert m, answer
    return m.group(1)


async def test_production_refuses_a_commit_not_in_staging_and_takes_one_that_succeeded(stack: Stack) -> None:
    rid = await deploy(stack, "U0DEV", "api v1.4.2 to production", key="first")
    r = await until(stack, rid, RequestState.DISPATCH_FAILED)
    assert "rule: environments.production.promote_from" in r.detail
    assert "Nothing of api has succeeded in staging yet" in r.detail
    assert stack.github.dispatches == []
    # the requester is told privately, through the command's response_url
    await wait_for(lambda: any("promote_from" in str(b) for b in stack.slack.responses("first")),
                   what="the private notice")
    await wait_for(lambda: card(stack, "C0DEPLOYS", rid) is not None
                   and "could not start" in message_text(card(stack, "C0DEPLOYS", rid)), what="the card says why")
    assert any(e.action == "promotion" and e.target == rid and e.result == "denied" for e in await audit(stack))

    # v1.4.1 succeeds in staging; v1.4.2 is still refused, and the refusal offers v1.4.1
    staged = await deploy(stack, "U0DEV", "api v1.4.1 to staging")
    await until(stack, staged, RequestState.SUCCEEDED)
    rid = await deploy(stack, "U0DEV", "api v1.4.2 to production")
    r = await until(stack, rid, RequestState.DISPATCH_FAILED)
    assert "The last good staging version of api is v1.4.1" in r.detail
    assert "/deploy promote api staging to production" in r.detail

    # the commit that succeeded in staging goes through production's own policy (one approval)
    rid = await deploy(stack, "U0DEV", "api v1.4.1 to production")
    await until(stack, rid, RequestState.PENDING_APPROVAL)
    await stack.click("U0LEAD", "approve", rid, key="lead-approves")
    await until(stack, rid, RequestState.SUCCEEDED)
    assert [d.inputs["environment"] for d in stack.github.dispatches] == ["staging", "production"]


async def test_github_deployments_count_when_the_bot_has_no_record(stack: Stack) -> None:
    # staging was deployed by CI outside the bot: GitHub's Deployments API says v1.4.2 succeeded there
    sha = stack.github.resolve("v1.4.2") or ""
    dep = gp.deployment(stack.github.url, "acme/platform", dep_id=950_001, sha=sha, ref="v1.4.2",
                        environment="staging", creator="ci-bot", ts=time.time(), task="deploy", payload=None,
                        description=None)
    stack.github.deployments.append(dep)
    stack.github.deployment_statuses.append({"id": 850_001, "deployment_id": 950_001, "state": "success"})
    rid = await deploy(stack, "U0DEV", "api v1.4.2 to production")
    await until(stack, rid, RequestState.PENDING_APPROVAL)
    assert any(r.path.endswith("/deployments") and r.query.get("sha") == sha for r in stack.github.requests)
    # another tag, never in staging by either record: refused
    rid = await deploy(stack, "U0DEV", "api v1.3.0 to production")
    r = await until(stack, rid, RequestState.DISPATCH_FAILED)
    assert "promote_from" in r.detail and "GitHub's last successful staging deployment is" in r.detail


async def test_promote_button_and_command_request_the_same_commit(stack: Stack) -> None:
    staged = await deploy(stack, "U0DEV", "api v1.4.2 to staging")
    done = await until(stack, staged, RequestState.SUCCEEDED)
    await wait_for(lambda: card(stack, "C0DEPLOYS", staged) is not None
                   and "Promote to production" in message_text(card(stack, "C0DEPLOYS", staged)),
                   what="the staging card's Promote button")
    m = card(stack, "C0DEPLOYS", staged)
    await stack.click("U0DEV", "promote", staged, channel="C0DEPLOYS", message_ts=m.ts, key="promote-click")
    await wait_for(lambda: bool(stack.slack.responses("promote-click")), what="the click's answer")
    answer = stack.slack.responses("promote-click")[0]["text"]
    assert "promotion of api v1.4.2" in answer and "from staging to production" in answer
    promoted = REQ.search(answer).group(1)  # type: ignore[union-attr]
    r = await until(stack, promoted, RequestState.PENDING_APPROVAL)  # production's approval policy applies
    assert (r.environment, r.sha, r.promoted_from, r.requester) == ("production", done.sha, "staging", "dev")
    await wait_for(lambda: card(stack, "C0APPROVALS", promoted) is not None
                   and "Promoted from" in message_text(card(stack, "C0APPROVALS", promoted)), what="approval card")
    assert any(e.action == "promote" and e.target == promoted and "promoted from staging" in e.detail
               for e in await audit(stack))

    # /deploy promote picks the last commit that succeeded in staging
    rid = await deploy(stack, "U0LEAD", "promote api staging to production")
    r = await until(stack, rid, RequestState.PENDING_APPROVAL)
    assert (r.sha, r.promoted_from, r.ref) == (done.sha, "staging", "v1.4.2")
    _, answer = await stack.command("U0LEAD", "promote api production to production")
    assert "Usage" in answer["text"]


async def test_emergency_deploy_past_a_freeze_is_marked_told_and_audited(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    config = promoting(tmp_path, freezes=[{"environments": ["production"], "reason": "year-end freeze",
                                           "from": (now - timedelta(hours=1)).isoformat(),
                                           "to": (now + timedelta(hours=1)).isoformat()}])
    async with Stack(database_url=f"sqlite:///{tmp_path}/bot.db", config_path=config) as s:
        _, answer = await s.command("U0LEAD", "api v1.4.2 to production")
        assert "frozen" in answer["text"]
        _, answer = await s.command("U0DEV", 'api v1.4.2 to production --emergency "payments down"')
        assert "only admins may deploy with --emergency" in answer["text"]
        _, answer = await s.command("U0LEAD", "api v1.4.2 to production --emergency")
        assert "needs a reason" in answer["text"]

        reason = "payments <!channel> *down* & failing"  # untrusted: escaped where rendered
        rid = await deploy(s, "U0LEAD", f'api v1.4.2 to production --emergency "{reason}"')
        r = await until(s, rid, RequestState.PENDING_APPROVAL)  # past the freeze and the promotion order
        assert r.emergency == reason
        entries = [e for e in await audit(s) if e.target == rid]
        assert any(e.action == "emergency" and e.actor == "lead" and "reason: payments" in e.detail
                   and "year-end freeze" in e.detail for e in entries)
        for channel in ("C0SECURITY", "C0DEPLOYS"):
            await wait_for(lambda ch=channel: any(  # type: ignore[misc]
                "Emergency deploy" in message_text(m) and rid in message_text(m) for m in s.card_messages(ch)),
                what=f"the emergency notice in {channel}")
        notice = next(m for m in s.card_messages("C0SECURITY") if rid in message_text(m))
        assert "<!channel>" not in message_text(notice) and "&lt;!channel&gt;" in message_text(notice)
        await wait_for(lambda: card(s, "C0APPROVALS", rid) is not None
                       and "EMERGENCY" in message_text(card(s, "C0APPROVALS", rid)), what="the marked card")
        await wait_for(lambda: any("Emergency deploy" in str(p.body) for p in s.teams.accepted("ops")),
                       what="the Teams notice")
        # never past four eyes: the requester cannot approve it; another approver can
        await s.click("U0LEAD", "approve", rid, key="self-approve")
        await asyncio.sleep(0.2)
        assert (await request(s, rid)).state is RequestState.PENDING_APPROVAL
        await s.click("U0SRE", "approve", rid, key="sre-approves")
        await until(s, rid, RequestState.SUCCEEDED)
