"""The SQLite backend: one connection used on the event loop's own thread, WAL checkpoints off it.

Why not a thread per connection (aiosqlite): a statement here takes microseconds (WAL, ``synchronous=NORMAL``:
a commit appends to the WAL without an fsync), while a hop to a worker thread and back costs a full turn of a
busy event loop, and a transaction of ten statements holds the connection for ten turns. Under ingest load
that made every group commit wait behind the workers' transactions (docs/benchmarks.md, "SQLite on the
loop"). What could block for long is kept off the loop:

- **Another process holding the write lock** (a second bot on the same file, a CLI command): the connection
  never waits inside SQLite (``busy_timeout=0``); a busy ``BEGIN IMMEDIATE`` or statement is retried from
  the loop with ``asyncio.sleep`` until ``BUSY_TIMEOUT_S``, then fails like any store error.
- **Checkpoints** (copying the WAL into the database file, with fsyncs): automatic checkpoints are off on
  the loop's connection; a second connection checkpoints (PASSIVE: never blocks the writer) in a thread,
  at most every ``CHECKPOINT_INTERVAL_S`` after commits, and once more (TRUNCATE) at close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from bot.errors import StoreError

log = logging.getLogger(__name__)
Row = dict[str, Any]  # one row, by column name (both backends; bot.store.db re-exports it)
T = TypeVar("T")

BUSY_TIMEOUT_S = 30.0
CHECKPOINT_INTERVAL_S = 1.0


def _busy(exc: sqlite3.Error) -> bool:
    """Another connection holds the lock (waiting can clear it; SQLITE_LOCKED, a conflict inside this
    connection, cannot)."""
    return isinstance(exc, sqlite3.OperationalError) and getattr(exc, "sqlite_errorcode", 0) & 0xFF == \
        sqlite3.SQLITE_BUSY


async def _retry_busy(call: Callable[[], T]) -> T:
    """``call()`` now; while another process holds the lock, again after a short sleep (the loop keeps going)."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    pause = 0.002
    while True:
        try:
            return call()
        except sqlite3.Error as exc:
            if not _busy(exc) or time.monotonic() >= deadline:
                raise
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.05)


class _SqliteConn:
    """A connection inside one transaction. The methods are coroutines for the ``Conn`` protocol; they do not
    suspend (nothing else can use the connection meanwhile: the transaction holds the lock)."""

    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn

    async def execute(self, sql: str, *args: Any) -> int:
        return self._c.execute(sql, args).rowcount

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return [dict(r) for r in self._c.execute(sql, args).fetchall()]

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        row = self._c.execute(sql, args).fetchone()
        return dict(row) if row is not None else None


class SqliteDatabase:
    """One connection, transactions serialized in-process; BEGIN IMMEDIATE serializes across processes."""

    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection, *, path: str) -> None:
        self._conn = conn
        self._path = path
        self._lock = asyncio.Lock()
        self._dirty = False  # commits since the last checkpoint
        self._checkpointer: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()

    @classmethod
    async def open(cls, path: str) -> SqliteDatabase:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            # timeout=0: never wait inside SQLite (_retry_busy waits on the loop); the group commit writes one
            # statement text per batch size: room for them and everything else in the statement cache
            conn = sqlite3.connect(path, isolation_level=None, timeout=0, cached_statements=1024)
            conn.row_factory = sqlite3.Row
            mode = (await _retry_busy(lambda: conn.execute("PRAGMA journal_mode=WAL").fetchone()))[0]
            if mode != ("memory" if path == ":memory:" else "wal"):  # e.g. a network filesystem: no shared memory
                conn.close()
                raise StoreError(f"SQLite could not use WAL on {path} (journal mode {mode}): keep the database on "
                                 "a local disk, or use PostgreSQL (DATABASE_URL=postgresql://...)")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA wal_autocheckpoint=0")  # checkpoints run in a thread (_checkpoint_loop)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the SQLite database: {exc}") from exc
        return cls(conn, path=path)

    def _committed(self) -> None:
        self._dirty = True
        if self._path != ":memory:" and not self._closing.is_set() and (
                self._checkpointer is None or self._checkpointer.done()):
            self._checkpointer = asyncio.create_task(self._checkpoint_loop(), name="sqlite-checkpoint")

    async def _checkpoint_loop(self) -> None:
        """Checkpoint from a second connection in a thread while commits keep coming; stop when they stop."""
        while self._dirty and not self._closing.is_set():
            self._dirty = False
            await asyncio.to_thread(_checkpoint, self._path)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), CHECKPOINT_INTERVAL_S)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_SqliteConn]:
        # statements do not suspend: a loop of transactions (a worker's batch) would hold the event loop until
        # its end; each transaction starts with one turn of the loop, so requests interleave with such a loop
        # (before the lock and the BEGIN: a cancellation here has done nothing)
        await asyncio.sleep(0)
        async with self._lock:
            try:
                await _retry_busy(lambda: self._conn.execute("BEGIN IMMEDIATE"))
            except sqlite3.Error as exc:
                raise StoreError(f"cannot start a transaction: {exc}") from exc
            try:
                yield _SqliteConn(self._conn)
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            else:
                try:
                    await _retry_busy(lambda: self._conn.execute("COMMIT"))
                except BaseException:
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                    raise
                self._committed()

    async def statement(self, sql: str, *args: Any) -> list[Row]:
        """Run one statement in its own (implicit) transaction and return its rows, committed before it
        returns (autocommit: the statement is the transaction)."""
        async with self._lock:
            try:
                rows = await _retry_busy(lambda: self._conn.execute(sql, args).fetchall())
            except sqlite3.Error as exc:
                raise StoreError(f"statement failed: {type(exc).__name__}: {exc}") from exc
            self._committed()
        return [dict(r) for r in rows]

    async def close(self) -> None:
        self._closing.set()
        if self._checkpointer is not None:
            with contextlib.suppress(Exception):
                await self._checkpointer  # at most the checkpoint under way
        async with self._lock:  # after the transaction under way, if any
            if self._path != ":memory:":  # leave an empty WAL behind (in a thread: it copies and syncs)
                await asyncio.to_thread(_checkpoint, self._path, "TRUNCATE")
            self._conn.close()


def _checkpoint(path: str, mode: str = "PASSIVE") -> None:
    """One checkpoint from its own short-lived connection, all in the calling (worker) thread. PASSIVE never
    waits for the writer or readers; a failure is logged and the next round tries again."""
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=0)
        try:
            busy, frames, moved = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        log.warning("sqlite wal checkpoint (%s) failed: %s", mode.lower(), exc)
        return
    log.debug("wal checkpoint: busy=%s frames=%s moved=%s", busy, frames, moved)
