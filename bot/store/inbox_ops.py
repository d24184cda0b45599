"""Claiming and finishing inbox items (``Unit.inbox_claim`` and its two steps, ``inbox_done``): mixed into
``bot.store.store.Unit``."""

from __future__ import annotations

import time

from bot.store.db import Conn, Row
from bot.store.leases import OWNER as LEASE_OWNER


class InboxOps:
    """Mixed into ``bot.store.store.Unit``; ``c`` is the transaction's connection."""

    c: Conn

    async def inbox_claim(self, *, source: str, limit: int, lease_s: float) -> list[Row]:
        rows = await self.inbox_claimable(source=source, limit=limit)
        await self.inbox_lease([r["id"] for r in rows], lease_s=lease_s)
        return rows

    async def inbox_claimable(self, *, source: str, limit: int) -> list[Row]:
        """The pending, unleased items of ``source``, oldest first, held by this transaction but not leased: the
        caller leases (``inbox_lease``) or finishes (``inbox_done_many``) each of them before it commits. Held:
        on PostgreSQL by ``FOR UPDATE SKIP LOCKED`` (another replica's claim skips them until this transaction
        ends: https://www.postgresql.org/docs/current/sql-select.html#SQL-FOR-UPDATE-SHARE); on SQLite by the
        write lock of the transaction's ``BEGIN IMMEDIATE`` (bot.store.sqlite: no other writer until COMMIT,
        https://www.sqlite.org/lang_transaction.html)."""
        lock = " FOR UPDATE SKIP LOCKED" if self.c.dialect == "postgres" else ""
        return await self.c.fetch(
            "SELECT id, key, kind, body, attempts FROM inbox WHERE source = ? AND state = 'pending' "
            f"AND (lease_until IS NULL OR lease_until < ?) ORDER BY id LIMIT ?{lock}", source, time.time(), limit,
        )

    async def inbox_lease(self, item_ids: list[int], *, lease_s: float) -> None:
        """Lease items this transaction read with ``inbox_claimable`` to this process for ``lease_s``."""
        if item_ids:
            await self.c.execute(f"UPDATE inbox SET lease_until = ?, lease_owner = ? WHERE id IN "
                                 f"({', '.join('?' * len(item_ids))})", time.time() + lease_s, LEASE_OWNER,
                                 *item_ids)

    async def inbox_done(self, item_id: int, *, state: str = "done", error: str = "") -> None:
        await self.c.execute(
            "UPDATE inbox SET state = ?, last_error = ?, lease_until = NULL, attempts = attempts + 1 "
            "WHERE id = ?", state, error[:500], item_id,
        )

    async def inbox_done_many(self, item_ids: list[int]) -> None:
        """Mark many items done in one statement."""
        for start in range(0, len(item_ids), 500):
            chunk = item_ids[start:start + 500]
            await self.c.execute(
                "UPDATE inbox SET state = 'done', lease_until = NULL, attempts = attempts + 1 "
                f"WHERE id IN ({', '.join('?' * len(chunk))})", *chunk,
            )
