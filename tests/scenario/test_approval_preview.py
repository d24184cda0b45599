"""Issue 16, item 1: an approval card shows what the deploy changes (Slack and the Teams card alike): the range from
what runs in the environment to the requested commit, the requested commit's checks, and a warning for a downgrade.
GitHub unreachable: "changes unavailable", and the approval still works."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import aiohttp

from sandbox.stack import Stack, message_text, wait_for

REQ = re.compile(r"`(r-[a-z0-9]{8})`")
DAY = 86400.0


async def github_says_deployed(stack: Stack, ref: str, environment: str = "production") -> None:
    """A deployment GitHub knows of (the bot has no record of its own): through the fake's REST API."""
    api = f"{stack.github.url}/repos/acme/platform"
    headers = {"Authorization": f"token {stack.github.token}"}
    async with aiohttp.ClientSession(headers=headers) as s:
        async with s.post(f"{api}/deployments", json={"ref": ref, "environment": environment}) as resp:
            dep = await resp.json()
        async with s.post(f"{api}/deployments/{dep['id']}/statuses", json={"state": "success"}) as resp:
            assert resp.status == 201


def history(stack: Stack) -> tuple[str, list[str]]:
    """v3.0.0, then seven commits (the newest tagged v3.1.0); one title tries to ping the channel."""
    now = time.time()
    base = stack.github.add_commits(None, [("Initial (#1)", "dev-gh", now - 9 * DAY)], tag="v3.0.0")[0]
    titles = [f"Change number {i} (#{100 + i})" for i in range(1, 7)] + ["<!channel> & <https://evil|x> (#107)"]
    shas = stack.github.add_commits(base, [(t, "lead-gh", now - (8 - i) * DAY) for i, t in enumerate(titles)],
                                    tag="v3.1.0")
    head = shas[-1]
    stack.github.add_check_run(head, "unit tests", "success")
    stack.github.add_check_run(head, "lint", "failure")
    stack.github.set_status(head, "ci/build", "success")
    return head, titles


def approval_text(stack: Stack) -> str:
    cards = stack.card_messages("C0APPROVALS")
    return message_text(cards[0]) if cards else ""


def teams_card(stack: Stack, rid: str) -> str:
    found = [json.dumps(c, ensure_ascii=False) for c in stack.teams.cards("ops")
             if rid in json.dumps(c) and "waiting for approval" in json.dumps(c)]
    return found[-1] if found else ""


async def ask(stack: Stack, ref: str) -> str:
    _, answer = await stack.command("U0DEV", f"api {ref} to production")
    m = REQ.search(answer["text"])
    assert m, answer
    return m.group(1)


async def test_seven_commits_one_failing_check(stack: Stack) -> None:
    head, _ = history(stack)
    await github_says_deployed(stack, "v3.0.0")
    rid = await ask(stack, "v3.1.0")
    await wait_for(lambda: "7 commit(s)" in approval_text(stack), what="preview on the Slack card")
    text = approval_text(stack)
    assert "+2 more" in text
    for i in (3, 4, 5, 6):  # the newest five (with the seventh): title, author, PR number
        assert f"Change number {i} — lead-gh (#{100 + i})" in text
    for i in (1, 2):
        assert f"Change number {i} " not in text, "only the newest five titles"
    assert "failing: lint" in text and "unit tests" not in text
    card = stack.card_messages("C0APPROVALS")[0]
    raw = json.dumps(card.blocks)
    assert "<!channel>" not in raw and "&lt;!channel&gt; &amp; &lt;https://evil|x&gt;" in raw, "titles are escaped"
    assert f"/compare/{stack.github.resolve('v3.0.0')}...{head}" in raw
    assert "/pull/106|#106>" in raw, "PR numbers are linked"
    # the same facts on the Teams card
    await wait_for(lambda: "7 commit(s)" in teams_card(stack, rid), what="preview on the Teams card")
    teams = teams_card(stack, rid)
    for fact in ("+2 more", "failing: lint", "Change number 6", "lead-gh", "#106"):
        assert fact in teams, fact


async def test_downgrade_is_a_prominent_warning(stack: Stack) -> None:
    head, _ = history(stack)
    await github_says_deployed(stack, "v3.1.0")
    rid = await ask(stack, "v3.0.0")
    await wait_for(lambda: "Downgrade" in approval_text(stack), what="downgrade warning")
    text = approval_text(stack)
    assert f"7 commit(s) behind {head[:7]}" in text
    card = stack.card_messages("C0APPROVALS")[0]
    assert any("Downgrade" in json.dumps(b) and b.get("type") == "section" and "text" in b for b in card.blocks)
    await wait_for(lambda: "Downgrade" in teams_card(stack, rid), what="warning on the Teams card")


async def test_unrelated_history_is_a_warning(stack: Stack) -> None:
    history(stack)
    other = stack.github.add_commits(None, [("Another root (#9)", "dev-gh", time.time())], tag="v9.0.0")[0]
    await github_says_deployed(stack, "v9.0.0")
    await ask(stack, "v3.1.0")
    await wait_for(lambda: "Unrelated" in approval_text(stack), what="unrelated warning")
    assert other[:7] in approval_text(stack)


async def test_github_unreachable_changes_unavailable_and_approval_still_works(stack: Stack) -> None:
    history(stack)
    for path in (r"/compare/", r"/check-runs$", r"/status$", r"/deployments$"):
        stack.github.fail(path, status=503, times=5)
    rid = await ask(stack, "v3.1.0")
    await wait_for(lambda: "changes unavailable" in approval_text(stack), what="unavailable")
    assert "Checks" in approval_text(stack)
    card = stack.card_messages("C0APPROVALS")[0]
    await stack.click("U0LEAD", "approve", rid, message_ts=card.ts, key="lead")
    await wait_for(lambda: len(stack.github.dispatches) == 1, what="dispatch after approval")


async def test_no_preview_without_approval(stack: Stack) -> None:
    history(stack)
    await stack.command("U0DEV", "api v3.1.0 to staging")
    await wait_for(lambda: any("succeeded" in message_text(m) for m in stack.card_messages("C0DEPLOYS")),
                   what="success")
    text: Any = message_text(stack.card_messages("C0DEPLOYS")[0])
    assert "commit(s)" not in text and "Checks" not in text
