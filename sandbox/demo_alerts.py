"""The demo's alerts step (issue 25): a GuardDuty finding becomes a card; a critical alert nobody acknowledges is
escalated with @channel and paged in PagerDuty (the loopback fake), and resolving it in chat resolves the page.

The bot's clock is moved forward instead of waiting ``security.escalate_after`` (5 minutes) for real.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from bot.alerts.pagerduty import dedup_key
from sandbox.pagerduty_fake import PagerDutyFake
from sandbox.stack import SANDBOX_SECRETS, Stack, message_text

ROOT = Path(__file__).resolve().parent.parent
PUBLISHED = ROOT / "tests" / "fixtures" / "published" / "aws" / "eventbridge"
CLOUDTRAIL = ROOT / "tests" / "fixtures" / "cloudtrail"
HEADERS = {"x-api-key": SANDBOX_SECRETS["CHATOPS_EVENTS_API_KEY"], "Content-Type": "application/json"}
Expect = Callable[[Callable[[], bool], str], Awaitable[None]]


def _root_sign_in() -> bytes:
    record = json.loads((CLOUDTRAIL / "console-login.root-no-mfa.awsdocs.json").read_text())
    return json.dumps({"version": "0", "id": "demo-root-1", "detail-type": "AWS Console Sign In via CloudTrail",
                       "source": "aws.signin", "account": record["recipientAccountId"], "time": record["eventTime"],
                       "region": "us-east-1", "resources": [], "detail": record}).encode()


def _alert_id(stack: Stack, match: str) -> str:
    card = next(m for m in stack.card_messages("C0SECURITY") if match in message_text(m))
    return str(next(el["value"] for b in card.blocks if b["type"] == "actions" for el in b["elements"]
                    if el["action_id"] == "sec_resolve"))


async def alerts_step(stack: Stack, pd: PagerDutyFake, offset: list[timedelta], *, expect: Expect,
                      show: Callable[[str], None]) -> None:
    print("\n== 10. AWS alert sources: a GuardDuty finding (AWS's published sample event) via EventBridge")
    body = (PUBLISHED / "guardduty-finding.rdp-brute-force.awsdocs-derived.json").read_bytes()
    status, text = await stack.post("/aws/events", body, HEADERS)
    if status != 200:
        raise RuntimeError(f"the GuardDuty finding was refused: {status} {text}")
    await expect(lambda: any("RDP brute force" in message_text(m) for m in stack.card_messages("C0SECURITY")),
                 "GuardDuty card")
    show("RDP brute force")

    print("\n== 11. Escalation: root signs in, nobody acknowledges for 5 minutes (the bot's clock moves on)")
    await stack.post("/aws/events", _root_sign_in(), HEADERS)
    await expect(lambda: any("Root user activity" in message_text(m) for m in stack.card_messages("C0SECURITY")),
                 "root activity card")
    alert = _alert_id(stack, "Root user activity")
    offset[0] += timedelta(minutes=6)
    await expect(lambda: any("Escalated:" in message_text(m) for m in stack.card_messages("C0SECURITY")),
                 "escalation re-post with @channel")
    show("Escalated:")
    await expect(lambda: pd.actions(dedup_key(alert)) == ["trigger"], "PagerDuty trigger")
    trigger = pd.events[-1]
    print(f"  PagerDuty: POST /v2/enqueue trigger dedup_key={trigger['dedup_key']} "
          f"severity={trigger['payload']['severity']} summary={trigger['payload']['summary'][:70]!r}")

    print("\n> U0SRE clicks [Resolve] on the alert")
    await stack.click("U0SRE", "sec_resolve", alert, channel="C0SECURITY", key="demo-resolve")
    await expect(lambda: pd.actions(dedup_key(alert)) == ["trigger", "resolve"], "PagerDuty resolve")
    print(f"  PagerDuty: POST /v2/enqueue resolve dedup_key={dedup_key(alert)} "
          f"(incident now {pd.alerts[dedup_key(alert)]}; one trigger, one resolve)")
