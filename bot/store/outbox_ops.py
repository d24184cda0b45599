"""Outbox and message-reference operations of a store Unit (one transaction)."""

from __future__ import annotations

import json
import time

from bot.domain import Card, Destination, Op, OutboundMessage, Platform
from bot.store.db import Conn, Row
from bot.store.leases import OWNER as LEASE_OWNER


class OutboxOps:
    """Mixed into ``bot.store.store.Unit``; ``c`` is the transaction's connection."""

    c: Conn

    # ------------------------------------------------------------ outbox
    async def enqueue(self, m: OutboundMessage, *, priority: int = 0) -> bool:
        """Add a message to the outbox; a repeated key is ignored. Returns True if added.
        ``priority`` > 0 (critical alerts) puts it in its channel's priority lane, delivered ahead of the rest."""
        t = time.time()
        n = await self.c.execute(
            "INSERT INTO outbox (key, platform, address, user_id, op, card_key, payload, next_at, created_at, "
            "priority) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
            m.key, m.destination.platform.value, m.destination.address, m.destination.user, m.op.value,
            m.card_key, json.dumps(m.card.to_dict(), separators=(",", ":")), t, t, priority,
        )
        return n == 1

    async def outbox_due(self, *, limit: int, lease_s: float) -> list[OutboundMessage]:
        """Claim, under a lease, the oldest pending message of each destination lane that is due.

        A lane is a channel (or a response_url), or one card's thread; a channel's priority messages (critical
        alerts) form a lane of their own, returned first, so they overtake whatever else the channel has queued.
        Only a lane's head is ever claimed, so a later message never overtakes an earlier one of its lane that
        waits for a retry or is leased by another worker, on any replica; and one busy channel cannot hide the
        others. The caller keeps each channel's rate limit across its lanes."""
        t = time.time()
        if self.c.dialect == "postgres":
            # one claimer at a time across replicas (claims take milliseconds); the others try next pass. Advisory
            # locks are database-wide: keyed by the schema too, so bots (or test runs) in other schemas of the same
            # database never make this claim come back empty (it did: tests/unit/store/test_contract.py, 2 workers)
            got = await self.c.fetchrow("SELECT pg_try_advisory_xact_lock(4243, hashtext(current_schema())) AS ok")
            if not got or not got["ok"]:
                return []
        # lanes: a channel's messages (per priority; a post without a card is one of them), and each card's
        # thread posts; both halves read the outbox_lanes index only (migration 0009)
        heads = await self.c.fetch(
            "SELECT o.id, o.key, o.platform, o.address, o.user_id, o.op, o.card_key, o.payload, o.attempts, "
            "o.next_at, o.lease_until FROM outbox o JOIN ("
            "SELECT MIN(id) AS id FROM outbox WHERE state = 'pending' AND (op <> 'post' OR card_key = '') "
            "GROUP BY platform, address, priority UNION ALL "
            "SELECT MIN(id) AS id FROM outbox WHERE state = 'pending' AND op = 'post' AND card_key <> '' "
            "GROUP BY platform, address, priority, card_key) h ON o.id = h.id ORDER BY o.priority DESC, o.id"
        )
        chosen: list[Row] = []
        for r in heads:
            if r["next_at"] > t or (r["lease_until"] is not None and r["lease_until"] >= t):
                continue
            if await self.c.execute(
                "UPDATE outbox SET lease_until = ?, lease_owner = ? WHERE id = ? AND state = 'pending' "
                "AND (lease_until IS NULL OR lease_until < ?)", t + lease_s, LEASE_OWNER, r["id"], t,
            ) == 1:
                chosen.append(r)
            if len(chosen) >= limit:
                break
        return [
            OutboundMessage(
                key=r["key"],
                destination=Destination(Platform(r["platform"]), r["address"], r["user_id"]),
                op=Op(r["op"]),
                card=Card.from_dict(json.loads(r["payload"])),
                card_key=r["card_key"],
                id=int(r["id"]),
                attempts=int(r["attempts"]),
            )
            for r in chosen
        ]

    async def supersede_older(self, m: OutboundMessage) -> int:
        """Drop every pending update of ``m``'s card older than the newest one (only the newest is sent)."""
        d = m.destination
        return await self.c.execute(
            "UPDATE outbox SET state = 'superseded', sent_at = ?, lease_until = NULL WHERE state = 'pending' "
            "AND platform = ? AND address = ? AND card_key = ? AND op = ? AND id < (SELECT MAX(id) FROM outbox "
            "WHERE state = 'pending' AND platform = ? AND address = ? AND card_key = ? AND op = ?)",
            time.time(), d.platform.value, d.address, m.card_key, m.op.value,
            d.platform.value, d.address, m.card_key, m.op.value,
        )

    async def outbox_done(self, message_id: int, *, supersede_card: bool) -> None:
        """Mark sent. For a card, older pending updates of the same card are superseded (never sent)."""
        t = time.time()
        row = await self.c.fetchrow("SELECT platform, address, card_key, op FROM outbox WHERE id = ?", message_id)
        await self.c.execute(
            "UPDATE outbox SET state = 'sent', sent_at = ?, lease_until = NULL WHERE id = ?", t, message_id
        )
        if row and supersede_card and row["card_key"]:
            await self.c.execute(
                "UPDATE outbox SET state = 'superseded', sent_at = ? WHERE state = 'pending' AND id < ? "
                "AND platform = ? AND address = ? AND card_key = ? AND op = ?",
                t, message_id, row["platform"], row["address"], row["card_key"], row["op"],
            )

    async def outbox_retry(self, message_id: int, *, delay_s: float, error: str, give_up: bool,
                           expire_before: float = 0.0) -> bool:
        """Count a failed attempt and retry in ``delay_s``; or give up (``give_up``, or the message was created
        before ``expire_before``). True when it was given up."""
        row = await self.c.fetchrow(
            "UPDATE outbox SET attempts = attempts + 1, next_at = ?, last_error = ?, lease_until = NULL, "
            "state = CASE WHEN ? OR created_at < ? THEN 'failed' ELSE 'pending' END WHERE id = ? RETURNING state",
            time.time() + delay_s, error[:500], give_up, expire_before, message_id,
        )
        return row is not None and row["state"] == "failed"

    async def outbox_backlog(self) -> tuple[int, float | None]:
        """Messages waiting to be delivered, and when the oldest of them was queued (None: none waits)."""
        row = await self.c.fetchrow("SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox "
                                    "WHERE state = 'pending'")
        if row is None:
            return 0, None
        return int(row["n"]), (float(row["oldest"]) if row["oldest"] is not None else None)

    async def outbox_release(self, message_id: int, *, delay_s: float) -> None:
        """Put a claimed message back without counting an attempt (rate limit, ordering)."""
        await self.c.execute(
            "UPDATE outbox SET lease_until = NULL, next_at = ? WHERE id = ?", time.time() + delay_s, message_id
        )

    async def newer_pending_card(self, m: OutboundMessage) -> bool:
        row = await self.c.fetchrow(
            "SELECT 1 AS x FROM outbox WHERE state = 'pending' AND id > ? AND platform = ? AND address = ? "
            "AND card_key = ? AND op = ?",
            m.id, m.destination.platform.value, m.destination.address, m.card_key, m.op.value,
        )
        return row is not None

    async def outbox_counts(self) -> dict[str, int]:
        rows = await self.c.fetch("SELECT state, COUNT(*) AS n FROM outbox GROUP BY state")
        return {r["state"]: int(r["n"]) for r in rows}

    # ------------------------------------------------------------ message refs
    async def message_ref(self, platform: Platform, address: str, card_key: str) -> str | None:
        row = await self.c.fetchrow(
            "SELECT ts FROM message_refs WHERE platform = ? AND address = ? AND card_key = ?",
            platform.value, address, card_key,
        )
        return str(row["ts"]) if row else None

    async def save_message_ref(self, platform: Platform, address: str, card_key: str, ref: str) -> None:
        await self.c.execute(
            "INSERT INTO message_refs (platform, address, card_key, ts) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (platform, address, card_key) DO UPDATE SET ts = excluded.ts",
            platform.value, address, card_key, ref,
        )

