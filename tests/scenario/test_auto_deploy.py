"""Issue 25 item 2 end to end (signed push / check_suite / status webhooks from the GitHub fake, the real app, the
fake's REST API for the combined status, the check suites and the branch): a green push to ``main`` is deployed to
dev on behalf of its pusher, once; a lock pauses it and says so; a newer commit supersedes an older one; a pusher who
may not deploy is refused, never deployed; four eyes still applies to the pusher."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.domain import RequestState
from chatops.app import STORE
from sandbox.stack import Stack, message_text, wait_for
from tests.scenario.store_reads import audit, request, until
from tests.scenario.test_github_flow import write_config

AUTO = {"environment": "dev", "branch": "main"}
API = {"workflow": "api-ci.yml", "rollback_workflow": "rollback.yml", "environments": ["dev", "staging",
                                                                                     "production"],
       "auto_deploy": AUTO}


def auto_config(tmp_path: Path, **changes: Any) -> Path:
    return write_config(tmp_path, **{"services.api": API, **changes})


@pytest.fixture
async def stack(tmp_path: Path, database_url: str) -> AsyncIterator[Stack]:
    """SQLite and PostgreSQL (tests/conftest.py): the conditional writes are the exactly-once guarantee."""
    async with Stack(database_url=database_url, config_path=auto_config(tmp_path)) as s:
        yield s


async def rows(stack: Stack, sql: str, *args: Any) -> list[dict[str, Any]]:
    assert stack.app is not None
    async with stack.app[STORE].unit() as u:
        return await u.c.fetch(sql, *args)


async def auto_row(stack: Stack, sha: str) -> dict[str, Any]:
    found = await rows(stack, "SELECT * FROM auto_deploys WHERE service = 'api' AND sha = ?", sha)
    return found[0] if found else {}


async def until_row(stack: Stack, sha: str, state: str) -> dict[str, Any]:
    for _ in range(750):
        row = await auto_row(stack, sha)
        if row.get("state") == state:
            return row
        await asyncio.sleep(0.02)
    raise TimeoutError(f"{sha[:7]} never became {state}: {await auto_row(stack, sha)}")




async def settle(stack: Stack) -> None:
    """Let every recorded webhook be applied (the inbox drained) before asserting that nothing happened."""
    for _ in range(500):
        left = await rows(stack, "SELECT id FROM inbox WHERE source = 'github' AND state = 'pending'")
        if not left:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)


def texts(stack: Stack, channel: str = "C0DEPLOYS") -> list[str]:
    return [message_text(m) for m in stack.card_messages(channel)]


async def test_a_green_push_is_deployed_to_dev_once_on_behalf_of_its_pusher(stack: Stack) -> None:
    gh = stack.github
    sha = await gh.push("main", message="fix: retry payments", author="dev-gh")
    await until_row(stack, sha, "waiting")
    gh.suite(sha, "circleci-checks", status="in_progress")  # another App's suite still running
    gh.suite(sha, "codecov", status="queued", runs=0)  # an App that made no check run: GitHub leaves it queued
    await gh.finish_suite(sha, "github-actions")
    await settle(stack)
    assert (await auto_row(stack, sha))["state"] == "waiting" and gh.dispatches == []

    # the last suite goes green: one request, on behalf of dev (the pusher), whatever arrives twice
    delivery = await gh.finish_suite(sha, "circleci-checks")
    row = await until_row(stack, sha, "requested")
    await gh.redeliver(delivery.delivery_id)
    await gh.finish_suite(sha, "circleci-checks")  # GitHub sends completed again (a re-run): a new delivery
    await gh.finish_suite(sha, "github-actions")
    r = await until(stack, row["request_id"], RequestState.SUCCEEDED)
    await settle(stack)
    assert (r.requester, r.environment, r.ref, r.sha, r.auto_deploy) == ("dev", "dev", "main", sha, "main")
    assert [(d.workflow, d.ref, d.inputs["environment"]) for d in gh.dispatches] == [("api-ci.yml", "main", "dev")]
    assert any(e.action == "auto-deploy" and e.target == r.id and e.actor == "dev" and e.result == "ok"
               for e in await audit(stack))
    # the REST confirmation read the commit's combined status, its check suites and the branch's head
    paths = {q.path for q in gh.requests}
    assert {f"/repos/acme/platform/commits/{sha}/status", f"/repos/acme/platform/commits/{sha}/check-suites",
            "/repos/acme/platform/branches/main"} <= paths
    await wait_for(lambda: any(r.id in t and "auto-deploy" in t and "succeeded" in t for t in texts(stack)),
                   what="the card says auto-deploy")


async def test_a_lock_pauses_auto_deploy_says_so_and_the_newest_commit_goes_when_unlocked(stack: Stack) -> None:
    gh = stack.github
    _, answer = await stack.command("U0LEAD", "lock dev <!channel> *db* migration")
    assert "locked" in answer["text"]
    first = await gh.push("main", message="feat: one", author="dev-gh")
    await until_row(stack, first, "waiting")
    await gh.finish_suite(first)
    row = await until_row(stack, first, "paused")
    assert "dev is locked by lead" in row["detail"]
    await wait_for(lambda: any("paused" in t and first[:7] in t for t in texts(stack)), what="the paused notice")
    notice = next(t for t in texts(stack) if "paused" in t and first[:7] in t)
    assert "dev is locked by lead" in notice and "<!channel>" not in notice and "&lt;!channel&gt;" in notice
    await wait_for(lambda: any("paused" in str(p.body) for p in stack.teams.accepted("ops")), what="Teams too")

    # a newer commit supersedes the paused one; the older commit's late webhooks change nothing
    second = await gh.push("main", message="feat: two", author="lead-gh")
    await until_row(stack, first, "superseded")
    await gh.finish_suite(first, "circleci-checks")
    await gh.post_status(first, "ci/legacy", "success")
    await gh.finish_suite(second)
    await until_row(stack, second, "paused")
    await settle(stack)
    assert (await auto_row(stack, first))["state"] == "superseded" and gh.dispatches == []

    _, answer = await stack.command("U0LEAD", "unlock dev")
    assert "unlocked" in answer["text"]
    row = await until_row(stack, second, "requested")
    r = await until(stack, row["request_id"], RequestState.SUCCEEDED)
    assert (r.sha, r.requester) == (second, "lead")  # on behalf of the second commit's pusher
    assert len(gh.dispatches) == 1


async def test_an_older_commit_checked_after_a_newer_push_is_never_deployed(stack: Stack) -> None:
    gh = stack.github
    gh.hooks.drop("push", times=1)  # the first push webhook is lost: the bot learns the commit from its checks
    old = await gh.push("main", message="old", author="dev-gh")
    new = await gh.push("main", message="new", author="dev-gh")
    await until_row(stack, new, "waiting")
    await gh.finish_suite(old)  # green, on main, but no longer its head
    await settle(stack)
    assert await auto_row(stack, old) == {} and gh.dispatches == []
    # the lost push is redelivered late (GitHub does not promise order): it supersedes nothing
    lost = next(d for d in gh.deliveries if d.event == "push" and d.payload["after"] == old)
    assert (await gh.redeliver(lost.delivery_id)).status == 202
    await until_row(stack, old, "superseded")
    assert (await auto_row(stack, new))["state"] == "waiting"
    await gh.finish_suite(new)
    row = await until_row(stack, new, "requested")
    assert (await request(stack, row["request_id"])).sha == new


async def test_a_pusher_who_may_not_deploy_is_refused_and_told(stack: Stack) -> None:
    gh = stack.github
    sha = await gh.push("main", message="drive-by", author="stranger-gh", sender_id=987_654)
    await until_row(stack, sha, "waiting")
    await gh.post_status(sha, "ci/circleci", "success")  # a commit status alone makes the commit green
    row = await until_row(stack, sha, "refused")
    assert "not a deployer for dev" in row["detail"]
    await wait_for(lambda: any("refused" in t and sha[:7] in t for t in texts(stack)), what="the refusal notice")
    await settle(stack)
    assert gh.dispatches == []
    assert any(e.action == "auto-deploy" and e.result == "denied" and "not a deployer" in e.detail
               for e in await audit(stack))
    assert await rows(stack, "SELECT id FROM requests") == []


async def test_four_eyes_applies_to_the_pusher_and_a_newer_commit_cancels_a_waiting_request(tmp_path: Path) -> None:
    dev = {"deployers": ["deployers"], "approvers": ["approvers"], "approvals": 1, "approval_ttl": "2h",
           "gate": "bot"}
    async with Stack(database_url=f"sqlite:///{tmp_path}/bot.db",
                     config_path=auto_config(tmp_path, **{"environments.dev": dev})) as s:
        gh = s.github
        first = await gh.push("main", message="one", author="lead-gh")
        await until_row(s, first, "waiting")
        await gh.finish_suite(first)
        row = await until_row(s, first, "requested")
        older = await until(s, row["request_id"], RequestState.PENDING_APPROVAL)
        assert older.requester == "lead"
        await s.click("U0LEAD", "approve", older.id, key="self-approve")  # the pusher cannot approve their own
        await asyncio.sleep(0.2)
        assert (await request(s, older.id)).state is RequestState.PENDING_APPROVAL

        second = await gh.push("main", message="two", author="dev-gh")
        cancelled = await until(s, older.id, RequestState.CANCELLED)
        assert "Superseded: main moved on to " + second[:7] in cancelled.detail
        await gh.finish_suite(second)
        row = await until_row(s, second, "requested")
        newer = await until(s, row["request_id"], RequestState.PENDING_APPROVAL)
        await s.click("U0LEAD", "approve", newer.id, key="lead-approves")
        await until(s, newer.id, RequestState.SUCCEEDED)
        assert len(gh.dispatches) == 1
        assert re.search(r"auto-deploy", "\n".join(texts(s, "C0APPROVALS")))


async def test_a_malformed_check_webhook_is_a_400_and_records_nothing(stack: Stack) -> None:
    gh = stack.github
    sha = await gh.push("main", message="x", author="dev-gh")
    await until_row(stack, sha, "waiting")
    bad = {"action": "completed", "check_suite": {"head_sha": "<!channel>", "head_branch": "main",
                                                  "status": "completed", "conclusion": "success"},
           "repository": {"full_name": "acme/platform"}, "sender": {"login": "x", "id": 1}}
    delivery = await gh.send_webhook("check_suite", bad)
    assert delivery.status == 400 and "not a commit SHA" in delivery.response
    delivery = await gh.send_webhook("push", {"ref": "refs/heads/main", "after": sha, "sender": "dev-gh",
                                              "repository": {"full_name": "acme/platform"}})
    assert delivery.status == 400
    await settle(stack)
    assert gh.dispatches == [] and (await auto_row(stack, sha))["state"] == "waiting"
