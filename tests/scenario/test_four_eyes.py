"""Issue 21, items 1-8, through the real HTTP app: each attack on four eyes as an attacker with a chat account and a
GitHub account would try it (signed Slack commands, Teams activities, signed GitHub webhooks, the OAuth callback).
Each of these passed (the attack worked) before the identity model of bot/identity/links.py."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from chatops.app import STORE
from sandbox.bot_framework_fake import BotFrameworkFake
from sandbox.stack import Stack, message_text, wait_for
from tests.scenario.test_org_policy import callback, code_of, link, state_of
from tests.scenario.test_protection_rule import config_file

TEAM = "github-team:acme/release-managers"
DEV_AAD = "3f2c9a1e-0000-4000-8000-00000000abcd"
PUBLISHED = Path(__file__).resolve().parents[1] / "fixtures" / "published" / "github"


def write(tmp_path: Path, edit: Any = None) -> Path:
    """The example config, production approvable by release managers too (a github-team: rule), then ``edit``."""
    def both(data: dict[str, Any]) -> None:
        data["environments"]["production"]["approvers"] = ["approvers", TEAM]
        if edit:
            edit(data)

    return config_file(tmp_path, both)


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with Stack(database_url=f"sqlite:///{tmp_path}/bot.db", config_path=write(tmp_path)) as s:
        s.github.set_team("acme", "release-managers", {"rm-gh": "active"})
        yield s


async def rows(stack: Stack, sql: str, *args: Any) -> list[dict[str, Any]]:
    assert stack.app is not None
    async with stack.app[STORE].unit() as u:
        return await u.c.fetch(sql, *args)


async def request(stack: Stack, user: str, text: str, *, command: str = "/deploy") -> str:
    _, answer = await stack.command(user, text, command=command)
    assert answer["text"].startswith(":rocket:"), answer["text"]
    rid = str(answer["text"].split("`")[1])
    return rid


async def approval_card(stack: Stack, rid: str) -> None:
    await wait_for(lambda: any(rid in message_text(m) and "Approve" in message_text(m)
                               for m in stack.card_messages("C0APPROVALS")), what="approval card")


# ---------------------------------------------------------------- 1. link injection


async def test_a_sign_in_link_finished_by_someone_else_links_nothing(stack: Stack) -> None:
    """The attacker sends their sign-in URL to a release manager, who signs in (one click): nothing is linked; the
    code the release manager sees does not work from their own chat account, and is void afterwards."""
    _, attacker = await stack.command("U0EVIL", "link")
    status, page = await callback(stack, stack.github.oauth_code("rm-gh"), state_of(attacker))
    assert status == 200 and "rm-gh" in page and "U0EVIL" in page  # the page says whose chat account it is for
    assert await rows(stack, "SELECT * FROM identity_links") == []
    rid = await request(stack, "U0DEV", "api v1.4.2 to production")
    await approval_card(stack, rid)
    _, refused = await stack.command("U0EVIL", rid, command="/approve")
    assert "Not allowed" in refused["text"]
    _, guess = await stack.command("U0EVIL", "link ABCDEFGH")
    assert "not valid" in guess["text"]
    code = code_of(page)
    _, victim = await stack.command("U0RM", f"link {code}")  # the victim, puzzled, sends it from their account
    assert "another chat account" in victim["text"]
    _, late = await stack.command("U0EVIL", f"link {code}")  # the victim then hands the code over: void already
    assert "not valid" in late["text"]
    assert await rows(stack, "SELECT * FROM identity_links") == []
    audit = await rows(stack, "SELECT actor, result, detail FROM audit WHERE action = 'link' ORDER BY id")
    assert [a["result"] for a in audit] == ["denied", "denied", "denied"]
    assert audit[1]["actor"] == "slack:U0RM" and "another chat account" in audit[1]["detail"]


async def test_teams_link_in_a_channel_is_refused_and_shows_no_link(tmp_path: Path) -> None:
    async with BotFrameworkFake() as bf:
        async with Stack(database_url=f"sqlite:///{tmp_path}/bot.db", config_path=write(tmp_path),
                         extra_env=bf.env()) as s:
            channel = "19:deploys0123456789abcdef@thread.tacv2"
            status, _ = await bf.send(s.url, bf.activity(user=DEV_AAD, conversation=channel,
                                                         conversation_type="channel", text="deploy link"),
                                      token=bf.token())
            assert status in (200, 202)
            (reply,) = [c for c in bf.accepted(channel) if c.kind in ("reply", "post")]
            text = reply.body.get("text", "")
            assert "direct" in text and "login/oauth" not in text
            chat = "a:1dev-personal"
            await bf.send(s.url, bf.activity(user=DEV_AAD, conversation=chat, text="link"), token=bf.token())
            (private,) = [c for c in bf.accepted(chat) if c.kind in ("reply", "post")]
            assert "login/oauth/authorize" in private.body.get("text", "")


# ---------------------------------------------------------------- 2. relink mid-request


def _linked_deployers(data: dict[str, Any]) -> None:
    data["environments"]["production"]["deployers"] = ["deployers", "github-team:acme/builders"]


async def test_unlink_and_relink_as_another_login_cannot_approve_your_own_request(tmp_path: Path) -> None:
    async with Stack(database_url=f"sqlite:///{tmp_path}/bot.db",
                     config_path=write(tmp_path, _linked_deployers)) as s:
        s.github.set_team("acme", "release-managers", {"rm-gh": "active"})
        s.github.set_team("acme", "builders", {"x-gh": "active"})
        assert (await link(s, "U0X", "x-gh"))[0] == 200
        rid = await request(s, "U0X", "api v1.4.2 to production")
        await approval_card(s, rid)
        _, unlinked = await s.command("U0X", "unlink")
        assert "Open requests keep who you were" in unlinked["text"]
        assert (await link(s, "U0X", "rm-gh"))[0] == 200  # now a release manager (a second account)
        _, own = await s.command("U0X", rid, command="/approve")
        assert "four eyes" in own["text"], own["text"]
        (req,) = await rows(s, "SELECT state, requester_identities FROM requests WHERE id = ?", rid)
        assert req["state"] == "pending_approval" and "slack:U0X" in req["requester_identities"].split()
        assert s.github.dispatches == []


# ---------------------------------------------------------------- 3. runs started in GitHub


def _lead_slack_only(data: dict[str, Any]) -> None:
    data["people"]["lead"] = {"slack": "U0LEAD"}  # lead's GitHub account comes from a verified link


async def test_a_run_started_in_github_is_the_same_person_as_in_chat(tmp_path: Path) -> None:
    async with Stack(database_url=f"sqlite:///{tmp_path}/bot.db",
                     config_path=write(tmp_path, _lead_slack_only)) as s:
        s.github.protect("production", "custom")
        assert (await link(s, "U0LEAD", "lead-gh"))[0] == 200
        run = await s.github.start_run("api-ci.yml", "main", inputs={"environment": "production"},
                                       event="workflow_dispatch", actor="lead-gh")
        await wait_for(lambda: any(f"/runs/{run.id}" in message_text(m) and "Approve" in message_text(m)
                                   for m in s.card_messages("C0APPROVALS")), what="approval card")
        (req,) = await rows(s, "SELECT id, requester, requester_identities FROM requests WHERE run_id = ?", run.id)
        assert req["requester"] == "lead" and "slack:U0LEAD" in req["requester_identities"].split()
        _, own = await s.command("U0LEAD", req["id"], command="/approve")
        assert "four eyes" in own["text"], own["text"]
        _, other = await s.command("U0SRE", req["id"], command="/approve")
        assert "Approved" in other["text"]


# ---------------------------------------------------------------- 4. another platform, another person


def _dev_slack_only_in_team(data: dict[str, Any]) -> None:
    data["people"]["dev"] = {"slack": "U0DEV"}


async def test_a_teams_link_to_your_github_account_is_still_you(tmp_path: Path) -> None:
    async with BotFrameworkFake() as bf:
        async with Stack(database_url=f"sqlite:///{tmp_path}/bot.db",
                         config_path=write(tmp_path, _dev_slack_only_in_team), extra_env=bf.env()) as s:
            s.github.set_team("acme", "release-managers", {"dev-gh": "active"})
            _, unverified = await s.command("U0DEV", "api v1.4.2 to production")
            assert "require_verified_identity" in unverified["text"], unverified["text"]
            assert (await link(s, "U0DEV", "dev-gh"))[0] == 200
            rid = await request(s, "U0DEV", "api v1.4.2 to production")
            await approval_card(s, rid)
            chat = "a:1dev-personal"

            async def teams(text: str) -> str:
                before = len(bf.accepted(chat))
                await bf.send(s.url, bf.activity(user=DEV_AAD, conversation=chat, text=text), token=bf.token())
                return str(bf.accepted(chat)[before].body.get("text", ""))

            answer = await teams("link")
            url = answer.split("](", 1)[1].split(")", 1)[0] if "](" in answer else answer.split("<", 1)[1].split(
                "|", 1)[0]
            state = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)["state"][0]
            status, page = await callback(s, s.github.oauth_code("dev-gh"), state)
            assert status == 200
            assert "now linked" in await teams(f"link {code_of(page)}")
            (row,) = await rows(s, "SELECT github_login FROM identity_links WHERE platform = 'teams'")
            assert row["github_login"] == "dev-gh"
            refused = await teams(f"approve {rid}")
            assert "four eyes" in refused, refused
            assert s.github.dispatches == []


# ---------------------------------------------------------------- 5. a writer's run takes the bot's approval


async def test_a_writers_run_naming_a_request_is_never_that_request(tmp_path: Path) -> None:
    async with Stack(database_url=f"sqlite:///{tmp_path}/bot.db", config_path=write(tmp_path)) as s:
        s.github.protect("production", "custom")
        rid = await request(s, "U0DEV", "api v1.4.2 to production")
        await approval_card(s, rid)
        writer = await s.github.start_run("api-ci.yml", "v1.4.2", event="workflow_dispatch", actor="mallory",
                                          inputs={"environment": "production", "request_id": rid,
                                                  "coverage-min": "0"})
        await wait_for(lambda: any(f"/runs/{writer.id}" in message_text(m) for m in s.card_messages("C0APPROVALS")),
                       what="the writer's run on a card of its own")
        (req,) = await rows(s, "SELECT state, run_id FROM requests WHERE id = ?", rid)
        assert req["state"] == "pending_approval" and req["run_id"] is None
        (own,) = await rows(s, "SELECT id, requester FROM requests WHERE run_id = ?", writer.id)
        assert own["id"] != rid and own["requester"].startswith("github:")
        await s.click("U0LEAD", "approve", rid, key="lead")
        # the writer's run holds api/production (issue 23 item 5: one run per pair): the request queues behind it
        await wait_for(lambda: any(f"queued behind {own['id']}" in message_text(m) and rid in message_text(m)
                                   for m in s.card_messages("C0APPROVALS")), what="queued behind the writer's run")
        assert s.github.dispatches == []
        s.github.sim.cancel(writer.id)  # someone cancels the writer's run in GitHub: the lane is free
        await wait_for(lambda: len(s.github.dispatches) == 1, what="the bot's own dispatch")
        bot_run = s.github.dispatches[0].run_id
        assert bot_run is not None and bot_run != writer.id
        await wait_for(lambda: any(r.run_id == bot_run and r.kind == "protection_rule" for r in s.github.reviews),
                       what="the bot's run answered")
        assert not [r for r in s.github.reviews if r.run_id == writer.id and r.body.get("state") == "approved"]
        (req,) = await rows(s, "SELECT run_id FROM requests WHERE id = ?", rid)
        assert req["run_id"] == bot_run


# ---------------------------------------------------------------- 6. cross-repository spoofing


def _two_repos(data: dict[str, Any]) -> None:
    data["services"]["tools"] = {"workflow": "tools-ci.yml", "environments": ["dev"], "repository": "acme/tools"}


async def test_a_deployment_status_of_one_repository_cannot_speak_for_another(tmp_path: Path) -> None:
    async with Stack(database_url=f"sqlite:///{tmp_path}/bot.db", config_path=write(tmp_path, _two_repos)) as s:
        s.github.add_repository("acme/tools")
        run = await s.github.start_run("api-ci.yml", "main", event="push", actor="dev-gh")
        await s.github.wait_idle()
        payload = json.loads((PUBLISHED / "deployment_status.created.success.octokit.json").read_text())
        payload["repository"]["full_name"] = "acme/tools"
        payload["repository"]["name"] = "tools"
        payload["deployment_status"]["state"] = "failure"
        payload["deployment_status"]["description"] = "automatic rollback: error rate"
        payload["deployment_status"]["target_url"] = f"https://github.com/acme/platform/actions/runs/{run.id}"
        payload["deployment_status"]["log_url"] = payload["deployment_status"]["target_url"]
        payload["deployment"]["payload"] = {"service": "api"}
        payload.pop("workflow_run", None)
        before = {m.ts for m in s.card_messages("C0DEPLOYS")}
        await s.github.send_webhook("deployment_status", payload)
        payload["deployment_status"]["target_url"] = payload["deployment_status"]["log_url"] = ""
        await s.github.send_webhook("deployment_status", payload)  # no URL: the service is still not acme/tools'
        metrics = ""
        for _ in range(100):
            _, metrics = await s.get("/metrics")
            if "chatops_github_cross_repository_ignored_total 2.0" in metrics:
                break
            await asyncio.sleep(0.05)
        assert "chatops_github_cross_repository_ignored_total 2.0" in metrics
        new = [m for m in s.card_messages("C0DEPLOYS") if m.ts not in before]
        assert not any("rollback" in message_text(m).lower() for m in new)


# ---------------------------------------------------------------- 7. who may see


def _viewers(data: dict[str, Any]) -> None:
    data["access"] = {"viewers": ["github-team:acme/engineering"]}


async def test_linking_any_account_does_not_make_you_known(tmp_path: Path) -> None:
    async with Stack(database_url=f"sqlite:///{tmp_path}/bot.db", config_path=write(tmp_path, _viewers)) as s:
        s.github.set_team("acme", "engineering", {"eng-gh": "active"})
        _, lock = await s.command("U0SRE", "lock production incident 4711")
        assert "locked" in lock["text"]
        assert (await link(s, "U0RAND", "random-gh"))[0] == 200
        _, status = await s.command("U0RAND", "status")
        assert "Not allowed" in status["text"] and "incident 4711" not in status["text"]
        assert "access.viewers" in status["text"]
        _, listing = await s.command("U0RAND", "", command="/approve")
        assert "Not allowed" in listing["text"]
        assert (await link(s, "U0ENG", "eng-gh"))[0] == 200
        _, seen = await s.command("U0ENG", "status")
        assert "incident 4711" in seen["text"]
        denied = await rows(s, "SELECT actor FROM audit WHERE action = 'status' AND result = 'denied'")
        assert denied and denied[0]["actor"].startswith("github:")


# ---------------------------------------------------------------- 8. rollbacks follow the approval policy


async def test_rollbacks_to_production_need_approval_unless_opted_out(stack: Stack) -> None:
    _, answer = await stack.command("U0DEV", "api production to v1.4.1", command="/rollback")
    assert "approval" in answer["text"], answer["text"]
    rid = answer["text"].split("`")[1]
    await approval_card(stack, rid)
    assert stack.github.dispatches == []
    _, own = await stack.command("U0DEV", rid, command="/approve")
    assert "four eyes" in own["text"]
    await stack.click("U0LEAD", "approve", rid, key="lead")
    await wait_for(lambda: len(stack.github.dispatches) == 1, what="rollback dispatched after approval")
    assert stack.github.dispatches[0].workflow == "rollback.yml"


async def test_rollback_approval_none_dispatches_at_once(tmp_path: Path) -> None:
    def opt_out(data: dict[str, Any]) -> None:
        data["environments"]["production"]["rollback_approval"] = "none"

    async with Stack(database_url=f"sqlite:///{tmp_path}/bot.db", config_path=write(tmp_path, opt_out)) as s:
        _, answer = await s.command("U0DEV", "api production", command="/rollback")
        assert "Starting the workflow now" in answer["text"]
        await wait_for(lambda: len(s.github.dispatches) == 1, what="rollback dispatched")


async def test_the_failure_cards_roll_back_button_opens_the_approval_flow(stack: Stack) -> None:
    stack.github.conclusion_by_ref["v1.4.2"] = "failure"
    rid = await request(stack, "U0DEV", "api v1.4.2 to production")
    await approval_card(stack, rid)
    await stack.click("U0LEAD", "approve", rid, key="lead")
    await wait_for(lambda: any("failed" in message_text(m).lower() and rid in message_text(m)
                               for m in stack.card_messages("C0DEPLOYS")), what="failure card")
    status, _ = await stack.click("U0DEV", "rollback", rid, channel="C0DEPLOYS", key="rb")
    assert status == 200
    rollbacks = []
    for _ in range(100):
        rollbacks = await rows(stack, "SELECT state FROM requests WHERE kind = 'rollback'")
        if rollbacks and rollbacks[0]["state"] != "received":
            break
        await asyncio.sleep(0.05)
    assert rollbacks and rollbacks[0]["state"] == "pending_approval"
    assert [d.workflow for d in stack.github.dispatches] == ["api-ci.yml"]


# ---------------------------------------------------------------- a re-run in GitHub reuses no approval


async def test_a_rerun_started_in_github_does_not_reuse_the_approval(tmp_path: Path) -> None:
    """Review finding on item 5: a repository writer presses "Re-run all jobs" on an approved production run that
    already ended. The new attempt (triggering_actor: the writer) must not pass the protection rule on the old
    approval: the card says so in its thread and the rule is answered "rejected". The payloads are the simulator's
    (the shapes of GitHub's published workflow_run and deployment_protection_rule events), signed."""
    from sandbox import github_payloads as gp

    async with Stack(database_url=f"sqlite:///{tmp_path}/bot.db", config_path=write(tmp_path)) as s:
        s.github.protect("production", "custom")
        rid = await request(s, "U0DEV", "api v1.4.2 to production")
        await approval_card(s, rid)
        await s.click("U0LEAD", "approve", rid, key="lead")
        await wait_for(lambda: len(s.github.dispatches) == 1, what="dispatch")
        run_id = s.github.dispatches[0].run_id
        assert run_id is not None
        await wait_for(lambda: s.github.runs[run_id].conclusion == "success", what="the run deploys")
        for _ in range(100):
            (req,) = await rows(s, "SELECT state FROM requests WHERE id = ?", rid)
            if req["state"] == "succeeded":
                break
            await asyncio.sleep(0.05)
        assert req["state"] == "succeeded"

        fake, run = s.github, s.github.runs[run_id]
        common = {"repository": gp.repository(fake.url, fake.repository, fake.repo_id, fake.default_branch),
                  "sender": gp.user(fake.url, "mallory"), "installation": {"id": fake.installation_id}}
        attempt = gp.workflow_run(fake.url, fake.repository, fake.repo_id, run)
        attempt.update(status="queued", conclusion=None, run_attempt=2,
                       triggering_actor=gp.user(fake.url, "mallory"))
        await fake.send_webhook("workflow_run", {"action": "requested", "workflow_run": attempt, **common})
        dep = gp.deployment(fake.url, fake.repository, dep_id=990_001, sha=run.head_sha, ref=run.head_branch,
                            environment="production", creator="mallory", ts=0.0)
        callback_url = f"{fake.url}/repos/{fake.repository}/actions/runs/{run_id}/deployment_protection_rule"
        await fake.send_webhook("deployment_protection_rule", {
            "action": "requested", "environment": "production", "event": "workflow_dispatch",
            "deployment_callback_url": callback_url, "deployment": dep, "pull_requests": [], **common})

        def answers() -> list[Any]:
            return [r.body for r in fake.requests if r.method == "POST" and r.path.endswith(
                f"/runs/{run_id}/deployment_protection_rule") and isinstance(r.body, dict)]

        await wait_for(lambda: len(answers()) >= 2, what="the bot's answer to the re-run")
        assert answers()[0]["state"] == "approved"  # the original, approved attempt
        assert [a["state"] for a in answers()[1:]] == ["rejected"] * (len(answers()) - 1)
        assert "does not reuse its approvals" in answers()[1]["comment"]
        (req,) = await rows(s, "SELECT state FROM requests WHERE id = ?", rid)
        assert req["state"] == "succeeded"  # the card stays as it ended
        await wait_for(lambda: any("re-ran this run in GitHub" in message_text(m)
                                   for m in s.card_messages("C0APPROVALS")), what="the note in the card's thread")
