"""SQL for security events, alerts and counters. Functions take a ``Conn`` inside the caller's transaction."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from bot.alerts.model import SecurityEvent, Severity
from bot.store.db import Conn, Row

_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
_COLS = (
    "id, rule_id, title, severity, principal, account, state, event_count, first_seen, last_seen, actions, "
    "regions, source_ips, sample, acked_by, acked_at, assignee, assigned_at, resolved_by, resolved_at, dirty, "
    "card_at, card_seq, created_at, escalated_at"
)
MAX_DISTINCT = 25  # distinct actions / regions / IPs kept per alert (the count keeps counting)


def new_alert_id() -> str:
    return "a-" + "".join(secrets.choice(_ALPHABET) for _ in range(8))


@dataclass(frozen=True, slots=True)
class Alert:
    id: str
    rule_id: str
    title: str
    severity: Severity
    principal: str
    account: str
    state: str  # open | acknowledged | resolved
    event_count: int
    first_seen: float
    last_seen: float
    actions: tuple[str, ...]
    regions: tuple[str, ...]
    source_ips: tuple[str, ...]
    sample: SecurityEvent  # the first event: who, what, where
    acked_by: str = ""
    acked_at: float | None = None
    assignee: str = ""
    assigned_at: float | None = None
    resolved_by: str = ""
    resolved_at: float | None = None
    dirty: bool = False
    card_at: float = 0.0
    card_seq: int = 0
    created_at: float = 0.0
    escalated_at: float | None = None  # re-posted with a channel mention (bot/alerts/escalation.py)


def _alert(r: Row) -> Alert:
    return Alert(
        id=r["id"], rule_id=r["rule_id"], title=r["title"], severity=Severity(r["severity"]),
        principal=r["principal"], account=r["account"], state=r["state"], event_count=int(r["event_count"]),
        first_seen=float(r["first_seen"]), last_seen=float(r["last_seen"]),
        actions=tuple(json.loads(r["actions"])), regions=tuple(json.loads(r["regions"])),
        source_ips=tuple(json.loads(r["source_ips"])), sample=SecurityEvent.from_dict(json.loads(r["sample"])),
        acked_by=r["acked_by"], acked_at=r["acked_at"], assignee=r["assignee"], assigned_at=r["assigned_at"],
        resolved_by=r["resolved_by"], resolved_at=r["resolved_at"], dirty=bool(r["dirty"]),
        card_at=float(r["card_at"]), card_seq=int(r["card_seq"]), created_at=float(r["created_at"]),
        escalated_at=r["escalated_at"],
    )


def add_distinct(values: tuple[str, ...], value: str) -> tuple[str, ...]:
    if not value or value in values or len(values) >= MAX_DISTINCT:
        return values
    return (*values, value)


async def insert_event(c: Conn, e: SecurityEvent, *, alert_id: str, rule_id: str, now: float) -> bool:
    """Record one event. False if its eventID was already recorded (the only dedup)."""
    n = await c.execute(
        "INSERT INTO security_events (event_id, alert_id, rule_id, event_time, event_source, event_name, "
        "principal, account, region, source_ip, error_code, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (event_id) DO NOTHING",
        e.event_id, alert_id, rule_id, e.event_time, e.event_source, e.event_name, e.principal_arn, e.account,
        e.region, e.source_ip, e.error_code, now,
    )
    return n == 1


async def event_seen(c: Conn, event_id: str) -> bool:
    return await c.fetchrow("SELECT 1 AS x FROM security_events WHERE event_id = ?", event_id) is not None


async def find_open_alert(c: Conn, *, rule_id: str, principal: str, account: str, since: float,
                          success: bool) -> Alert | None:
    """The principal's open alert of this rule within the window whose events have the same outcome: a successful
    call never joins an alert of failures (an alert's outcome is its first event's)."""
    rows = await c.fetch(
        f"SELECT {_COLS} FROM security_alerts WHERE rule_id = ? AND principal = ? AND account = ? "
        "AND state != 'resolved' AND last_seen >= ? ORDER BY created_at DESC LIMIT 10",
        rule_id, principal, account, since,
    )
    return next((a for a in map(_alert, rows) if (not a.sample.error_code) == success), None)


async def is_new_principal(c: Conn, *, alert_id: str, principal: str) -> bool:
    """True when no event of ``principal`` is in the alert yet (a folded alert gains a principal)."""
    row = await c.fetchrow("SELECT 1 AS x FROM security_events WHERE alert_id = ? AND principal = ? LIMIT 1",
                           alert_id, principal)
    return row is None


FOLDED = "*"  # the principal of a rule's folded alert (many principals, one card)


async def alert_principals(c: Conn, alert: Alert) -> tuple[str, ...]:
    """Every principal an alert is about: its own, or for a folded alert each principal folded into it."""
    if alert.principal != FOLDED:
        return (alert.principal,)
    rows = await c.fetch("SELECT DISTINCT principal FROM security_events WHERE alert_id = ?", alert.id)
    return tuple(str(r["principal"]) for r in rows)


@dataclass(frozen=True, slots=True)
class Folded:
    """What a folded alert's card shows: how many principals, and the busiest ones with their event counts."""

    principals: int
    top: tuple[tuple[str, int], ...]
    new: tuple[str, ...] = ()  # principals whose first event came after the card's last post


