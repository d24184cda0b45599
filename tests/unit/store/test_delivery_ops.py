"""Issue 16's store operations, against SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bot.previews import AHEAD, Changes, CommitLine
from bot.store import delivery_ops as ops
from bot.store.store import Store

T0 = datetime(2026, 3, 1, tzinfo=UTC)


async def test_changes_outcomes_slots_and_held_lines_round_trip(database_url: str) -> None:
    store = await Store.open(database_url)
    try:
        c = Changes("a" * 40, "b" * 40, AHEAD, total=7, behind=0,
                    commits=(CommitLine("c" * 40, "Fix <b> (#12)", "dev-gh", 12),), oldest_commit_at=T0,
                    checks="failing", failing=("lint",))
        async with store.unit() as u:
            await ops.save_changes(u, "r-1", c, at=T0)
            await ops.save_changes(u, "r-1", c, at=T0)  # a retry overwrites, never duplicates
            assert await ops.get_changes(u, "r-1") == c
            assert await ops.get_changes(u, "r-2") is None
            o = ops.Outcome("r-1", 1, "deploy", "api", "production", "success", T0, T0 + timedelta(hours=1), 60.0)
            assert await ops.add_outcome(u, o)
            assert not await ops.add_outcome(u, o), "a redelivered webhook records nothing more"
            got = await ops.outcomes(u, services=["api"], environment="production", since=T0,
                                     until=T0 + timedelta(days=1))
            assert got == [o]
            assert await ops.outcomes(u, services=["web"], environment="production", since=T0,
                                      until=T0 + timedelta(days=1)) == []
            await ops.hold(u, route="r0", platform="slack", address="C1", key="a", line="one", at=T0)
            await ops.hold(u, route="r0", platform="slack", address="C1", key="b", line="two", at=T0)
            await ops.hold(u, route="r0", platform="slack", address="C1", key="a", line="one", at=T0)  # once
            assert await ops.take_held(u, route="r0") == [("slack", "C1", "one"), ("slack", "C1", "two")]
            assert await ops.take_held(u, route="r0") == []

        async def claim() -> bool:
            async with store.unit() as u:
                return await ops.claim_slot(u, route="r0", slot="2026-W10", at=T0)

        assert sorted(await asyncio.gather(claim(), claim(), claim())) == [False, False, True]
    finally:
        await store.close()
