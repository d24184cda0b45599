"""Helpers for the owned background loops."""

from __future__ import annotations

import asyncio


async def idle(wake: asyncio.Event, stop: asyncio.Event, *, seconds: float, clear: bool = True) -> None:
    """Sleep until ``wake`` or ``stop`` is set, or ``seconds`` pass; ``wake`` is cleared first unless ``clear`` is
    False (the caller cleared it before its pass: a wake during the pass is then not lost)."""
    if clear:
        wake.clear()
    waiters = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
