"""Issue 22: a user revokes the App's authorization at GitHub; the signed ``github_app_authorization`` webhook with
action ``revoked`` removes the identity links of that GitHub account (``sender.id``), so it no longer resolves to
their chat identities: a github-team approver rule stops counting them until they link again.

Contract: https://docs.github.com/en/webhooks/webhook-events-and-payloads#github_app_authorization ("This event
occurs when a user revokes their authorization of a GitHub App"; action ``revoked``, the user in ``sender``); the
payload is octokit's published example (tests/fixtures/published/github/events)."""

from __future__ import annotations

from pathlib import Path

from chatops.app import STORE
from sandbox.stack import Stack, message_text, wait_for
from tests.scenario.test_github_org_events import deliver, fixture
from tests.scenario.test_org_policy import _stack, _team, audit, link


async def _links(stack: Stack) -> dict[str, int]:
    assert stack.app is not None
    async with stack.app[STORE].unit() as u:
        rows = await u.c.fetch("SELECT platform_id, github_id FROM identity_links")
    return {str(r["platform_id"]): int(r["github_id"]) for r in rows}


async def test_a_revoked_authorization_unlinks_that_account_only(tmp_path: Path) -> None:
    async with _stack(tmp_path, _team) as stack:
        stack.github.set_team("acme", "release-managers", {"rm-gh": "active", "other-gh": "active"})
        assert (await link(stack, "U0RM", "rm-gh"))[0] == 200
        assert (await link(stack, "U0OTHER", "other-gh"))[0] == 200
        before = await _links(stack)
        gh_id = before["U0RM"]
        assert before["U0OTHER"] != gh_id

        payload = fixture("github_app_authorization.revoked.octokit.json")
        payload["sender"]["id"], payload["sender"]["login"] = gh_id, "rm-gh"
        status, text = await deliver(stack, "github_app_authorization", payload)
        assert status == 200 and "1 link(s)" in text, text
        assert await _links(stack) == {"U0OTHER": before["U0OTHER"]}
        revoked = await audit(stack, "link-revoked")
        assert [(r["actor"], r["target"]) for r in revoked] == [(f"github:{gh_id}", "slack:U0RM")]

        _, whoami = await stack.command("U0RM", "whoami")
        assert "rm-gh" not in whoami["text"], whoami["text"]
        _, answer = await stack.command("U0DEV", "api v1.4.2 to production")
        rid = answer["text"].split("`")[1]
        await wait_for(lambda: any(rid in message_text(m) and "Approve" in message_text(m)
                                   for m in stack.card_messages("C0APPROVALS")), what="approval card")
        _, refused = await stack.command("U0RM", rid, command="/approve")
        assert "Approved" not in refused["text"] and "/deploy link" in refused["text"], refused["text"]

        # the same delivery again (or another one): nothing left, nothing audited twice
        status, text = await deliver(stack, "github_app_authorization", payload)
        assert status == 200 and "0 link(s)" in text, text
        assert len(await audit(stack, "link-revoked")) == 1

        # linking again works: the revocation is of that authorization, not a ban
        assert (await link(stack, "U0RM", "rm-gh"))[0] == 200
        _, approved = await stack.command("U0RM", rid, command="/approve")
        assert "Approved" in approved["text"], approved["text"]


async def test_a_revoked_event_without_a_numeric_sender_is_a_400(tmp_path: Path) -> None:
    async with Stack(database_url=f"sqlite:///{tmp_path}/bot.db") as stack:
        payload = fixture("github_app_authorization.revoked.octokit.json")
        for bad in ({"login": "octocat"}, {"id": "1"}, {"id": True}, "octocat"):
            payload["sender"] = bad
            status, text = await deliver(stack, "github_app_authorization", payload)
            assert status == 400 and "sender.id" in text, (bad, status, text)
        status, text = await deliver(stack, "github_app_authorization", dict(payload, action="created"))
        assert status == 202 and "ignored" in text
