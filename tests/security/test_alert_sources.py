"""Issue 25 item 6: GuardDuty findings, Security Hub findings (ASFF), CloudWatch alarm state changes and AWS Health
events go through the same pipeline as CloudTrail: AWS's published sample events (tests/fixtures/published/aws/
eventbridge, SOURCES.md) posted to the real app by EventBridge's API destination and by SNS each raise one alert
with one card; their untrusted text is escaped on the card like any CloudTrail field.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from chatops.app import STORE
from sandbox.stack import SANDBOX_SECRETS, Stack, message_text, wait_for
from tests.scenario.test_github_flow import write_config

PUBLISHED = Path(__file__).resolve().parents[1] / "fixtures" / "published" / "aws" / "eventbridge"
HEADERS = {"x-api-key": SANDBOX_SECRETS["CHATOPS_EVENTS_API_KEY"], "Content-Type": "application/json"}

# sample event -> (rule, severity, text the card shows)
EXPECTED = {
    "guardduty-finding.rdp-brute-force.awsdocs-derived.json":
        ("guardduty-low", "low", "198.51.100.0 is performing RDP brute force attacks against i-99999999."),
    "securityhub-findings-imported.fsbp-cloudtrail2.awsdocs-derived.json":
        ("securityhub-medium", "medium", "CloudTrail.2 CloudTrail should have encryption at-rest enabled"),
    "cloudwatch-alarm-state-change.single-metric.awsdocs.json":
        ("cloudwatch-alarm", "high", "ServerCpuTooHigh: ALARM (was OK)"),
    "health-event.ec2-instance-store-degraded.aws-health-tools.json":
        ("health-issue", "high", "AWS_EC2_INSTANCE_STORE_DRIVE_PERFORMANCE_DEGRADED"),
}


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    s = Stack(database_url=f"sqlite:///{tmp_path}/bot.db", config_path=write_config(tmp_path))
    async with s:
        yield s


async def alerts(stack: Stack) -> list[dict[str, Any]]:
    assert stack.app is not None
    async with stack.app[STORE].unit() as u:
        return [dict(r) for r in await u.c.fetch("SELECT id, rule_id, severity, event_count FROM security_alerts")]


async def test_one_alert_and_one_card_per_published_sample_event(stack: Stack) -> None:
    for n, (name, (_, _, text)) in enumerate(sorted(EXPECTED.items()), start=1):
        body = (PUBLISHED / name).read_bytes()
        status, answer = await stack.post("/aws/events", body, HEADERS)
        assert status == 200, answer
        await wait_for(lambda t=text: any(t in message_text(m) for m in stack.card_messages("C0SECURITY")),  # type: ignore[misc]
                       what=f"card for {name}")
        status, answer = await stack.post("/aws/events", body, HEADERS)  # EventBridge retries: no second effect
        assert json.loads(answer)["duplicate"] is True
        assert len(await alerts(stack)) == n
    got = {(a["rule_id"], a["severity"], a["event_count"]) for a in await alerts(stack)}
    assert got == {(rule, sev, 1) for rule, sev, _ in EXPECTED.values()}
    assert len(stack.card_messages("C0SECURITY")) == len(EXPECTED)
    teams = json.dumps(stack.teams.cards("ops"))
    assert all(text in teams for _, _, text in EXPECTED.values())


async def test_finding_text_is_escaped_on_the_card(stack: Stack) -> None:
    event = json.loads((PUBLISHED / "guardduty-finding.rdp-brute-force.awsdocs-derived.json").read_text())
    event["id"] = "evil-1"
    event["detail"]["title"] = "<!channel> see <https://evil.example|here> [click](https://evil.example)"
    status, answer = await stack.post("/aws/events", json.dumps(event).encode(), HEADERS)
    assert status == 200, answer
    await wait_for(lambda: bool(stack.card_messages("C0SECURITY")), what="card")
    text = message_text(stack.card_messages("C0SECURITY")[0])
    assert "&lt;!channel&gt;" in text and "<!channel>" not in text and "<https://evil" not in text
    await wait_for(lambda: bool(stack.teams.cards("ops")), what="teams card")
    assert "\\\\[click\\\\]" in json.dumps(stack.teams.cards("ops")[0])


async def test_an_unknown_source_event_is_refused(stack: Stack) -> None:
    event = json.loads((PUBLISHED / "cloudwatch-alarm-state-change.single-metric.awsdocs.json").read_text())
    event["source"] = "aws.ec2"  # CloudWatch's detail-type from another source: not what AWS sends
    status, answer = await stack.post("/aws/events", json.dumps(event).encode(), HEADERS)
    assert status == 400 and "does not send" in answer
