"""Issue 14.3-14.5 through the real app: owners and approvers per service, github-team: rules that count only a
verified (linked) GitHub login and fail closed, and the link flow /deploy link -> OAuth callback -> whoami."""

from __future__ import annotations

import re
import urllib.parse
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from chatops.app import PIPELINE, STORE
from sandbox.stack import EXAMPLE_CONFIG, Stack, message_text, wait_for


def config(tmp_path: Path, edit: Any) -> Path:
    data = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    edit(data)
    path = tmp_path / "chatops.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def _stack(tmp_path: Path, edit: Any) -> Stack:
    return Stack(database_url=f"sqlite:///{tmp_path}/bot.db", config_path=config(tmp_path, edit))


async def audit(stack: Stack, action: str) -> list[dict[str, Any]]:
    assert stack.app is not None
    async with stack.app[STORE].unit() as u:
        return await u.c.fetch("SELECT actor, target, result, detail FROM audit WHERE action = ? ORDER BY id", action)


def state_of(answer: dict[str, Any]) -> str:
    url = answer["text"].split("<", 1)[1].split("|", 1)[0]
    return urllib.parse.parse_qs(urllib.parse.urlparse(url).query)["state"][0]


def code_of(page: str) -> str:
    m = re.search(r"id='code'>([A-Z0-9]{8})<", page)
    assert m, page
    return m.group(1)


async def link(stack: Stack, user: str, login: str) -> tuple[int, str]:
    """The whole flow as a person does it: /deploy link, sign in at GitHub, GitHub redirects to the callback,
    the page shows a code, the same chat user sends it back. (status, text): the page's status and text when the
    sign-in is refused, else 200 / 409 and the chat answer to ``/deploy link <code>``."""
    _, answer = await stack.command(user, "link")
    status, page = await callback(stack, stack.github.oauth_code(login), state_of(answer))
    if status != 200:
        return status, page
    _, reply = await stack.command(user, f"link {code_of(page)}")
    return (200 if "now linked" in reply["text"] else 409), reply["text"]


async def callback(stack: Stack, code: str, state: str) -> tuple[int, str]:
    return await stack.get(f"/github/oauth/callback?{urllib.parse.urlencode({'code': code, 'state': state})}")


def _owners(data: dict[str, Any]) -> None:
    data["services"]["api"]["owners"] = ["lead"]


async def test_owners_deploy_and_a_non_owner_deployer_is_refused_with_the_rule(tmp_path: Path) -> None:
    async with _stack(tmp_path, _owners) as stack:
        _, refused = await stack.command("U0DEV", "api v1.4.2 to staging")
        assert "not an owner of api" in refused["text"] and "services.api.owners" in refused["text"]
        _, ok = await stack.command("U0LEAD", "api v1.4.2 to staging")
        assert ok["text"].startswith(":rocket:")
        _, other = await stack.command("U0DEV", "web v1.4.2 to staging")  # web has no owners rule
        assert other["text"].startswith(":rocket:")
        await wait_for(lambda: len(stack.github.dispatches) == 2, what="two dispatches")
        assert sorted(d.workflow for d in stack.github.dispatches) == ["api-ci.yml", "web-ci.yml"]
        assert [r["result"] for r in await audit(stack, "deploy")] == ["denied", "ok", "ok"]


def _service_approvers(data: dict[str, Any]) -> None:
    data["services"]["api"]["approvers"] = ["sre"]


async def test_service_approvers_replace_the_environments(tmp_path: Path) -> None:
    async with _stack(tmp_path, _service_approvers) as stack:
        _, answer = await stack.command("U0DEV", "api v1.4.2 to production")
        rid = answer["text"].split("`")[1]
        await wait_for(lambda: any(rid in message_text(m) and "Approve" in message_text(m)
                                   for m in stack.card_messages("C0APPROVALS")), what="approval card")
        _, lead = await stack.command("U0LEAD", rid, command="/approve")
        assert "not an approver" in lead["text"] and "services.api.approvers" in lead["text"]
        _, sre = await stack.command("U0SRE", rid, command="/approve")
        assert "Approved" in sre["text"]
        await wait_for(lambda: len(stack.github.dispatches) == 1, what="dispatch after the service approver")


def _team(data: dict[str, Any]) -> None:
    data["environments"]["production"]["approvers"] = ["approvers", "github-team:acme/release-managers"]


