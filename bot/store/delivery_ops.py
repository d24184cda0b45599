"""Store operations for issue 16: request changes, delivery outcomes, digest slots, held notifications.
Functions over a ``Unit`` (they join its transaction)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from bot.previews import Changes, CommitLine
from bot.store.db import Row
from bot.store.store import Unit, dt, ts


@dataclass(frozen=True, slots=True)
class Outcome:
    """One finished run of a request (a re-run is another attempt)."""

    request_id: str
    attempt: int
    kind: str  # deploy | rollback
    service: str
    environment: str
    outcome: str  # success | failure | cancelled
    started_at: datetime
    at: datetime
    lead_s: float | None = None
    approval_wait_s: float | None = None
    restore_s: float | None = None


async def save_changes(u: Unit, request_id: str, c: Changes, *, at: datetime) -> None:
    commits = json.dumps([[x.sha, x.title, x.author, x.pr] for x in c.commits])
    await u.c.execute(
        "INSERT INTO request_changes (request_id, base_sha, head_sha, relation, total, behind, oldest_commit_at, "
        "commits, checks, failing, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (request_id) DO UPDATE "
        "SET base_sha = excluded.base_sha, head_sha = excluded.head_sha, relation = excluded.relation, "
        "total = excluded.total, behind = excluded.behind, oldest_commit_at = excluded.oldest_commit_at, "
        "commits = excluded.commits, "
        "checks = excluded.checks, failing = excluded.failing, at = excluded.at",
        request_id, c.base_sha, c.head_sha, c.relation, c.total, c.behind, ts(c.oldest_commit_at), commits, c.checks,
        json.dumps(list(c.failing)), ts(at),
    )


async def get_changes(u: Unit, request_id: str) -> Changes | None:
    row = await u.c.fetchrow(
        "SELECT base_sha, head_sha, relation, total, behind, oldest_commit_at, commits, checks, failing "
        "FROM request_changes WHERE request_id = ?", request_id)
    if row is None:
        return None
    commits = tuple(CommitLine(str(a), str(b), str(c), int(d) if d is not None else None)
                    for a, b, c, d in json.loads(row["commits"] or "[]"))
    return Changes(str(row["base_sha"]), str(row["head_sha"]), str(row["relation"]), total=int(row["total"]),
                   behind=int(row["behind"]), commits=commits,
                   oldest_commit_at=dt(row["oldest_commit_at"]), checks=str(row["checks"]),
                   failing=tuple(json.loads(row["failing"] or "[]")))


async def add_outcome(u: Unit, o: Outcome) -> bool:
    """False when this attempt's outcome was recorded before (a redelivered webhook)."""
    n = await u.c.execute(
        "INSERT INTO delivery_outcomes (request_id, attempt, kind, service, environment, outcome, started_at, at, "
        "lead_s, approval_wait_s, restore_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (request_id, attempt) DO NOTHING",
        o.request_id, o.attempt, o.kind, o.service, o.environment, o.outcome, ts(o.started_at), ts(o.at),
        o.lead_s, o.approval_wait_s, o.restore_s,
    )
    return n == 1


def _outcome(row: Row) -> Outcome:
    started, at = dt(row["started_at"]), dt(row["at"])
    assert started is not None and at is not None
    return Outcome(str(row["request_id"]), int(row["attempt"]), str(row["kind"]), str(row["service"]),
                   str(row["environment"]), str(row["outcome"]), started, at, row["lead_s"], row["approval_wait_s"],
                   row["restore_s"])


async def outcomes(u: Unit, *, services: Iterable[str], environment: str, since: datetime,
                   until: datetime) -> list[Outcome]:
    """Outcomes finished in [since, until) for ``services`` in ``environment``, oldest first."""
    names = list(services)
    if not names:
        return []
    rows = await u.c.fetch(
        "SELECT request_id, attempt, kind, service, environment, outcome, started_at, at, lead_s, approval_wait_s, "
        f"restore_s FROM delivery_outcomes WHERE environment = ? AND service IN ({', '.join('?' * len(names))}) "
        "AND at >= ? AND at < ? ORDER BY at, request_id", environment, *names, ts(since), ts(until))
    return [_outcome(r) for r in rows]


async def last_outcomes(u: Unit, *, service: str, environment: str, before: datetime,
                        limit: int = 50) -> list[Outcome]:
    """The newest outcomes of one service in one environment before ``before``, newest first."""
    rows = await u.c.fetch(
        "SELECT request_id, attempt, kind, service, environment, outcome, started_at, at, lead_s, approval_wait_s, "
        "restore_s FROM delivery_outcomes WHERE service = ? AND environment = ? AND at <= ? "
        "ORDER BY at DESC LIMIT ?", service, environment, ts(before), limit)
    return [_outcome(r) for r in rows]


async def claim_slot(u: Unit, *, route: str, slot: str, at: datetime) -> bool:
    """True for exactly one caller per (route, slot), across replicas and restarts."""
    n = await u.c.execute("INSERT INTO digest_slots (route, slot, at) VALUES (?, ?, ?) "
                          "ON CONFLICT (route, slot) DO NOTHING", route, slot, ts(at))
    return n == 1


async def hold(u: Unit, *, route: str, platform: str, address: str, key: str, line: str, at: datetime) -> None:
    """Hold one summary line; the same ``key`` for the same destination is held once."""
    await u.c.execute("INSERT INTO held_notifications (route, platform, address, key, line, at) "
                      "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (route, platform, address, key) DO NOTHING",
                      route, platform, address, key, line, ts(at))


async def take_held(u: Unit, *, route: str) -> list[tuple[str, str, str]]:
    """Remove and return the held lines of a route as (platform, address, line), oldest first."""
    rows = await u.c.fetch("SELECT id, platform, address, line FROM held_notifications WHERE route = ? ORDER BY id",
                           route)
    if rows:
        n = await u.c.execute(f"DELETE FROM held_notifications WHERE id IN ({', '.join('?' * len(rows))})",
                              *[r["id"] for r in rows])
        if n != len(rows):  # another replica took them at the same moment: it delivers them
            return []
    return [(str(r["platform"]), str(r["address"]), str(r["line"])) for r in rows]
