"""``chatops-bot audit``: print the audit log of the bot's existing database, never a new empty one.

``serve`` creates its database and applies the migrations; ``audit`` only reads. So it refuses, with one line
and exit status 1: a missing ``DATABASE_URL`` (it would otherwise read a fresh ``chatops.db`` in the current
directory and print nothing, as if nothing had happened), a SQLite path with no file, a file or a PostgreSQL
database that is not the bot's (no ``schema_migrations`` row for the audit table), and a server it cannot reach.
Messages name the SQLite path but never a PostgreSQL URL (it may carry a password).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from bot.domain import AuditEntry
from bot.errors import ChatOpsError, StoreError
from bot.store.db import PostgresDatabase
from bot.store.sqlite import SqliteDatabase
from bot.store.store import Store

AUDIT_MIGRATION = 1  # bot/store/migrations/0001_core.sql creates the audit table


class AuditUnavailable(ChatOpsError):
    """The audit log cannot be read from what DATABASE_URL names; the message says why."""


async def _open(url: str) -> Store:
    if not url:
        raise AuditUnavailable("DATABASE_URL is not set: set it to the bot's database (sqlite:///path/to/chatops.db "
                               "or postgresql://...), the one `serve` uses")
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        if not path or path == ":memory:" or not await asyncio.to_thread(Path(path).is_file):
            raise AuditUnavailable(f"DATABASE_URL: no SQLite database at {path or '(empty path)'!r}; nothing was "
                                   "created (point it at the file the bot writes)")
        db: SqliteDatabase | PostgresDatabase = await SqliteDatabase.open(path)
    elif url.startswith(("postgresql://", "postgres://")):
        try:
            db = await PostgresDatabase.open(url)
        except StoreError as exc:
            raise AuditUnavailable(f"DATABASE_URL: {exc} (check host, port, database name and credentials)") from exc
    else:
        raise AuditUnavailable("DATABASE_URL must start with sqlite:/// or postgresql://")
    return Store(db)


async def read_audit(env: Mapping[str, str], *, since: datetime | None) -> list[AuditEntry]:
    """Every audit entry since ``since`` from the database ``env['DATABASE_URL']`` names (see the module doc)."""
    store = await _open(env.get("DATABASE_URL", ""))
    try:
        try:
            async with store.unit() as u:
                row = await u.c.fetchrow("SELECT version FROM schema_migrations WHERE version = ?", AUDIT_MIGRATION)
        except Exception as exc:  # no such table, or not a database at all: translated into one line
            raise AuditUnavailable("DATABASE_URL names a database without the bot's tables (no schema_migrations): "
                                   "not the bot's database, or the bot never started on it") from exc
        if row is None:
            raise AuditUnavailable("DATABASE_URL names a database where the bot's audit table was never created")
        async with store.unit() as u:
            return await u.audit_log(since=since, limit=100000)
    finally:
        await store.close()
