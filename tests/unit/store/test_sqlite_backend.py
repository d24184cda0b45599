"""The SQLite backend runs statements on the loop's thread (bot/store/sqlite.py). What could block for long
must not block the loop: another process holding the write lock is waited for with the loop running, and
fails as a StoreError after the deadline; checkpoints run from a second connection in a thread."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.errors import StoreError, StoreUnavailable
from bot.store.sqlite import SqliteDatabase
from bot.store.store import Store

HOLD = """
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN IMMEDIATE")
c.execute("INSERT INTO audit (at, actor, action, target, channel, result, detail) "
          "VALUES (0, 'other-process', 'hold', '', '', 'ok', '')")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
c.execute("COMMIT")
"""


async def _hold_write_lock(path: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process takes the database's write lock for ``seconds`` (and writes a row under it)."""
    proc = subprocess.Popen(  # noqa: ASYNC220 - started once; its output is read off the loop
        [sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = await asyncio.to_thread(proc.stdout.readline)
    assert line.strip() == "locked"
    return proc


async def _ticks_while(coro: object) -> tuple[object, int]:
    """Run ``coro`` and count how often a 10 ms ticker ran meanwhile (0 = the loop was blocked)."""
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        result = await coro  # type: ignore[misc]
    finally:
        done.set()
        await task
    return result, ticks


async def test_a_lock_held_by_another_process_is_waited_for_without_blocking_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    store = await Store.open(f"sqlite:///{path}")
    try:
        proc = await _hold_write_lock(path, 0.6)

        async def write() -> list[str]:
            async with store.unit() as u:
                await u.c.execute("INSERT INTO audit (at, actor, action, target, channel, result, detail) "
                                  "VALUES (1, 'bot', 'after', '', '', 'ok', '')")
                return [r["actor"] for r in await u.c.fetch("SELECT actor FROM audit ORDER BY at")]

        started = time.monotonic()
        actors, ticks = await _ticks_while(write())
        waited = time.monotonic() - started
        assert actors == ["other-process", "bot"]  # it ran after the other process committed, and saw its row
        assert waited >= 0.3
        assert ticks >= 10, "the loop must keep running while the lock is held elsewhere"
        assert (await asyncio.to_thread(proc.wait)) == 0
        # the ingest path (one statement, autocommit) waits the same way
        proc = await _hold_write_lock(path, 0.4)
        fresh, ticks = await _ticks_while(store.record_inbox(source="github", key="gh:1", kind="push", body="{}"))
        assert fresh is True and ticks >= 5
        await asyncio.to_thread(proc.wait)
    finally:
        await store.close()


async def test_a_lock_held_past_the_deadline_is_a_store_error(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "bot.db"
    store = await Store.open(f"sqlite:///{path}")
    monkeypatch.setattr("bot.store.sqlite.BUSY_TIMEOUT_S", 0.2)  # the deadline, not behaviour, is shortened
    try:
        proc = await _hold_write_lock(path, 1.5)
        with pytest.raises(StoreError, match="cannot start a transaction"):
            async with store.unit() as u:
                await u.c.execute("SELECT 1")
        with pytest.raises(StoreError):
            await store.record_inbox(source="github", key="gh:2", kind="push", body="{}")
        await asyncio.to_thread(proc.wait)
        assert await store.record_inbox(source="github", key="gh:2", kind="push", body="{}") is True
    finally:
        await store.close()


async def test_checkpoints_move_the_wal_into_the_database_file(tmp_path: Path) -> None:
    """Automatic checkpoints are off on the loop's connection; the side connection does them, and close leaves
    an empty WAL behind."""
    path = tmp_path / "bot.db"
    db = await SqliteDatabase.open(str(path))
    try:
        async with db.transaction() as c:
            await c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)")
        size_before = path.stat().st_size
        for i in range(20):
            await db.statement("INSERT INTO t (body) VALUES (?)", "x" * 20_000 + str(i))
        deadline = time.monotonic() + 5
        while path.stat().st_size <= size_before + 200_000 and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        assert path.stat().st_size > size_before + 200_000, "the rows reached the database file"
        assert (await db.statement("SELECT COUNT(*) AS n FROM t"))[0]["n"] == 20
    finally:
        await db.close()
    wal = path.with_name(path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0


async def test_the_group_commit_takes_the_items_of_the_next_loop_turns_in_one_statement(tmp_path: Path) -> None:
    """On SQLite the group commit's write holds the loop: it first lets the loop run while each turn brings more
    items (requests whose bodies arrived meanwhile), so they share one INSERT: ~16 rows a statement at wrk's 16
    connections instead of ~4 (issue 27 item 4). Each caller still hears its own row's answer."""
    store = await Store.open(f"sqlite:///{tmp_path / 'bot.db'}")
    inserts: list[str] = []
    store.db._conn.set_trace_callback(  # type: ignore[attr-defined]  # observes the statements SQLite runs
        lambda sql: inserts.append(sql) if sql.startswith("INSERT INTO inbox") else None)
    try:
        async def after(turns: int, key: str) -> bool:
            for _ in range(turns):
                await asyncio.sleep(0)
            return await store.record_inbox(source="github", key=key, kind="push", body="{}")

        fresh = await asyncio.gather(after(0, "gh:a"), after(1, "gh:b"), after(2, "gh:c"), after(2, "gh:a"),
                                     after(3, "gh:d"))
        assert fresh == [True, True, True, False, True]  # gh:a's second delivery is a duplicate
        assert len(inserts) == 1, inserts
        # an item alone is written after one quiet turn: nothing waits for a batch that does not come
        assert await after(0, "gh:e") is True
        assert len(inserts) == 2
    finally:
        await store.close()


async def test_a_group_commit_cancelled_while_it_gathers_fails_its_callers_and_writes_nothing(tmp_path: Path) -> None:
    """Cancelled (shutdown) during the turns it waits for more items: every caller hears StoreUnavailable at once
    (ingress answers 503), none is left waiting, and nothing was written."""
    store = await Store.open(f"sqlite:///{tmp_path / 'bot.db'}")
    try:
        first = asyncio.ensure_future(store.record_inbox(source="github", key="gh:x", kind="push", body="{}"))
        await asyncio.sleep(0)  # the caller has queued its item and made the writer task
        await asyncio.sleep(0)  # the writer runs: it is in its turns, waiting for more
        writer = store._inbox._task
        assert writer is not None and not writer.done()
        writer.cancel()
        with pytest.raises(StoreUnavailable):
            await asyncio.wait_for(first, 1)
        async with store.unit() as u:
            assert (await u.c.fetchrow("SELECT COUNT(*) AS n FROM inbox"))["n"] == 0  # type: ignore[index]
        assert await store.record_inbox(source="github", key="gh:x", kind="push", body="{}") is True  # not lost
    finally:
        await store.close()