async def folded_summary(c: Conn, alert_id: str, *, top: int = 5, new_since: float | None = None) -> Folded:
    total = await c.fetchrow("SELECT COUNT(DISTINCT principal) AS n FROM security_events WHERE alert_id = ?",
                             alert_id)
    rows = await c.fetch(
        "SELECT principal, COUNT(*) AS n FROM security_events WHERE alert_id = ? GROUP BY principal "
        "ORDER BY n DESC, principal LIMIT ?", alert_id, top,
    )
    new: tuple[str, ...] = ()
    if new_since is not None:
        fresh = await c.fetch(
            "SELECT principal FROM security_events WHERE alert_id = ? GROUP BY principal "
            "HAVING MIN(received_at) > ? ORDER BY MIN(received_at), principal LIMIT 26", alert_id, new_since,
        )
        new = tuple(str(r["principal"]) for r in fresh)
    return Folded(int(total["n"]) if total else 0, tuple((str(r["principal"]), int(r["n"])) for r in rows), new)


async def find_fold_alert(c: Conn, *, rule_id: str, since: float) -> Alert | None:
    """The rule's open folded alert (many principals, one card) within the window, if the rule has one."""
    row = await c.fetchrow(
        f"SELECT {_COLS} FROM security_alerts WHERE rule_id = ? AND principal = ? AND state != 'resolved' "
        "AND last_seen >= ? ORDER BY created_at DESC LIMIT 1", rule_id, FOLDED, since,
    )
    return _alert(row) if row else None


async def open_principal_alerts(c: Conn, *, rule_id: str, since: float) -> int:
    """How many principals the rule has an open alert of their own for, within the window."""
    row = await c.fetchrow(
        "SELECT COUNT(*) AS n FROM security_alerts WHERE rule_id = ? AND principal != ? AND state != 'resolved' "
        "AND last_seen >= ?", rule_id, FOLDED, since,
    )
    return int(row["n"]) if row else 0


async def get_alert(c: Conn, alert_id: str) -> Alert | None:
    row = await c.fetchrow(f"SELECT {_COLS} FROM security_alerts WHERE id = ?", alert_id)
    return _alert(row) if row else None


async def create_alert(c: Conn, a: Alert) -> None:
    await c.execute(
        f"INSERT INTO security_alerts ({_COLS}) VALUES ({', '.join('?' * 25)})",
        a.id, a.rule_id, a.title, a.severity.value, a.principal, a.account, a.state, a.event_count,
        a.first_seen, a.last_seen, json.dumps(a.actions), json.dumps(a.regions), json.dumps(a.source_ips),
        json.dumps(a.sample.to_dict()), a.acked_by, a.acked_at, a.assignee, a.assigned_at, a.resolved_by,
        a.resolved_at, int(a.dirty), a.card_at, a.card_seq, a.created_at, a.escalated_at,
    )


async def save_counts(c: Conn, a: Alert) -> None:
    """Write the aggregation columns (count, seen, distinct values, card bookkeeping); never the state."""
    await c.execute(
        "UPDATE security_alerts SET event_count = ?, first_seen = ?, last_seen = ?, actions = ?, regions = ?, "
        "source_ips = ?, dirty = ?, card_at = ?, card_seq = ? WHERE id = ?",
        a.event_count, a.first_seen, a.last_seen, json.dumps(a.actions), json.dumps(a.regions),
        json.dumps(a.source_ips), int(a.dirty), a.card_at, a.card_seq, a.id,
    )


async def mark_carded(c: Conn, alert_id: str, *, at: float, seq: int) -> None:
    await c.execute("UPDATE security_alerts SET dirty = 0, card_at = ?, card_seq = ? WHERE id = ?", at, seq, alert_id)


async def dirty_alerts(c: Conn, *, due_before: float, limit: int = 100) -> list[Alert]:
    rows = await c.fetch(
        f"SELECT {_COLS} FROM security_alerts WHERE dirty = 1 AND card_at <= ? ORDER BY card_at LIMIT ?",
        due_before, limit,
    )
    return [_alert(r) for r in rows]


async def set_state(c: Conn, alert_id: str, *, sql_set: str, args: tuple[Any, ...], where_state: str) -> bool:
    """Conditional state write: ``UPDATE ... WHERE id = ? AND <where_state>``. True if it won."""
    n = await c.execute(f"UPDATE security_alerts SET {sql_set} WHERE id = ? AND {where_state}", *args, alert_id)
    return n == 1


async def bump(c: Conn, name: str, n: int = 1) -> None:
    if n:
        await c.execute(
            "INSERT INTO security_counters (name, n) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET n = security_counters.n + excluded.n", name, n,
        )


async def counters(c: Conn) -> dict[str, int]:
    return {r["name"]: int(r["n"]) for r in await c.fetch("SELECT name, n FROM security_counters")}


async def event_count(c: Conn, alert_id: str) -> int:
    row = await c.fetchrow("SELECT COUNT(*) AS n FROM security_events WHERE alert_id = ?", alert_id)
    return int(row["n"]) if row else 0
