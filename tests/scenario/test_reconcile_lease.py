"""Issue 24 item 6 (found by the soak): the reconciler's job lease follows its window. With a fixed 2-minute lease, a
SIGKILL of the replica that held it stopped reconciliation for 2 minutes whatever ``github.reconcile_after`` said, and
every deploy lane waiting on a dropped webhook waited with it. Now the lease lasts four pass periods (a pass every
fifth of the window, at most 30 s), at least 15 s: 2 minutes at the default 5-minute window, as before."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from sandbox.stack import Stack
from tests.reliability.helpers import rows
from tests.scenario.test_reconcile import config


async def lease_left(stack: Stack) -> float:
    found: list[float] = []

    async def held() -> bool:
        found[:] = [float(r["lease_until"]) for r in await rows(
            stack, "SELECT lease_until FROM job_leases WHERE name = ?", "reconcile")]
        return bool(found)

    deadline = time.monotonic() + 15
    while not await held():
        assert time.monotonic() < deadline, "no replica took the reconcile job"
        await asyncio.sleep(0.05)
    return found[0] - time.time()


async def test_a_short_window_gives_a_short_lease(tmp_path: Path) -> None:
    stack = Stack(database_url=f"sqlite:///{tmp_path}/bot.db", config_path=config(tmp_path, reconcile_after="5s"))
    async with stack:
        left = await lease_left(stack)
    assert 5 < left <= 15.5, left  # 15 s (4 x 1 s passes is less): another replica takes over 15 s after a crash


async def test_the_default_window_keeps_the_two_minute_lease(tmp_path: Path) -> None:
    stack = Stack(database_url=f"sqlite:///{tmp_path}/bot.db", config_path=config(tmp_path))
    async with stack:
        left = await lease_left(stack)
    assert 100 < left <= 120.5, left  # 4 x 30 s passes
