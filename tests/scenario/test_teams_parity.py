"""Issue 7: every notification kind reaches the Teams Workflows webhook as a valid Adaptive Card 1.4 with
the same facts as the Slack card; 429 and 500 are retried and nothing is lost."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

from sandbox.schemas import validate_adaptive_card
from sandbox.stack import SANDBOX_SECRETS, Stack, wait_for

CLOUDTRAIL = Path(__file__).resolve().parents[1] / "fixtures" / "cloudtrail"
_LINK = re.compile(r"<(https?://[^|>]+)\|([^>]+)>")


def slack_facts(message: Any) -> list[tuple[str, str]]:
    out = []
    for block in message.blocks or []:
        for f in block.get("fields", []) or []:
            label, _, value = f["text"].partition("\n")
            out.append((label.strip("*"), _LINK.sub(lambda m: m.group(2), value)))
    return out


def teams_text(card: dict[str, Any]) -> str:
    return json.dumps(card, ensure_ascii=False)


async def test_every_kind_reaches_teams_with_the_slack_facts(stack: Stack) -> None:
    stack.teams.fail("ops", status=429, times=1, retry_after=1)
    stack.teams.fail("ops", status=500, times=1)
    stack.github.next_conclusion = "failure"
    await stack.command("U0DEV", "api v1.4.2 to staging")  # deployment card + failure alert
    await stack.command("U0LEAD", "web production", command="/rollback")  # rollback card
    record = json.loads((CLOUDTRAIL / "access-denied.states-DeleteStateMachine.awsdocs.json").read_text())
    event = {"version": "0", "id": "teams-parity-1", "detail-type": "AWS API Call via CloudTrail",
             "source": "aws.states", "account": record.get("recipientAccountId", "123456789012"),
             "time": record["eventTime"], "region": record.get("awsRegion", "us-east-1"), "resources": [],
             "detail": record}
    status, _ = await stack.post("/aws/events", json.dumps(event).encode(),
                                 {"x-api-key": SANDBOX_SECRETS["CHATOPS_EVENTS_API_KEY"],
                                  "Content-Type": "application/json"})
    assert status == 200

    def kinds_in_teams() -> set[str]:
        text = " ".join(teams_text(c) for c in stack.teams.cards("ops"))
        return {k for k, marker in (("deployment", "Deploy api"), ("failure", "Deployment failed"),
                                    ("rollback", "Rollback web"), ("security", "denied"))
                if marker.lower() in text.lower()}

    await wait_for(lambda: kinds_in_teams() == {"deployment", "failure", "rollback", "security"}, timeout=30,
                   what="every kind in Teams")
    rejected = [p for p in stack.teams.posts if p.status >= 300]
    assert [p.status for p in rejected] == [429, 500], "the faults were hit, then retried"
    for card in stack.teams.cards("ops"):
        assert validate_adaptive_card(card, version="1.4") == []
    # the same facts as Slack: every fact of every final Slack card is on some Teams card
    for _ in range(100):  # let the outbox settle: compare final states
        _, metrics = await stack.get("/metrics")
        if 'chatops_outbox_depth{state="pending"} 0.0' in metrics:
            break
        await asyncio.sleep(0.1)
    teams_all = " ".join(teams_text(c) for c in stack.teams.cards("ops"))
    for channel in ("C0DEPLOYS", "C0SECURITY"):
        for message in stack.card_messages(channel):
            for label, value in slack_facts(message):
                assert label in teams_all, (channel, label)
                for line in value.splitlines():
                    assert line.replace("“", "").replace("”", "")[:40] in teams_all.replace("“", "").replace(
                        "”", ""), (channel, label, line)
