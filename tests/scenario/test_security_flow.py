"""Issue 4 through the composed app: EventBridge -> /aws/events -> alert card in #security -> buttons."""

from __future__ import annotations

import json
from pathlib import Path

from sandbox.stack import SANDBOX_SECRETS, Stack, message_text, wait_for

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cloudtrail"


def eventbridge(record: dict, *, event_id: str) -> bytes:
    return json.dumps({
        "version": "0", "id": event_id, "detail-type": "AWS API Call via CloudTrail", "source": "aws.states",
        "account": record.get("recipientAccountId", "123456789012"), "time": record["eventTime"],
        "region": record.get("awsRegion", "us-east-1"), "resources": [], "detail": record,
    }).encode()


async def test_access_denied_alert_card_and_acknowledge(stack: Stack) -> None:
    record = json.loads((FIXTURES / "access-denied.states-DeleteStateMachine.awsdocs.json").read_text())
    headers = {"x-api-key": SANDBOX_SECRETS["CHATOPS_EVENTS_API_KEY"], "Content-Type": "application/json"}
    status, text = await stack.post("/aws/events", eventbridge(record, event_id="e-1"), headers)
    assert status < 300, text
    await wait_for(lambda: len(stack.card_messages("C0SECURITY")) == 1, what="security card")
    card = stack.card_messages("C0SECURITY")[0]
    assert "AccessDenied" in message_text(card) or "denied" in message_text(card).lower()
    # the same event again (EventBridge retry) changes nothing; a wrong key changes nothing
    await stack.post("/aws/events", eventbridge(record, event_id="e-1"), headers)
    bad = {**headers, "x-api-key": "wrong"}
    assert (await stack.post("/aws/events", eventbridge(record, event_id="e-2"), bad))[0] == 401
    button = next(el for b in card.blocks if b["type"] == "actions" for el in b["elements"]
                  if el["action_id"] == "sec_ack")
    await stack.click("U0SRE", "sec_ack", button["value"], channel="C0SECURITY", message_ts=card.ts, key="ack")
    await wait_for(lambda: bool(stack.slack.responses("ack")), what="ack answer")
    await wait_for(lambda: "sre" in message_text(stack.card_messages("C0SECURITY")[0]).lower(),
                   what="card names who acknowledged")
    assert len(stack.card_messages("C0SECURITY")) == 1
    assert stack.teams.accepted("ops"), "the same alert goes to Teams"
