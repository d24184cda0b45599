"""Group commit for ingest (``Store.record_inbox``): every caller returns only after its own row is committed,
and the callers of a moment share one INSERT."""

from __future__ import annotations

import asyncio
import time

from bot.errors import StoreUnavailable
from bot.store.db import Database

GATHER_TURNS = 3  # loop turns a group commit waits for more items, while each turn brings some


class InboxBatcher:
    """Group commit for ingest: one writer task. Items that arrive while a write is in flight (PostgreSQL: one
    round trip) or in the turns before it (``_gather``; SQLite's write runs on the loop) share the next batch,
    written as ONE statement in its own transaction, then every caller's future is resolved. Each caller still
    returns only after its own row is committed."""

    def __init__(self, db: Database, *, max_batch: int = 256) -> None:
        self._db = db
        self._max = max_batch
        self._pending: list[tuple[dict[str, str], asyncio.Future[bool]]] = []
        self._task: asyncio.Task[None] | None = None

    async def add(self, **item: str) -> bool:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        batch: list[tuple[dict[str, str], asyncio.Future[bool]]] = []
        try:
            while self._pending:
                await self._gather()
                batch, self._pending = self._pending[: self._max], self._pending[self._max:]
                # one order for every writer (replicas included): concurrent batches cannot deadlock on the keys
                batch.sort(key=lambda entry: entry[0]["key"])
                try:
                    results = await self._write([item for item, _ in batch])
                except Exception:
                    # the batch failed: write one by one so one bad item cannot fail the others
                    results = []
                    for item, future in batch:
                        try:
                            results.extend(await self._write([item]))
                        except Exception as exc:
                            if not future.done():  # its caller may have given up (cancelled) meanwhile
                                future.set_exception(exc)
                            results.append(False)
                for (_, future), fresh in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(fresh)
                batch = []
        except BaseException as exc:
            # cancelled (shutdown) or broken: every caller still waiting hears it now, the batch in flight and the
            # items queued behind it alike (a later add() may never come to start another writer). Their rows'
            # outcome is unknown: StoreUnavailable, which ingress answers 503 (the sender retries; a row that was
            # written is then a duplicate), never an acknowledgement
            error = StoreUnavailable("cancelled" if isinstance(exc, asyncio.CancelledError) else
                                     f"the group commit stopped: {type(exc).__name__}")
            waiting, self._pending = batch + self._pending, []
            for _, future in waiting:
                if not future.done():
                    future.set_exception(error)
            raise

    async def _gather(self) -> None:
        """Let the loop run the requests that are ready, a turn at a time, while they keep adding items (at most
        ``GATHER_TURNS``). On SQLite the write holds the loop, so nothing arrives while it runs: without these
        turns a batch held the few requests of one turn (median 4 of wrk's 16 connections, ~170 us a statement
        whatever its size), with them it holds ~16 (issue 27 item 4; docs/benchmarks.md). An idle bot's item
        waits one turn."""
        for _ in range(GATHER_TURNS):
            n = len(self._pending)
            await asyncio.sleep(0)
            if len(self._pending) == n or len(self._pending) >= self._max:
                return

    async def _write(self, items: list[dict[str, str]]) -> list[bool]:
        """Insert the items in one statement; True for the first item of each key that was not there."""
        db = self._db
        t = time.time()
        if db.dialect == "postgres":
            cols = [[item[k] for item in items] for k in ("source", "key", "kind", "body")]
            rows = await db.statement(
                "INSERT INTO inbox (source, key, kind, body, received_at) SELECT s, k, n, b, ? FROM "
                "unnest(?::text[], ?::text[], ?::text[], ?::text[]) AS u(s, k, n, b) "
                "ON CONFLICT (key) DO NOTHING RETURNING key", t, *cols)
        else:
            args = [v for item in items for v in (item["source"], item["key"], item["kind"], item["body"], t)]
            rows = await db.statement(
                "INSERT INTO inbox (source, key, kind, body, received_at) VALUES "
                + ", ".join(["(?, ?, ?, ?, ?)"] * len(items))
                + " ON CONFLICT (key) DO NOTHING RETURNING key", *args)
        inserted = {r["key"] for r in rows}
        out = []
        for item in items:
            out.append(item["key"] in inserted)
            inserted.discard(item["key"])  # a repeat of the same key later in this batch is a duplicate
        return out
