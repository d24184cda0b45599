"""The thin database layer under the Store: one connection-like interface, two backends.

SQL is written once with ``?`` placeholders; the PostgreSQL backend rewrites them to ``$n``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from importlib import resources
from typing import Any, Protocol

import asyncpg

from bot.errors import StoreConflict, StoreError, StoreUnavailable
from bot.store.sqlite import Row as Row  # re-exported: the row type of both backends
from bot.store.sqlite import SqliteDatabase

log = logging.getLogger(__name__)

_DIALECT = {
    "sqlite": {"{serial}": "INTEGER PRIMARY KEY AUTOINCREMENT", "{bigint}": "INTEGER"},
    "postgres": {"{serial}": "BIGSERIAL PRIMARY KEY", "{bigint}": "BIGINT"},
}


class Conn(Protocol):
    """A connection inside one transaction."""

    dialect: str

    async def execute(self, sql: str, *args: Any) -> int: ...  # rows affected
    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...
    async def fetchrow(self, sql: str, *args: Any) -> Row | None: ...


class Database(Protocol):
    dialect: str

    def transaction(self) -> Any: ...  # async context manager yielding Conn
    async def statement(self, sql: str, *args: Any) -> list[Row]: ...  # one statement, its own transaction
    async def close(self) -> None: ...


def migrations() -> list[tuple[int, str]]:
    folder = resources.files("bot.store") / "migrations"
    out = []
    for entry in folder.iterdir():
        m = re.match(r"^(\d{4})_.*\.sql$", entry.name)
        if m:
            out.append((int(m.group(1)), entry.read_text(encoding="utf-8")))
    return sorted(out)


def _statements(sql: str, dialect: str) -> list[str]:
    for k, v in _DIALECT[dialect].items():
        sql = sql.replace(k, v)
    lines = [ln for ln in sql.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


async def migrate(db: Database) -> None:
    """Apply numbered migrations not applied yet, each in its own transaction (safe with several replicas)."""
    async with db.transaction() as conn:
        if db.dialect == "postgres":  # replicas starting together: one creates the table, the others wait
            await conn.execute("SELECT pg_advisory_xact_lock(4242)")
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT)"
        )
    for version, sql in migrations():
        async with db.transaction() as conn:
            if db.dialect == "postgres":
                await conn.execute("SELECT pg_advisory_xact_lock(4242)")
            if await conn.fetchrow("SELECT version FROM schema_migrations WHERE version = ?", version):
                continue
            for stmt in _statements(sql, db.dialect):
                await conn.execute(stmt)
            await conn.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (?, 'now')", version)
            log.info("applied migration %04d", version)


_PLACEHOLDER = re.compile(r"\?")


def _pg_sql(sql: str) -> str:
    n = 0

    def repl(_: re.Match[str]) -> str:
        nonlocal n
        n += 1
        return f"${n}"

    return _PLACEHOLDER.sub(repl, sql)


class _PgConn:
    dialect = "postgres"

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._c = conn

    async def execute(self, sql: str, *args: Any) -> int:
        with _conflicts():
            status: str = await self._c.execute(_pg_sql(sql), *args)
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        with _conflicts():
            return [dict(r) for r in await self._c.fetch(_pg_sql(sql), *args)]

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        with _conflicts():
            r = await self._c.fetchrow(_pg_sql(sql), *args)
        return dict(r) if r is not None else None


@contextmanager
def _conflicts() -> Iterator[None]:
    """The server rolled this statement's transaction (or savepoint) back because a concurrent one conflicted with
    it (a deadlock, a serialization failure): ``StoreConflict``, retried by the caller."""
    try:
        yield
    except (asyncpg.exceptions.DeadlockDetectedError, asyncpg.exceptions.SerializationError) as exc:
        raise StoreConflict(f"{type(exc).__name__}: a concurrent transaction conflicted; rolled back, to be "
                            "retried") from exc


# The connection is gone or cannot be made: refused, reset, killed (pg_terminate_backend: 57P01 admin_shutdown),
# the server shutting down or starting (57P03 cannot_connect_now), a timeout while connecting. Not the query's fault.
_LOST: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08 and asyncpg's ConnectionDoesNotExistError
    asyncpg.InterfaceError,  # "connection is closed" on the client side
    asyncpg.InternalClientError,  # seen on a killed connection: "cannot switch to state 15; another operation ..."
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
)
CONNECT_TIMEOUT_S = 5.0  # an unreachable server must not hold a request (or /readyz) for asyncpg's default 60 s


class PostgresDatabase:
    dialect = "postgres"

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, dsn: str, *, schema: str | None = None) -> PostgresDatabase:
        settings = {"search_path": schema} if schema else None
        try:
            pool = await asyncpg.create_pool(dsn, min_size=1, max_size=10, server_settings=settings,
                                             timeout=CONNECT_TIMEOUT_S)
        except (OSError, asyncpg.PostgresError) as exc:
            raise StoreError(f"cannot connect to PostgreSQL: {type(exc).__name__}") from exc
        return cls(pool)

    async def _lost(self, exc: BaseException) -> StoreUnavailable:
        """A connection was lost: the pool's other idle connections were very likely killed with it (a server
        restart, pg_terminate_backend of every session), so none is handed out again; the next acquire connects
        afresh. The bot reconnects without a restart."""
        await self._pool.expire_connections()
        log.warning("database connection lost: %s", type(exc).__name__)
        return StoreUnavailable(f"database unavailable: {type(exc).__name__}")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Conn]:
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                yield _PgConn(conn)
        except _LOST as exc:
            raise await self._lost(exc) from exc

    async def statement(self, sql: str, *args: Any) -> list[Row]:
        """Run one statement in its own (implicit) transaction and return its rows: one round trip."""
        try:
            async with self._pool.acquire() as conn:
                with _conflicts():
                    return [dict(r) for r in await conn.fetch(_pg_sql(sql), *args)]
        except _LOST as exc:
            raise await self._lost(exc) from exc

    async def close(self) -> None:
        await self._pool.close()


async def open_database(url: str) -> SqliteDatabase | PostgresDatabase:
    """``sqlite:///path`` (or empty) -> SQLite; ``postgresql://...`` -> PostgreSQL."""
    if not url or url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):] if url else "chatops.db"
        db: SqliteDatabase | PostgresDatabase = await SqliteDatabase.open(path or "chatops.db")
    elif url.startswith(("postgresql://", "postgres://")):
        db = await PostgresDatabase.open(url)
    else:
        raise StoreError("DATABASE_URL must start with sqlite:/// or postgresql://")
    try:
        await migrate(db)
    except Exception as exc:
        await db.close()
        raise StoreError(f"cannot apply migrations: {type(exc).__name__}") from exc
    return db

