"""Shared pieces for the reliability tests: a config with SNS enabled, CloudTrail events, store snapshots."""

from __future__ import annotations

import copy
import json
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from sandbox.stack import EXAMPLE_CONFIG, Stack

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cloudtrail"
TOPIC = "arn:aws:sns:us-east-1:123456789012:chatops-security"
REQ = re.compile(r"`(r-[a-z0-9]{8})`")
# every table an inbound item can write to; "nothing recorded" means none of these changed
TABLES = ("inbox", "outbox", "audit", "requests", "approvals", "idempotency", "locks", "deployments",
          "message_refs", "security_events", "security_alerts", "security_counters", "teams_conversations")


def request_id(answer: dict[str, Any]) -> str:
    m = REQ.search(answer.get("text", ""))
    assert m, answer
    return m.group(1)


def no_notes_example() -> str:
    """The example config without production's deploy notes: these tests count every message a card gets, and
    the notes (a thread reply after each production success; tests/scenario/test_deploy_notes.py) would add one."""
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    out = re.sub(r"(\n  production: *\{)", r"\1deploy_notes: false, ", text, count=1)
    assert out != text, "the example config's production environment is a flow mapping"
    return out


def no_notes_config(tmp: Path) -> Path:
    path = tmp / "chatops.yml"
    path.write_text(no_notes_example(), encoding="utf-8")
    return path


def write_config(tmp: Path, *, card_update_interval: float = 0.2) -> Path:
    """The example config (deploy notes off) plus an SNS topic whose signing certificates may come from 127.0.0.1."""
    text = no_notes_example()
    text += (
        "security:\n"
        f"  card_update_interval: {card_update_interval}\n"
        "  sns:\n"
        f"    topics: [\"{TOPIC}\"]\n"
        "    cert_host_pattern: '^127\\.0\\.0\\.1$'\n"
    )
    path = tmp / "chatops.yml"
    path.write_text(text, encoding="utf-8")
    return path


def trust_sns_certs_from(app: web.Application, ssl_context: Any) -> None:
    """Point the running app's SNS verifier at a loopback CA (what an on-prem CA bundle would do)."""
    from bot.alerts.sns import SnsVerifier

    for route in app.router.routes():
        if route.resource is not None and route.resource.canonical == "/aws/sns":
            handler: Any = getattr(route.handler, "__wrapped__", route.handler)  # aiohttp wraps callables
            handler.verifier = SnsVerifier(host_pattern=r"^127\.0\.0\.1$", ssl_context=ssl_context)
            return
    raise AssertionError("no /aws/sns route")


def load_fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def access_denied(*, event_id: str | None = None, user: str = "test-user") -> dict[str, Any]:
    """A real published CloudTrail AccessDenied record, with its own eventID, principal and a fresh time."""
    rec = copy.deepcopy(load_fixture("access-denied.states-DeleteStateMachine.awsdocs.json"))
    rec["eventID"] = event_id or str(uuid.uuid4())
    rec["userIdentity"]["arn"] = f"arn:aws:iam::123456789012:user/{user}"
    rec["userIdentity"]["userName"] = user
    rec["eventTime"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return rec


def envelope(record: dict[str, Any], *, envelope_id: str | None = None) -> dict[str, Any]:
    """Wrap a CloudTrail record the way EventBridge delivers it."""
    return {
        "version": "0", "id": envelope_id or str(uuid.uuid4()), "detail-type": "AWS API Call via CloudTrail",
        "source": "aws." + record["eventSource"].split(".")[0], "account": record.get("recipientAccountId", ""),
        "time": record["eventTime"], "region": record.get("awsRegion", ""), "resources": [], "detail": record,
    }


async def snapshot(stack: Stack) -> dict[str, int]:
    """Row counts of every table (security_counters: the sum of its counters)."""
    from chatops.app import STORE

    assert stack.app is not None
    return await snapshot_store(stack.app[STORE])


async def snapshot_store(store: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    async with store.unit() as u:
        for table in TABLES:
            expr = "COALESCE(SUM(n), 0)" if table == "security_counters" else "COUNT(*)"
            row = await u.c.fetchrow(f"SELECT {expr} AS n FROM {table}")
            out[table] = int(row["n"]) if row else 0
    return out


async def rows(stack: Stack, sql: str, *args: Any) -> list[Any]:
    from chatops.app import STORE

    assert stack.app is not None
    async with stack.app[STORE].unit() as u:
        return list(await u.c.fetch(sql, *args))


async def settled(stack: Stack, *, timeout: float = 20.0) -> None:
    """Wait until every inbox item is processed and every outbox message is delivered (or given up)."""
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    while True:
        pending = await rows(stack, "SELECT 'inbox' AS t, COUNT(*) AS n FROM inbox WHERE state = 'pending' "
                                    "UNION ALL SELECT 'outbox', COUNT(*) FROM outbox WHERE state = 'pending' "
                                    "UNION ALL SELECT 'requests', COUNT(*) FROM requests WHERE state NOT IN "
                                    "('succeeded', 'failed', 'cancelled', 'rejected', 'expired', "
                                    "'dispatch_failed', 'lost', 'pending_approval') "
                                    "UNION ALL SELECT 'alerts', COUNT(*) FROM security_alerts WHERE dirty = 1")
        left = {r["t"]: int(r["n"]) for r in pending if int(r["n"])}
        if not left:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"not settled after {timeout}s: {left}")
        await asyncio.sleep(0.05)
