"""What the worker reads of runs' requests to judge their webhooks (``Unit.run_heads``) and of the lanes whose turn it
may be (``Unit.lane_turns``), the lanes' lock and what keeps a failed run from being re-run (``Unit.rerun_blocker``),
and the job lines' codec."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable

from bot.domain import RequestState, RunHead
from bot.store.db import Conn
from bot.store.leases import OWNER as LEASE_OWNER

_FINAL_VALUES = tuple(s.value for s in RequestState if s.final)
# A request ``q`` of the same (service, environment) lane whose run is unfinished or being started: the lane is busy.
# Parameters: LANE_BUSY_ARGS.
LANE_BUSY = (f"(q.state IN (?, ?, ?) OR (q.run_id IS NOT NULL AND q.state NOT IN "
             f"({', '.join('?' * len(_FINAL_VALUES))})))")
LANE_BUSY_ARGS = (RequestState.DISPATCHING.value, RequestState.DISPATCHED.value, RequestState.RUNNING.value,
                  *_FINAL_VALUES)


def jobs_from_text(text: str | None) -> tuple[tuple[str, ...], ...]:
    """A request's job lines as stored (JSON); most requests have none yet."""
    return tuple(tuple(j) for j in json.loads(text)) if text and text != "[]" else ()


class RunOps:
    """Mixed into ``bot.store.store.Unit``; ``c`` is the transaction's connection."""

    c: Conn

    async def run_heads(self, run_ids: Iterable[int]) -> dict[int, RunHead]:
        """What the worker judges repeats against (``github_runs.unchanged``) for the requests bound to these runs,
        by run id: four columns, not the whole request (one statement per 500 ids). Issue 27 item 4: reading every
        claimed webhook's request whole (30 columns, a ``DeployRequest`` each) was ~10 % of the bot's CPU."""
        ids, out = sorted(set(run_ids)), {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for row in await self.c.fetch("SELECT run_id, state, attempt, run_url, jobs FROM requests WHERE run_id IN "
                                          f"({', '.join('?' * len(chunk))})", *chunk):
                out[int(row["run_id"])] = RunHead(state=RequestState(row["state"]), attempt=int(row["attempt"]),
                                                  run_url=row["run_url"], jobs=jobs_from_text(row["jobs"]))
        return out

    async def lane_turns(self, *, limit: int = 100) -> list[str]:
        """The ids of the requests ``Unit.claim_dispatch`` can claim now, oldest first: each DISPATCHING one whose
        lease has run out, and the oldest approved one of each lane that is not busy. The worker tries these before
        the rest of the queue: it read only the 100 oldest approved or dispatching requests, so 100 waiting in one
        lane hid every newer lane's turn (and a lapsed claim behind them, for ever); and busy lanes are left out, or
        100 of them would hide a free one the same way."""
        rows = await self.c.fetch(
            "SELECT id FROM requests r WHERE (r.state = ? AND r.lease_until < ?) OR (r.state = ? AND NOT EXISTS ("
            "SELECT 1 FROM requests o WHERE o.service = r.service AND o.environment = r.environment AND o.state = ? "
            "AND o.created_at < r.created_at) AND NOT EXISTS (SELECT 1 FROM requests q WHERE q.service = r.service "
            f"AND q.environment = r.environment AND q.id <> r.id AND {LANE_BUSY})) ORDER BY r.created_at LIMIT ?",
            RequestState.DISPATCHING.value, time.time(), RequestState.APPROVED.value, RequestState.APPROVED.value,
            *LANE_BUSY_ARGS, limit)
        return [str(row["id"]) for row in rows]

    async def renew_claim(self, request_id: str, *, lease_s: float) -> bool:
        """Extend this process's claim on a DISPATCHING request whose lease still holds, just before it dispatches:
        False when the lease ran out or another replica claimed it again meanwhile (the calls before the dispatch
        can take longer than a lease), and then it must not dispatch."""
        t = time.time()
        n = await self.c.execute(
            "UPDATE requests SET lease_until = ? WHERE id = ? AND state = ? AND lease_owner = ? AND lease_until >= ?",
            t + lease_s, request_id, RequestState.DISPATCHING.value, LEASE_OWNER, t)
        return n == 1

    async def lock_lane(self, service: str, environment: str) -> None:
        """Hold the (service, environment) lane until this transaction ends, so that what starts a run in it (a
        claim to dispatch, a re-run) takes turns across replicas: on PostgreSQL a transaction-scoped advisory lock
        (https://www.postgresql.org/docs/current/explicit-locking.html#ADVISORY-LOCKS), the next statement then
        sees the other's write (READ COMMITTED takes its snapshot per statement); SQLite has one writer at a time."""
        if self.c.dialect == "postgres":
            await self.c.fetch("SELECT pg_advisory_xact_lock(hashtext(?))", f"lane:{service}/{environment}")

    async def rerun_blocker(self, request_id: str) -> tuple[str, str] | None:
        """Why a failed request's run must not be re-run now, as (the other request's id, ``"newer"`` or ``"busy"``),
        holding its lane (``lock_lane``) for the rest of the transaction; None: it may.

        Newer: another request of its lane has started a run, or is being dispatched, "since" in either order the
        lane knows: made at or after it, or last changed at or after it failed. Requests do not run in the order they
        were made (one held for approval runs after a newer rollback that needed none), but a lane runs one at a
        time, so a run started after this one's ended changed its request after this one failed. Re-running the old
        run would deploy the older version over that one's. It fails closed: a run GitHub held at the protection rule
        and then rejected counts (an earlier attempt of it may have deployed), and so does a newer request that ran
        and ended before this one ran. Busy: an older request of its lane has a run unfinished or being started
        (``LANE_BUSY``), and the re-run would run beside it."""
        row = await self.c.fetchrow("SELECT service, environment, created_at, updated_at FROM requests WHERE id = ?",
                                    request_id)
        if row is None:
            return None
        await self.lock_lane(row["service"], row["environment"])
        newer = "((q.created_at >= ? OR q.updated_at >= ?) AND (q.run_id IS NOT NULL OR q.state IN (?, ?)))"
        newer_args = (row["created_at"], row["updated_at"], RequestState.SUCCEEDED.value,
                      RequestState.DISPATCHING.value)
        rows = await self.c.fetch(
            f"SELECT id, CASE WHEN {newer} THEN 'newer' ELSE 'busy' END AS why FROM requests q "
            f"WHERE q.service = ? AND q.environment = ? AND q.id <> ? AND ({newer} OR {LANE_BUSY}) "
            "ORDER BY why DESC, q.created_at DESC LIMIT 1",
            *newer_args, row["service"], row["environment"], request_id, *newer_args, *LANE_BUSY_ARGS)
        return (str(rows[0]["id"]), str(rows[0]["why"])) if rows else None
