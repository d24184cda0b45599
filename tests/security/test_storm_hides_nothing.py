"""Issue 22 item 1 through the composed app: signed EventBridge events on /aws/events, cards read from the Slack
fake. Sixteen noisy principals fail AssumeRoleWithWebIdentity (they fold into one card); then a *successful*
assumption from repo:evil-org/real-attack arrives: it gets its own card (priority lane), never the folded one.
A principal joining the folded alert gets a note in the card's thread (at most one a minute), and the card's
next update names the principals new since its last post. Waits poll with deadlines; nothing is timed."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.stack import Stack, message_text
from tests.security.conftest import load
from tests.security.test_alert_storm_lane import post, rows, start, until

ATTACK = "repo:evil-org/real-attack:ref:refs/heads/main"


def assume(i: int, subject: str, *, failed: bool) -> dict[str, Any]:
    r = copy.deepcopy(load("assume-role-with-web-identity.github-unexpected-subject.derived.json"))
    r["eventID"] = f"oidc-{i:04d}"
    r["userIdentity"]["userName"] = subject
    r["userIdentity"]["principalId"] = f"{r['userIdentity']['identityProvider']}:sts.amazonaws.com:{subject}"
    r["responseElements"]["subjectFromWebIdentityToken"] = subject
    if failed:
        r["errorCode"], r["errorMessage"] = "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity"
        r.pop("responseElements")
    return r


@pytest.fixture
async def folding(tmp_path: Path) -> AsyncIterator[Stack]:
    stack = await start(tmp_path, interval=0.05, fold_after=3)
    yield stack
    await stack.stop()


def cards(stack: Stack) -> list[str]:
    return [message_text(m) for m in stack.slack.messages.values() if m.channel == "C0SECURITY" and not m.thread_ts]


async def test_a_successful_call_never_hides_in_a_storm_of_failures(folding: Stack) -> None:
    for i in range(16):
        await post(folding, assume(i, f"repo:noisy-{i:02d}/x:ref:refs/heads/main", failed=True))
    await until(folding, "SELECT COUNT(*) AS n FROM security_events", lambda r: r[0]["n"] == 16,
                what="the storm recorded")
    await until(folding, "SELECT COUNT(*) AS n FROM outbox WHERE address = 'C0SECURITY' AND state = 'pending'",
                lambda r: r[0]["n"] == 0, what="the storm's cards delivered")
    (fold,) = await rows(folding, "SELECT id FROM security_alerts WHERE principal = '*'")
    assert sum("principals" in c and "noisy" in c for c in cards(folding)) == 1, "one folded card"

    await post(folding, assume(99, ATTACK, failed=False))
    await until(folding, "SELECT COUNT(*) AS n FROM outbox WHERE payload LIKE '%real-attack%' AND state = 'sent' "
                "AND address = 'C0SECURITY'", lambda r: r[0]["n"] >= 1, what="the successful call's card")
    own = [c for c in cards(folding) if "real-attack" in c]
    assert len(own) == 1 and "failed" not in own[0] and "noisy" not in own[0], own
    (attack,) = await rows(folding, "SELECT a.principal, o.priority FROM security_alerts a JOIN outbox o ON "
                                    "o.card_key = 'sec:' || a.id WHERE a.principal LIKE '%real-attack%' "
                                    "AND o.address = 'C0SECURITY'")
    assert attack["priority"] == 1, "the critical lane"
    folded_events = await rows(folding, f"SELECT principal FROM security_events WHERE alert_id = '{fold['id']}'")
    assert not any("real-attack" in r["principal"] for r in folded_events)


async def test_a_principal_joining_a_folded_card_is_named_and_noted_in_its_thread(folding: Stack) -> None:
    for i in range(4):  # 3 principals of their own, then the fold opens with the 4th
        await post(folding, assume(i, f"repo:noisy-{i:02d}/x:ref:refs/heads/main", failed=True))
    await until(folding, "SELECT COUNT(*) AS n FROM outbox WHERE address = 'C0SECURITY' AND state = 'pending'",
                lambda r: r[0]["n"] == 0, what="the first cards delivered")
    await until(folding, "SELECT card_seq FROM security_alerts WHERE principal = '*'",
                lambda r: len(r) == 1 and r[0]["card_seq"] >= 1, what="the folded card posted")
    (fold,) = await rows(folding, "SELECT id, card_seq FROM security_alerts WHERE principal = '*'")
    await until(folding, f"SELECT dirty FROM security_alerts WHERE id = '{fold['id']}'",
                lambda r: r[0]["dirty"] == 0, what="the folded card up to date")
    await post(folding, assume(50, "repo:newcomer/y:ref:refs/heads/main", failed=True))
    await post(folding, assume(51, "repo:latecomer/z:ref:refs/heads/main", failed=True))
    notes = await until(folding, "SELECT payload FROM outbox WHERE op = 'post' AND address = 'C0SECURITY' "
                        "AND state = 'sent'", lambda r: len(r) >= 1, what="a thread note")
    assert len(notes) == 1 or "newcomer" not in notes[1]["payload"], "at most one note a minute"
    assert "newcomer" in notes[0]["payload"]
    replies = [m for m in folding.slack.messages.values() if m.channel == "C0SECURITY" and m.thread_ts]
    assert replies and "newcomer" in message_text(replies[0])
    await until(folding, "SELECT payload FROM outbox WHERE op = 'card' AND address = 'C0SECURITY' AND state = 'sent' "
                f"AND card_key = 'sec:{fold['id']}' AND payload LIKE '%New since the last update%'",
                lambda r: len(r) >= 1 and "latecomer" in r[-1]["payload"] and "newcomer" in r[-1]["payload"],
                what="the folded card naming the new principals")
