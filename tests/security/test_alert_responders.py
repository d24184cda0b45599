"""Issue 12 item 8: only configured responders act on security alerts, never the person an alert is about.

Signed EventBridge events and signed Slack button clicks through the composed app; answers read from the Slack
fake's response_url posts, state from the store.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.alerts.settings import security_settings
from bot.config import parse_config
from bot.errors import ConfigError
from chatops.app import STORE
from sandbox.stack import SANDBOX_SECRETS, Stack, message_text, wait_for
from tests.scenario.test_github_flow import write_config

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cloudtrail"
HEADERS = {"x-api-key": SANDBOX_SECRETS["CHATOPS_EVENTS_API_KEY"], "Content-Type": "application/json"}


def denied_by(user: str, *, event_id: str) -> bytes:
    record = json.loads((FIXTURES / "access-denied.states-DeleteStateMachine.awsdocs.json").read_text())
    record["eventID"] = f"ct-{event_id}"
    record["userIdentity"]["arn"] = f"arn:aws:iam::123456789012:user/{user}"
    return json.dumps({
        "version": "0", "id": event_id, "detail-type": "AWS API Call via CloudTrail", "source": "aws.states",
        "account": "123456789012", "time": record["eventTime"], "region": "us-east-1", "resources": [],
        "detail": record,
    }).encode()


async def start(tmp_path: Path, security: dict[str, Any] | None) -> Stack:
    changes: dict[str, Any] = {"security": security} if security is not None else {}
    stack = Stack(database_url=f"sqlite:///{tmp_path}/bot.db", config_path=write_config(tmp_path, **changes))
    return await stack.start()


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    s = await start(tmp_path, {"responders": ["approvers"]})  # lead and sre
    yield s
    await s.stop()


async def alert_about(stack: Stack, user: str, event_id: str) -> tuple[str, Any]:
    before = len(stack.card_messages("C0SECURITY"))
    status, text = await stack.post("/aws/events", denied_by(user, event_id=event_id), HEADERS)
    assert status < 300, text
    await wait_for(lambda: len(stack.card_messages("C0SECURITY")) == before + 1, what="alert card")
    card = next(m for m in stack.card_messages("C0SECURITY") if f"user/{user}" in message_text(m))
    button = next(el for b in card.blocks if b["type"] == "actions" for el in b["elements"]
                  if el["action_id"] == "sec_resolve")
    return button["value"], card


async def click(stack: Stack, user: str, action: str, alert_id: str, key: str) -> str:
    await stack.click(user, action, alert_id, channel="C0SECURITY", key=key)
    await wait_for(lambda: bool(stack.slack.responses(key)), what=f"answer to {key}")
    return str(stack.slack.responses(key)[-1].get("text", ""))


async def state(stack: Stack, alert_id: str) -> dict[str, Any]:
    assert stack.app is not None
    async with stack.app[STORE].unit() as u:
        row = await u.c.fetchrow("SELECT state, acked_by, assignee, resolved_by FROM security_alerts WHERE id = ?",
                                 alert_id)
    assert row is not None
    return dict(row)


async def test_only_responders_act_and_never_the_subject(stack: Stack) -> None:
    alert_id, _ = await alert_about(stack, "sre", "e-sre")
    # dev is known to the bot (a deployer) but not a responder
    for action in ("sec_ack", "sec_assign", "sec_resolve"):
        answer = await click(stack, "U0DEV", action, alert_id, f"dev-{action}")
        assert "responder" in answer, answer
    # sre is a responder, but the alert is about sre's own IAM user
    for action in ("sec_ack", "sec_assign", "sec_resolve"):
        answer = await click(stack, "U0SRE", action, alert_id, f"sre-{action}")
        assert "about you" in answer, answer
    assert await state(stack, alert_id) == {"state": "open", "acked_by": "", "assignee": "", "resolved_by": ""}
    # lead is a responder and not the subject
    assert await click(stack, "U0LEAD", "sec_resolve", alert_id, "lead-resolve") == f"Resolved {alert_id}."
    assert (await state(stack, alert_id))["resolved_by"] == "lead"
    # sre may act on an alert about someone else
    other, _ = await alert_about(stack, "ci-bot", "e-ci")
    assert await click(stack, "U0SRE", "sec_ack", other, "sre-ack-other") == f"Acknowledged {other}."
    async with stack.app[STORE].unit() as u:  # type: ignore[index]
        log = await u.audit_log()
    denied = [(e.actor, e.action) for e in log if e.result == "denied"]
    assert len(denied) == 6 and {a for a, _ in denied} == {"dev", "sre"}


async def test_no_responders_configured_means_nobody(tmp_path: Path) -> None:
    stack = await start(tmp_path, {})
    try:
        alert_id, _ = await alert_about(stack, "someone", "e-1")
        answer = await click(stack, "U0SRE", "sec_resolve", alert_id, "sre-resolve")
        assert "security.responders" in answer, answer
        assert (await state(stack, alert_id))["state"] == "open"
    finally:
        await stack.stop()


def test_check_config_validates_responders() -> None:
    base = {"github": {"repository": "acme/app"},
            "slack": {"team_id": "T0SANDBOX", "channels": {"security": "C0SECURITY"}},
            "people": {"alice": {"slack": "U0ALICE"}}, "groups": {"sec": ["alice"]},
            "environments": {"prod": {"deployers": ["alice"]}},
            "services": {"api": {"workflow": "deploy.yml", "environments": ["prod"]}}, "routes": []}
    ok = security_settings(parse_config({**base, "security": {"responders": ["sec"]}}, env={}))
    assert ok.responders == ("alice",)
    for bad, words in (("nobody", "not a person or group"), (3, "list of")):
        with pytest.raises(ConfigError) as exc:
            security_settings(parse_config({**base, "security": {"responders": [bad]}}, env={}))
        assert any("security.responders" in p and words in p for p in exc.value.problems), exc.value.problems
