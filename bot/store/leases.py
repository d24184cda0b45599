"""Lease ownership: every claim stamps this process's id, so a replica that stops can hand back exactly
the work it still holds (and nothing another replica has claimed since), instead of leaving it until the
lease runs out."""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Collection

from bot.store.db import Conn

# One id per process: host, pid and a random part (a restarted container may reuse the pid).
OWNER = f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


async def release_owned(c: Conn, *, owner: str = OWNER, keep_outbox: Collection[int] = ()) -> dict[str, int]:
    """Clear every lease ``owner`` still holds on unfinished work; returns the count per table. The outbox rows in
    ``keep_outbox`` (sends begun whose outcome was not recorded: the chat may have them) keep their lease.

    Conditional on the owner column: a row whose lease ran out and was claimed by another replica carries
    that replica's id and is left alone. A released DISPATCHING request keeps its state, so the next claimer
    looks for the run before dispatching again (no double dispatch)."""
    inbox = await c.execute(
        "UPDATE inbox SET lease_until = NULL, lease_owner = '' WHERE lease_owner = ? AND state = 'pending' "
        "AND lease_until IS NOT NULL", owner,
    )
    keep = sorted(keep_outbox)
    outbox = await c.execute(
        "UPDATE outbox SET lease_until = NULL, lease_owner = '' WHERE lease_owner = ? AND state = 'pending' "
        "AND lease_until IS NOT NULL" + (f" AND id NOT IN ({', '.join('?' * len(keep))})" if keep else ""),
        owner, *keep,
    )
    # claim_dispatch re-claims a DISPATCHING request when lease_until < now: 0 means "free now"
    requests = await c.execute(
        "UPDATE requests SET lease_until = 0, lease_owner = '' WHERE lease_owner = ? AND state = 'dispatching' "
        "AND lease_until IS NOT NULL", owner,
    )
    jobs = await c.execute("UPDATE job_leases SET lease_until = 0 WHERE owner = ? AND lease_until > 0", owner)
    return {"inbox": inbox, "outbox": outbox, "requests": requests, "jobs": jobs}


async def take_job(c: Conn, name: str, *, lease_s: float, owner: str = OWNER) -> bool:
    """Hold the periodic job ``name`` for ``lease_s`` seconds: True when it was free, ran out, or is ours
    already (renewed). One conditional upsert, so two replicas cannot both hold it."""
    t = time.time()
    return await c.execute(
        "INSERT INTO job_leases (name, owner, lease_until) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE "
        "SET owner = excluded.owner, lease_until = excluded.lease_until "
        "WHERE job_leases.lease_until < ? OR job_leases.owner = excluded.owner", name, owner, t + lease_s, t,
    ) == 1


async def job_mark(c: Conn, name: str) -> str:
    """The job's durable progress marker ("" when none yet)."""
    row = await c.fetchrow("SELECT mark FROM job_leases WHERE name = ?", name)
    return str(row["mark"]) if row else ""


async def set_job_mark(c: Conn, name: str, mark: str, *, owner: str = OWNER) -> bool:
    """Record progress, only while ``owner`` still holds the job."""
    return await c.execute("UPDATE job_leases SET mark = ? WHERE name = ? AND owner = ?", mark, name, owner) == 1
