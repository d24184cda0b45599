"""Shared plumbing for the loopback fakes: an aiohttp server on 127.0.0.1 and an ephemeral port,
started in the running event loop, plus a small fault-injection table."""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from aiohttp import web


@dataclass
class Fault:
    """Answer ``status`` instead of the real thing for the next ``remaining`` matching requests."""

    pattern: re.Pattern[str]
    status: int
    remaining: int
    retry_after: int | None = None

    def matches(self, key: str) -> bool:
        return self.remaining > 0 and self.pattern.search(key) is not None


class LoopbackServer:
    """Base class: subclasses fill ``self.app`` with routes in ``_routes``."""

    def __init__(self) -> None:
        self.app = web.Application(client_max_size=8 * 1024 * 1024)
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._faults: list[Fault] = []
        self._down = False
        self._routes(self.app)

    def _routes(self, app: web.Application) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def url(self) -> str:
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return f"http://127.0.0.1:{self._port}"

    async def start(self) -> Self:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # fault injection ---------------------------------------------------------------------------
    def _add_fault(self, pattern: str, status: int, times: int, retry_after: int | None) -> None:
        self._faults.append(Fault(re.compile(pattern), status, times, retry_after))

    def down(self) -> None:
        """Every request answers 500 until :meth:`up`."""
        self._down = True

    def up(self) -> None:
        self._down = False

    def clear_faults(self) -> None:
        self._faults.clear()
        self._down = False

    def _take_fault(self, key: str) -> Fault | None:
        if self._down:
            return Fault(re.compile(""), 500, 1)
        for fault in self._faults:
            if fault.matches(key):
                fault.remaining -= 1
                return fault
        return None
