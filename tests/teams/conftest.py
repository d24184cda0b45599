"""Shared helpers for the Teams tests: the Adaptive Card 1.4 schema and representative cards."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from bot.domain import Button, Card, Fact, Link
from sandbox.paths import SPECS_DIR

SPECS = SPECS_DIR
SCHEMA_14 = SPECS / "adaptive-cards" / "schemas" / "1.4.0" / "adaptive-card.json"


@pytest.fixture(scope="session")
def card_validator() -> jsonschema.Draft6Validator:
    if not SCHEMA_14.exists():
        pytest.fail(f"Adaptive Card schema not found at {SCHEMA_14}")
    return jsonschema.Draft6Validator(json.loads(SCHEMA_14.read_text(encoding="utf-8")))


def schema_errors(validator: jsonschema.Draft6Validator, card: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(card)]


RUN = "https://github.com/acme/platform/actions/runs/42"

CARDS: dict[str, Card] = {
    "deploy-running": Card(
        kind="deployment", title="Deploying api v1.4.2 to staging", status="running", tone="neutral",
        facts=(Fact("Service", "api"), Fact("Environment", "staging"), Fact("Ref", "v1.4.2"),
               Fact("Requested by", "dev")),
        links=(Link("Workflow run", RUN),), footer="request r-abcd2345",
    ),
    "deploy-succeeded": Card(
        kind="deployment", title="Deployed api v1.4.2 to staging", status="succeeded", tone="good",
        text="All health checks passed in 41 s.", facts=(Fact("Service", "api"), Fact("Version", "v1.4.2")),
        links=(Link("Workflow run", RUN),),
    ),
    "deploy-failed": Card(
        kind="failure", title="api-ci.yml failed on main", status="failed", tone="danger",
        text="Job `deploy` failed at step *Smoke test*.",
        facts=(Fact("Branch", "main"), Fact("Commit", "abc1234")),
        links=(Link("Logs", RUN),), mention="here",
    ),
    "rollback": Card(
        kind="rollback", title="Rolled back api in production", status="rolled back", tone="warning",
        facts=(Fact("From", "v1.4.2"), Fact("To", "v1.4.1")), mention="<@U0LEAD> <@U0SRE>",
    ),
    "approval": Card(
        kind="approval", title="Approval needed: deploy api v1.4.2 to production", status="pending approval",
        tone="warning", text="dev asks to deploy. 1 approval from approvers needed.",
        facts=(Fact("Service", "api"), Fact("Environment", "production"), Fact("Expires", "in 2h")),
        buttons=(Button("approve", "Approve", "r-abcd2345", "primary"),
                 Button("reject", "Reject", "r-abcd2345", "danger"),
                 Button("open", "Open run", RUN)),
    ),
    "security-long": Card(
        kind="security", title="CloudTrail: root account console login", status="HIGH", tone="danger",
        text="Suspicious activity. " + ("eventName=ConsoleLogin sourceIPAddress=203.0.113.9 ✓ " * 2500),
        facts=tuple(Fact(f"Detail {i}", "x" * 300) for i in range(30)),
        mention="channel",
    ),
    "security-many-facts": Card(
        kind="security", title="IAM policy changes", status="MEDIUM", tone="warning",
        facts=tuple(Fact(f"Policy {i}", "arn:aws:iam::123456789012:policy/" + "p" * 1800) for i in range(40)),
    ),
}
