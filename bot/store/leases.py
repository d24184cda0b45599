"""Lease ownership: every claim stamps this process's id, so a replica that stops can hand back exactly
the work it still holds (and nothing another replica has claimed since), instead of leaving it until the
lease runs out."""

from __future__ import annotations

import os
import secrets
import socket

from bot.store.db import Conn

# One id per process: host, pid and a random part (a restarted container may reuse the pid).
OWNER = f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


async def release_owned(c: Conn, *, owner: str = OWNER) -> dict[str, int]:
    """Clear every lease ``owner`` still holds on unfinished work; returns the count per table.

    Conditional on the owner column: a row whose lease ran out and was claimed by another replica carries
    that replica's id and is left alone. A released DISPATCHING request keeps its state, so the next claimer
    looks for the run before dispatching again (no double dispatch)."""
    inbox = await c.execute(
        "UPDATE inbox SET lease_until = NULL, lease_owner = '' WHERE lease_owner = ? AND state = 'pending' "
        "AND lease_until IS NOT NULL", owner,
    )
    outbox = await c.execute(
        "UPDATE outbox SET lease_until = NULL, lease_owner = '' WHERE lease_owner = ? AND state = 'pending' "
        "AND lease_until IS NOT NULL", owner,
    )
    # claim_dispatch re-claims a DISPATCHING request when lease_until < now: 0 means "free now"
    requests = await c.execute(
        "UPDATE requests SET lease_until = 0, lease_owner = '' WHERE lease_owner = ? AND state = 'dispatching' "
        "AND lease_until IS NOT NULL", owner,
    )
    return {"inbox": inbox, "outbox": outbox, "requests": requests}
