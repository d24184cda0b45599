"""A GitHub fake executor whose deploy step for each run ends only when the test says so (no timing involved)."""

from __future__ import annotations

import asyncio

from sandbox import github_payloads as gp


class Gate:
    """Set as ``GitHubFake.executor``: records each run it starts and holds it until ``finish(run_id)``."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self.release: dict[int, asyncio.Event] = {}

    async def __call__(self, run: gp.Run) -> str:
        self.started.append(run.id)
        await self.release.setdefault(run.id, asyncio.Event()).wait()
        return "success"

    def finish(self, run_id: int) -> None:
        self.release.setdefault(run_id, asyncio.Event()).set()