async def test_a_linked_team_member_approves_unlinked_cannot_and_github_down_denies(tmp_path: Path) -> None:
    async with _stack(tmp_path, _team) as stack:
        stack.github.set_team("acme", "release-managers", {"rm-gh": "active", "pending-gh": "pending"})
        _, answer = await stack.command("U0DEV", "api v1.4.2 to production")
        rid = answer["text"].split("`")[1]
        await wait_for(lambda: any(rid in message_text(m) and "Approve" in message_text(m)
                                   for m in stack.card_messages("C0APPROVALS")), what="approval card")

        _, before = await stack.command("U0RM", rid, command="/approve")  # not in people, not linked
        assert "Not allowed" in before["text"] and "/deploy link" in before["text"]
        status, page = await link(stack, "U0RM", "rm-gh")
        assert status == 200 and "rm-gh" in page

        _, pending = await stack.command("U0PEND", rid, command="/approve")
        assert "Not allowed" in pending["text"]
        assert (await link(stack, "U0PEND", "pending-gh"))[0] == 200
        _, pending = await stack.command("U0PEND", rid, command="/approve")
        assert "not an approver" in pending["text"], "a pending membership is not a membership"

        _, unlinked = await stack.command("U0RM", "unlink")
        assert "rm-gh" in unlinked["text"]
        _, after_unlink = await stack.command("U0RM", rid, command="/approve")
        assert "Not allowed" in after_unlink["text"]
        assert (await link(stack, "U0RM", "rm-gh"))[0] == 200
        _, approved = await stack.command("U0RM", rid, command="/approve")
        assert "Approved" in approved["text"]
        await wait_for(lambda: len(stack.github.dispatches) == 1, what="dispatch after the team member's approval")

        # GitHub unreachable: the cached answer serves for an hour, then the rule fails closed with a reason
        assert stack.app is not None
        directory = stack.app[PIPELINE].directory
        assert directory is not None
        calls = directory.lookups
        _, again = await stack.command("U0DEV", "api v1.4.2 to production")
        rid2 = again["text"].split("`")[1]
        await wait_for(lambda: any(rid2 in message_text(m) and "Approve" in message_text(m)
                                   for m in stack.card_messages("C0APPROVALS")), what="approval card")
        stack.github.down()
        real = directory.clock
        directory.clock = lambda: real() + timedelta(hours=2)
        _, down = await stack.command("U0RM", rid2, command="/approve")
        assert "Not allowed" in down["text"] and "GitHub could not be asked" in down["text"], down["text"]
        assert directory.lookups > calls
        stack.github.up()
        denied = [r for r in await audit(stack, "approve") if r["result"] == "denied"]
        assert any("GitHub could not be asked" in r["detail"] for r in denied)


async def test_link_whoami_and_refused_links(tmp_path: Path) -> None:
    async with _stack(tmp_path, _team) as stack:
        stack.github.set_team("acme", "release-managers", {"rm-gh": "active"})
        _, answer = await stack.command("U0RM", "link")
        url = answer["text"].split("<", 1)[1].split("|", 1)[0]
        assert url.startswith(f"{stack.github.url}/login/oauth/authorize?client_id=Iv1.sandbox")
        state = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)["state"][0]
        status, page = await callback(stack, stack.github.oauth_code("rm-gh"), state)
        assert status == 200
        _, confirmed = await stack.command("U0RM", f"link {code_of(page)}")
        assert "now linked to GitHub rm-gh" in confirmed["text"]
        _, whoami = await stack.command("U0RM", "whoami")
        assert "Linked GitHub account: rm-gh" in whoami["text"] and "release-managers" in whoami["text"]
        assert "• api: dev: nothing · staging: nothing · production: approve" in whoami["text"]

        replay = await callback(stack, stack.github.oauth_code("rm-gh"), state)
        assert replay[0] == 400 and "already used" in replay[1]
        forged = state[:-4] + ("AAAA" if not state.endswith("AAAA") else "BBBB")
        status, page = await callback(stack, stack.github.oauth_code("x-gh"), forged)
        assert status == 400 and "not made by this bot" in page and "Traceback" not in page
        _, other = await stack.command("U0OTHER", "link")
        other_state = urllib.parse.parse_qs(urllib.parse.urlparse(
            other["text"].split("<", 1)[1].split("|", 1)[0]).query)["state"][0]
        assert (await callback(stack, "not-a-code", other_state))[0] == 400  # GitHub refuses the code
        status, page = await link(stack, "U0OTHER", "rm-gh")  # someone else's login
        assert status == 409 and "already linked to someone else" in page
        status, page = await link(stack, "U0OTHER", "lead-gh")  # a login the config gives to people.lead
        assert status == 409 and "people.lead" in page
        results = [(r["actor"], r["result"]) for r in await audit(stack, "link")]
        assert results[:2] == [("slack:U0RM", "ok"), ("slack:U0RM", "denied")]  # linked; the replayed sign-in link
        assert results.count(("slack:U0OTHER", "denied")) == 3
        assert ("slack:U0OTHER", "ok") not in results
        assert stack.app is not None
        async with stack.app[STORE].unit() as u:
            rows = await u.c.fetch("SELECT platform_id, github_login FROM identity_links")
        assert [(r["platform_id"], r["github_login"]) for r in rows] == [("U0RM", "rm-gh")]
