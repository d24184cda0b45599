"""The Store: domain operations over one Database. Every state change is an atomic conditional write.

Use ``async with store.unit() as u:`` to make several changes in one transaction (a state change and the
outbox messages it causes, for instance). Plain ``store.x(...)`` calls open their own transaction.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from bot.domain import Approval, AuditEntry, Deployment, DeployRequest, Lock, Platform, RequestKind, RequestState
from bot.store.db import Conn, Database, Row, open_database
from bot.store.inbox_batch import InboxBatcher
from bot.store.inbox_ops import InboxOps
from bot.store.leases import OWNER as LEASE_OWNER
from bot.store.outbox_ops import OutboxOps
from bot.store.run_ops import LANE_BUSY, LANE_BUSY_ARGS, RunOps, jobs_from_text


def ts(dt: datetime | None) -> float | None:
    return dt.timestamp() if dt is not None else None


def dt(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def now() -> datetime:
    return datetime.now(UTC)


_REQ_COLS = (
    "id, kind, service, environment, ref, requester, requester_platform, requester_id, channel, state, "
    "created_at, updated_at, workflow, approvals_required, expires_at, sha, target_version, run_id, run_url, "
    "response_url, detail, callback_url, jobs, attempt, requester_identities, queued_behind, cancel_requested_by, "
    "promoted_from, emergency, auto_deploy"
)


def _request(row: Row) -> DeployRequest:
    created = dt(row["created_at"])
    assert created is not None
    return DeployRequest(
        id=row["id"],
        kind=RequestKind(row["kind"]),
        service=row["service"],
        environment=row["environment"],
        ref=row["ref"],
        requester=row["requester"],
        requester_platform=Platform(row["requester_platform"]),
        requester_id=row["requester_id"],
        channel=row["channel"],
        state=RequestState(row["state"]),
        created_at=created,
        updated_at=dt(row["updated_at"]),
        workflow=row["workflow"],
        approvals_required=int(row["approvals_required"]),
        expires_at=dt(row["expires_at"]),
        sha=row["sha"],
        target_version=row["target_version"],
        run_id=int(row["run_id"]) if row["run_id"] is not None else None,
        run_url=row["run_url"],
        response_url=row["response_url"],
        detail=row["detail"],
        callback_url=row["callback_url"],
        jobs=jobs_from_text(row["jobs"]),
        attempt=int(row["attempt"]),
        requester_identities=tuple(str(row["requester_identities"] or "").split()),
        queued_behind=str(row["queued_behind"] or ""),
        cancel_requested_by=str(row["cancel_requested_by"] or ""),
        promoted_from=str(row["promoted_from"] or ""),
        emergency=str(row["emergency"] or ""),
        auto_deploy=str(row["auto_deploy"] or ""),
    )


_UPDATABLE = {"sha", "run_id", "run_url", "detail", "expires_at", "ref", "lease_until", "callback_url", "jobs",
              "attempt", "environment", "approvals_required", "queued_behind", "cancel_requested_by"}


# _BLOCKS: a request of the same lane whose run is unfinished (LANE_BUSY), or one approved earlier that waits
# itself. Parameters: _block_args(the claiming request's id).
_BLOCKS = f"({LANE_BUSY} OR (q.state = ? AND q.created_at < (SELECT created_at FROM requests WHERE id = ?)))"


def _block_args(request_id: str) -> tuple[Any, ...]:
    return (*LANE_BUSY_ARGS, RequestState.APPROVED.value, request_id)


def _value(v: Any) -> Any:
    if isinstance(v, datetime):
        return ts(v)
    if isinstance(v, tuple):
        return json.dumps(v)
    return v


class Unit(InboxOps, OutboxOps, RunOps):
    """Domain operations inside one transaction."""

    def __init__(self, conn: Conn) -> None:
        self.c = conn

    # ------------------------------------------------------------ idempotency
    async def claim_key(self, key: str) -> bool:
        """True the first time a key is seen, False for every repeat."""
        n = await self.c.execute(
            "INSERT INTO idempotency (key, at) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", key, time.time()
        )
        return n == 1

    # ------------------------------------------------------------ requests
    async def has_key(self, key: str) -> bool:
        """Whether ``claim_key(key)`` was done already."""
        return await self.c.fetchrow("SELECT key FROM idempotency WHERE key = ?", key) is not None

    async def insert_request(self, r: DeployRequest) -> None:
        await self.c.execute(
            f"INSERT INTO requests ({_REQ_COLS}) VALUES ({', '.join('?' * 30)})",
            r.id, r.kind.value, r.service, r.environment, r.ref, r.requester, r.requester_platform.value,
            r.requester_id, r.channel, r.state.value, ts(r.created_at), ts(r.updated_at or r.created_at),
            r.workflow, r.approvals_required, ts(r.expires_at), r.sha, r.target_version, r.run_id, r.run_url,
            r.response_url, r.detail, r.callback_url, json.dumps(r.jobs), r.attempt,
            " ".join(sorted(r.requester_identities)), r.queued_behind, r.cancel_requested_by, r.promoted_from,
            r.emergency, r.auto_deploy,
        )

    async def get_request(self, request_id: str, *, for_update: bool = False) -> DeployRequest | None:
        lock = " FOR UPDATE" if for_update and self.c.dialect == "postgres" else ""
        row = await self.c.fetchrow(f"SELECT {_REQ_COLS} FROM requests WHERE id = ?{lock}", request_id)
        return _request(row) if row else None

    async def request_by_run(self, run_id: int) -> DeployRequest | None:
        row = await self.c.fetchrow(f"SELECT {_REQ_COLS} FROM requests WHERE run_id = ?", run_id)
        return _request(row) if row else None

    async def transition(
        self,
        request_id: str,
        *,
        from_states: Iterable[RequestState],
        to: RequestState,
        **changes: Any,
    ) -> DeployRequest | None:
        """Move a request to ``to`` only if it is in one of ``from_states``. Returns the new row, or None."""
        unknown = set(changes) - _UPDATABLE
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}")
        states = [s.value for s in from_states]
        sets = ["state = ?", "updated_at = ?"] + [f"{k} = ?" for k in changes]
        values = [to.value, time.time()] + [_value(v) for v in changes.values()]
        # the new row from the UPDATE itself, not a SELECT after it; fetch, not fetchrow: the statement runs to its
        # end (RETURNING: SQLite >= 3.35, https://www.sqlite.org/lang_returning.html; PostgreSQL:
        # https://www.postgresql.org/docs/current/dml-returning.html). At most one row: id is the primary key
        rows = await self.c.fetch(
            f"UPDATE requests SET {', '.join(sets)} WHERE id = ? AND state IN ({', '.join('?' * len(states))}) "
            f"RETURNING {_REQ_COLS}", *values, request_id, *states,
        )
        return _request(rows[0]) if rows else None

    async def update_request(self, request_id: str, **changes: Any) -> None:
        unknown = set(changes) - _UPDATABLE
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}")
        sets = [f"{k} = ?" for k in changes]
        values = [_value(v) for v in changes.values()]
        await self.c.execute(f"UPDATE requests SET {', '.join(sets)} WHERE id = ?", *values, request_id)

    async def claim_dispatch(self, request_id: str, *, lease_s: float) -> DeployRequest | None:
        """APPROVED -> DISPATCHING, or re-claim a DISPATCHING request whose lease ran out; None when another worker
        has it or when its (service, environment) lane is busy (see ``lane_holder``). The lane check is part of the
        conditional write; on PostgreSQL a transaction-scoped advisory lock per lane also orders two replicas'
        claims (``lock_lane``), so the second one's statement sees the first one's claim.
        A DISPATCHING one holds its lane: an older one approved since does not block it (each would wait for ever)."""
        row = await self.c.fetchrow("SELECT service, environment FROM requests WHERE id = ?", request_id)
        if row is None:
            return None
        await self.lock_lane(row["service"], row["environment"])
        t = time.time()
        lane = "SELECT 1 FROM requests q WHERE q.service = ? AND q.environment = ? AND q.id <> ? AND "
        n = await self.c.execute(
            "UPDATE requests SET state = ?, lease_until = ?, lease_owner = ?, updated_at = ?, queued_behind = '' "
            f"WHERE id = ? AND ((state = ? AND NOT EXISTS ({lane}{_BLOCKS})) "
            f"OR (state = ? AND lease_until < ? AND NOT EXISTS ({lane}{LANE_BUSY})))",
            RequestState.DISPATCHING.value, t + lease_s, LEASE_OWNER, t, request_id,
            RequestState.APPROVED.value, row["service"], row["environment"], request_id, *_block_args(request_id),
            RequestState.DISPATCHING.value, t, row["service"], row["environment"], request_id, *LANE_BUSY_ARGS,
        )
        return await self.get_request(request_id) if n == 1 else None

    async def lane_holder(self, request_id: str) -> DeployRequest | None:
        """The request that keeps ``request_id`` from being dispatched: the oldest unfinished run of the same
        (service, environment) (dispatching, dispatched, running, or a run GitHub holds at its protection rule),
        else an older approved request of that pair (first come, first served). None: the lane is free."""
        row = await self.c.fetchrow("SELECT service, environment FROM requests WHERE id = ?", request_id)
        if row is None:
            return None
        rows = await self.c.fetch(
            f"SELECT {_REQ_COLS} FROM requests q WHERE q.service = ? AND q.environment = ? AND q.id <> ? AND "
            f"{_BLOCKS} ORDER BY CASE WHEN q.state = ? THEN 1 ELSE 0 END, q.created_at LIMIT 1",
            row["service"], row["environment"], request_id, *_block_args(request_id), RequestState.APPROVED.value,
        )
        return _request(rows[0]) if rows else None

    async def requests_in(self, states: Iterable[RequestState], *, limit: int = 100) -> list[DeployRequest]:
        vals = [s.value for s in states]
        rows = await self.c.fetch(
            f"SELECT {_REQ_COLS} FROM requests WHERE state IN ({', '.join('?' * len(vals))}) "
            "ORDER BY created_at LIMIT ?", *vals, limit,
        )
        return [_request(r) for r in rows]

    async def find_requests(
        self, *, service: str | None = None, states: Iterable[RequestState] | None = None, limit: int = 50
    ) -> list[DeployRequest]:
        where, args = [], []
        if service:
            where.append("service = ?")
            args.append(service)
        if states is not None:
            vals = [s.value for s in states]
            where.append(f"state IN ({', '.join('?' * len(vals))})")
            args.extend(vals)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = await self.c.fetch(
            f"SELECT {_REQ_COLS} FROM requests {clause} ORDER BY created_at DESC LIMIT ?", *args, limit
        )
        return [_request(r) for r in rows]

    async def open_request_lines(self, *, limit: int = 200) -> list[tuple[str, str, str, str]]:
        """(id, service, environment, state) of the newest ``limit`` unfinished requests: what ``/deploy status``
        shows, read from one covering index (migration 0014) without building whole requests (issue 27 item 3)."""
        vals = [s.value for s in RequestState if not s.final]
        rows = await self.c.fetch(
            f"SELECT id, service, environment, state FROM requests WHERE state IN ({', '.join('?' * len(vals))}) "
            "ORDER BY created_at DESC LIMIT ?", *vals, limit,
        )
        return [(r["id"], r["service"], r["environment"], r["state"]) for r in rows]

    # ------------------------------------------------------------ approvals
    async def add_approval(self, a: Approval) -> bool:
        """False if this person already decided on this request."""
        n = await self.c.execute(
            "INSERT INTO approvals (request_id, person, platform, platform_id, decision, comment, sha, at, "
            "identities) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (request_id, person) DO NOTHING",
            a.request_id, a.person, a.platform.value, a.platform_id, a.decision, a.comment, a.sha, ts(a.at),
            " ".join(sorted(a.identities)),
        )
        return n == 1

    async def approvals(self, request_id: str) -> list[Approval]:
        rows = await self.c.fetch(
            "SELECT request_id, person, platform, platform_id, decision, comment, sha, at, identities FROM approvals "
            "WHERE request_id = ? ORDER BY at", request_id,
        )
        return [
            Approval(r["request_id"], r["person"], Platform(r["platform"]), r["platform_id"], r["decision"],
                     r["comment"], dt(r["at"]) or now(), r["sha"], tuple(str(r["identities"] or "").split()))
            for r in rows
        ]

    # ------------------------------------------------------------ audit
    async def audit(self, e: AuditEntry) -> None:
        await self.c.execute(
            "INSERT INTO audit (at, actor, action, target, channel, result, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
            ts(e.at), e.actor, e.action, e.target, e.channel, e.result, e.detail,
        )

    async def audit_log(self, *, since: datetime | None = None, limit: int = 1000) -> list[AuditEntry]:
        rows = await self.c.fetch(
            "SELECT at, actor, action, target, channel, result, detail FROM audit WHERE at >= ? "
            "ORDER BY id LIMIT ?", ts(since) or 0.0, limit,
        )
        return [AuditEntry(dt(r["at"]) or now(), r["actor"], r["action"], r["target"], r["channel"],
                           r["result"], r["detail"]) for r in rows]

    # ------------------------------------------------------------ inbox (durable record of what arrived)
    async def inbox_add(self, *, source: str, key: str, kind: str, body: str) -> bool:
        """Record an inbound item once. False = a repeat of a key already recorded."""
        n = await self.c.execute(
            "INSERT INTO inbox (source, key, kind, body, received_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (key) DO NOTHING", source, key, kind, body, time.time(),
        )
        return n == 1

    async def prune(self, *, older_than_s: float, limit: int = 2000) -> tuple[int, bool]:
        """Delete delivered/processed bookkeeping older than the retention window: finished inbox items,
        sent or superseded outbox rows and old idempotency keys. Requests, approvals, audit and security
        events are kept (they are the record). At most ``limit`` rows per table: returns (rows deleted, more
        may be left), so a large backlog is removed in short transactions."""
        cutoff = time.time() - older_than_s
        counts = [
            await self.c.execute("DELETE FROM inbox WHERE id IN (SELECT id FROM inbox WHERE state <> 'pending' "
                                 "AND received_at < ? LIMIT ?)", cutoff, limit),
            await self.c.execute("DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE state IN "
                                 "('sent', 'superseded', 'failed') AND created_at < ? LIMIT ?)", cutoff, limit),
            await self.c.execute("DELETE FROM idempotency WHERE key IN (SELECT key FROM idempotency WHERE at < ? "
                                 "LIMIT ?)", cutoff, limit),
        ]
        return sum(counts), max(counts) >= limit

    async def prune_audit(self, *, older_than_s: float, limit: int = 2000) -> tuple[int, bool]:
        """Delete audit rows older than the audit retention (``CHATOPS_AUDIT_RETENTION_DAYS``), at most ``limit``
        per call: (rows deleted, more may be left)."""
        n = await self.c.execute("DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE at < ? ORDER BY at "
                                 "LIMIT ?)", time.time() - older_than_s, limit)
        return n, n >= limit

    async def inbox_counts(self) -> dict[str, int]:
        rows = await self.c.fetch("SELECT source || ':' || state AS k, COUNT(*) AS n FROM inbox GROUP BY source, state")
        return {r["k"]: int(r["n"]) for r in rows}

    # ------------------------------------------------------------ locks
    async def acquire_lock(self, lock: Lock) -> bool:
        """Take the environment lock; an expired lock is replaced. False if someone holds it."""
        await self.c.execute(
            "DELETE FROM locks WHERE environment = ? AND expires_at IS NOT NULL AND expires_at < ?",
            lock.environment, time.time(),
        )
        n = await self.c.execute(
            "INSERT INTO locks (environment, holder, reason, created_at, expires_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (environment) DO NOTHING",
            lock.environment, lock.holder, lock.reason, ts(lock.created_at), ts(lock.expires_at),
        )
        return n == 1

    async def release_lock(self, environment: str) -> bool:
        return await self.c.execute("DELETE FROM locks WHERE environment = ?", environment) == 1

    async def get_lock(self, environment: str) -> Lock | None:
        row = await self.c.fetchrow(
            "SELECT environment, holder, reason, created_at, expires_at FROM locks WHERE environment = ? "
            "AND (expires_at IS NULL OR expires_at >= ?)", environment, time.time(),
        )
        if not row:
            return None
        return Lock(row["environment"], row["holder"], row["reason"], dt(row["created_at"]) or now(),
                    dt(row["expires_at"]))

    # ------------------------------------------------------------ deployments
    async def record_deployment(self, d: Deployment) -> None:
        await self.c.execute(
            "INSERT INTO deployments (service, environment, version, sha, request_id, by_person, at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            d.service, d.environment, d.version, d.sha, d.request_id, d.by, ts(d.at),
        )

    async def latest_deployments(self) -> dict[tuple[str, str], Deployment]:
        """The last successful deployment of every (service, environment), in one query."""
        rows = await self.c.fetch(
            "SELECT d.service, d.environment, d.version, d.sha, d.request_id, d.by_person, d.at FROM deployments d "
            "JOIN (SELECT MAX(id) AS id FROM deployments GROUP BY service, environment) m ON d.id = m.id"
        )
        return {(r["service"], r["environment"]): Deployment(r["service"], r["environment"], r["version"], r["sha"],
                                                             r["request_id"], r["by_person"], dt(r["at"]) or now())
                for r in rows}

    async def active_locks(self) -> dict[str, Lock]:
        rows = await self.c.fetch(
            "SELECT environment, holder, reason, created_at, expires_at FROM locks "
            "WHERE expires_at IS NULL OR expires_at >= ?", time.time(),
        )
        return {r["environment"]: Lock(r["environment"], r["holder"], r["reason"], dt(r["created_at"]) or now(),
                                       dt(r["expires_at"])) for r in rows}

    async def deployments(self, service: str, environment: str, *, limit: int = 2) -> list[Deployment]:
        rows = await self.c.fetch(
            "SELECT service, environment, version, sha, request_id, by_person, at FROM deployments "
            "WHERE service = ? AND environment = ? ORDER BY id DESC LIMIT ?", service, environment, limit,
        )
        return [Deployment(r["service"], r["environment"], r["version"], r["sha"], r["request_id"],
                           r["by_person"], dt(r["at"]) or now()) for r in rows]


class Store:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._inbox = InboxBatcher(db)

    async def record_inbox(self, *, source: str, key: str, kind: str, body: str) -> bool:
        """Durably record an inbound item once (group-committed). False = its key was recorded before."""
        return await self._inbox.add(source=source, key=key, kind=kind, body=body)

    @classmethod
    async def open(cls, url: str) -> Store:
        return cls(await open_database(url))

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[Unit]:
        async with self.db.transaction() as conn:
            yield Unit(conn)

    async def ping(self) -> bool:
        try:
            async with self.db.transaction() as conn:
                await conn.fetchrow("SELECT 1 AS ok")
        except Exception:  # readiness probe: any failure means not ready
            return False
        return True

    async def close(self) -> None:
        await self.db.close()
