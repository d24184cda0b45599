"""Store operations for auto-deploy (issue 25 item 2, migration 0016): one row per (service, commit) pushed to the
service's auto-deploy branch. Functions over a ``Unit`` (they join its transaction); every state change is a
conditional write, so a commit is requested once whatever arrives twice or on two replicas at once."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from bot.store.db import Row
from bot.store.store import Unit

WAITING, PAUSED, REQUESTED, REFUSED, SUPERSEDED = "waiting", "paused", "requested", "refused", "superseded"
OPEN = (WAITING, PAUSED)
FINAL_RETENTION_S = 30 * 86400


@dataclass(frozen=True, slots=True)
class AutoRow:
    service: str
    sha: str
    branch: str
    environment: str
    pusher: str
    pusher_id: int
    state: str
    request_id: str = ""
    detail: str = ""


_COLS = "service, sha, branch, environment, pusher, pusher_id, state, request_id, detail"


def _row(r: Row) -> AutoRow:
    return AutoRow(str(r["service"]), str(r["sha"]), str(r["branch"]), str(r["environment"]), str(r["pusher"]),
                   int(r["pusher_id"] or 0), str(r["state"]), str(r["request_id"]), str(r["detail"]))


async def add_commit(u: Unit, *, service: str, sha: str, branch: str, environment: str, pusher: str,
                     pusher_id: int) -> bool:
    """Record a pushed commit as waiting for its checks; False when it is known already."""
    now = time.time()
    n = await u.c.execute(
        f"INSERT INTO auto_deploys ({_COLS}, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, '', '', ?, ?) "
        "ON CONFLICT (service, sha) DO NOTHING", service, sha, branch, environment, pusher, pusher_id, WAITING,
        now, now)
    return n == 1


async def get_commit(u: Unit, service: str, sha: str) -> AutoRow | None:
    row = await u.c.fetchrow(f"SELECT {_COLS} FROM auto_deploys WHERE service = ? AND sha = ?", service, sha)
    return _row(row) if row else None


async def move(u: Unit, service: str, sha: str, *, from_states: Iterable[str], to: str, detail: str = "",
               request_id: str = "") -> bool:
    """The one conditional write: True for the caller that moved the row."""
    states = list(from_states)
    n = await u.c.execute(
        f"UPDATE auto_deploys SET state = ?, detail = ?, request_id = ?, updated_at = ? WHERE service = ? AND sha = ? "
        f"AND state IN ({', '.join('?' * len(states))})", to, detail[:500], request_id, time.time(), service, sha,
        *states)
    return n == 1


async def supersede_older(u: Unit, service: str, sha: str) -> int:
    """Every other commit of ``service`` still waiting or paused is superseded by ``sha`` (the branch's new head)."""
    return await u.c.execute(
        "UPDATE auto_deploys SET state = ?, detail = ?, updated_at = ? WHERE service = ? AND sha <> ? "
        "AND state IN (?, ?)", SUPERSEDED, f"superseded by {sha[:7]}", time.time(), service, sha, *OPEN)


async def paused(u: Unit, *, limit: int = 20) -> list[AutoRow]:
    rows = await u.c.fetch(f"SELECT {_COLS} FROM auto_deploys WHERE state = ? ORDER BY updated_at LIMIT ?",
                           PAUSED, limit)
    return [_row(r) for r in rows]


async def prune(u: Unit, service: str) -> int:
    """Drop ``service``'s finished rows older than the retention window (a few per push)."""
    return await u.c.execute(
        "DELETE FROM auto_deploys WHERE service = ? AND state IN (?, ?, ?) AND updated_at < ?", service, REQUESTED,
        REFUSED, SUPERSEDED, time.time() - FINAL_RETENTION_S)
