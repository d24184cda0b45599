"""Request bodies and headers the load generator sends: signed slash commands, signed GitHub webhooks,
EventBridge events wrapping CloudTrail records. Built in the generator process (signing costs it, not the bot)."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sandbox import github_payloads as gp
from sandbox.signing import sign_github, sign_slack, slash_command_body
from sandbox.stack import SANDBOX_SECRETS

ROOT = Path(__file__).resolve().parent.parent
ACCESS_DENIED = ROOT / "tests" / "fixtures" / "cloudtrail" / "access-denied.states-DeleteStateMachine.awsdocs.json"
REPOSITORY = "acme/platform"
STORM_PRINCIPAL = "arn:aws:iam::123456789012:user/bench/storm-user"
Request = tuple[str, bytes, dict[str, str]]  # path, body, headers


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _record() -> dict[str, Any]:
    return dict(json.loads(ACCESS_DENIED.read_text(encoding="utf-8")))


_BASE = _record()


def cloudtrail_record(i: int, *, tag: str, denied: bool, principal: str | None = None) -> dict[str, Any]:
    """A real CloudTrail record (the AWS docs' AccessDenied example) with a unique eventID.

    ``denied=False`` turns it into an ordinary successful read that matches no rule (the common case in a
    real trail); ``denied=True`` keeps ``errorCode: AccessDenied`` (rule ``access-denied``)."""
    r = json.loads(json.dumps(_BASE))
    r["eventID"] = f"{tag}-{i:08d}-{uuid.uuid4().hex[:12]}"
    r["requestID"] = str(uuid.uuid4())
    r["eventTime"] = _iso(time.time())
    if principal:
        r["userIdentity"]["arn"] = principal
        r["userIdentity"]["userName"] = principal.rsplit("/", 1)[-1]
    if not denied:
        r.pop("errorCode", None)
        r.pop("errorMessage", None)
        r["eventName"] = "DescribeStateMachine"
        r["readOnly"] = True
    return r


def eventbridge(i: int, *, tag: str, denied: bool, principal: str | None = None, event_id: str | None = None
                ) -> Request:
    record = cloudtrail_record(i, tag=tag, denied=denied, principal=principal)
    event = {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.states",
        "account": "123456789012",
        "time": record["eventTime"],
        "region": "us-east-1",
        "resources": [],
        "detail": record,
    }
    headers = {"Content-Type": "application/json", "x-api-key": SANDBOX_SECRETS["CHATOPS_EVENTS_API_KEY"]}
    return "/aws/events", json.dumps(event).encode(), headers


_WORKFLOW = gp.Workflow(161_000, "api-ci.yml", "api-ci")


def github_webhook(i: int, *, delivery: str | None = None) -> Request:
    """A signed ``workflow_run`` webhook for the configured repository (a run the bot did not start)."""
    now = time.time()
    sha = gp.fake_sha(f"bench-{i}")
    run = gp.Run(id=900_000_000 + i, number=i + 1, workflow=_WORKFLOW, head_branch="main", head_sha=sha,
                 inputs={}, display_title=f"bench run {i}", event="push", actor="dev-gh", created_at=now,
                 status="in_progress")
    api = "https://api.github.com"
    payload = {
        "action": "in_progress",
        "workflow_run": gp.workflow_run(api, REPOSITORY, 700_000_001, run),
        "workflow": _WORKFLOW.rest(api, REPOSITORY),
        "repository": gp.repository(api, REPOSITORY, 700_000_001, "main"),
        "sender": gp.user(api, "dev-gh"),
    }
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/bench",
        "X-GitHub-Event": "workflow_run",
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        **sign_github(SANDBOX_SECRETS["GITHUB_WEBHOOK_SECRET"], body),
    }
    return "/github/webhook", body, headers


COMMANDS = {
    "status": ("/deploy", "status", "U0DEV"),
    "deploy": ("/deploy", "api v1.4.2 to staging", "U0DEV"),
}


def slash(i: int, *, which: str, tag: str, response_url: str = "") -> Request:
    command, text, user = COMMANDS[which]
    body = slash_command_body(command, text, user, "C0DEPLOYS", trigger_id=f"{tag}.{i}.{uuid.uuid4().hex[:10]}",
                              response_url=response_url or "https://hooks.slack.com/commands/T111/1/x",
                              team_id="T0SANDBOX")
    headers = {**sign_slack(SANDBOX_SECRETS["SLACK_SIGNING_SECRET"], body),
               "Content-Type": "application/x-www-form-urlencoded"}
    return "/slack/events", body, headers


def hello(i: int) -> Request:
    """What the ceiling gets: an EventBridge-sized JSON body (the server only reads it)."""
    _path, body, headers = eventbridge(i, tag="hello", denied=False)
    return "/hello", body, headers
