"""The group commit (bot/store/inbox_batch.py): no caller is left waiting, whatever stops the writer. Found by review
(issue 27); both failed on the code before the fix."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.errors import StoreUnavailable
from bot.store.store import Store


async def test_cancelled_while_writing_every_waiting_caller_hears_it(tmp_path: Path) -> None:
    """The writer is cancelled while its statement waits for the SQLite lock (a transaction holds it across an
    await): the batch hears StoreUnavailable (ingress: 503, the sender retries), and the item queued meanwhile
    hears it too (it was left with no writer task: its caller waited forever)."""
    store = await Store.open(f"sqlite:///{tmp_path / 'bot.db'}")
    entered, release = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with store.unit():  # a transaction held across an await (a writer waits behind it meanwhile)
            entered.set()
            await release.wait()

    h = asyncio.create_task(holder())
    try:
        await entered.wait()
        a = asyncio.ensure_future(store.record_inbox(source="github", key="gh:a", kind="push", body="{}"))
        for _ in range(6):
            await asyncio.sleep(0)  # the writer gathers, then its statement waits for the lock
        b = asyncio.ensure_future(store.record_inbox(source="github", key="gh:b", kind="push", body="{}"))
        await asyncio.sleep(0)  # b is queued behind the batch in flight
        writer = store._inbox._task
        assert writer is not None and not writer.done()
        writer.cancel()
        with pytest.raises(StoreUnavailable):
            await asyncio.wait_for(a, 1)
        release.set()
        await h
        with pytest.raises(StoreUnavailable):  # was: TimeoutError, b neither written nor failed
            await asyncio.wait_for(b, 1)
    finally:
        release.set()
        await store.close()


async def test_a_caller_cancelled_while_waiting_does_not_strand_the_rest_of_its_batch(tmp_path: Path) -> None:
    """A caller gives up (cancelled) during the gather turns; the batch statement then fails and the one-by-one
    retry fails its item too: ``future.set_exception`` on the cancelled future raises InvalidStateError out of
    ``_flush``, the writer died, and the other callers of the batch were never answered."""
    store = await Store.open(f"sqlite:///{tmp_path / 'bot.db'}")
    try:
        bad = asyncio.ensure_future(store.record_inbox(source="github", key="gh:a", kind="push", body="\ud800"))
        good = asyncio.ensure_future(store.record_inbox(source="github", key="gh:b", kind="push", body="{}"))
        await asyncio.sleep(0)  # both queued, the writer task made
        bad.cancel()  # e.g. the request handler is cancelled while it waits for its row
        with pytest.raises(asyncio.CancelledError):
            await bad
        assert await asyncio.wait_for(good, 1) is True  # was: TimeoutError (the writer died)
    finally:
        await store.close()
