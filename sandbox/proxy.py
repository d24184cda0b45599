"""Loopback stand-in for a load balancer in front of several bot replicas (hand-over and soak tests)."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web


class FailoverProxy:
    """Stands in for the load balancer: round-robin over the replicas, and a request a replica refused or
    dropped (stopping) goes to the next one."""

    def __init__(self, targets: list[str]) -> None:
        self.targets = targets
        self.turn = 0
        self.failovers = 0
        self.errors: list[str] = []  # why each fail-over happened
        self.runner: web.AppRunner | None = None
        self.session: aiohttp.ClientSession | None = None
        self.url = ""

    async def start(self) -> None:
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20))
        app = web.Application()
        app.router.add_post("/{path:.*}", self.forward)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"

    async def forward(self, request: web.Request) -> web.Response:
        assert self.session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower().startswith("x-") or k.lower() in
                   ("content-type", "user-agent")}
        self.turn += 1
        first = self.turn  # this request's own rotation (other requests move self.turn meanwhile)
        for n in range(len(self.targets) * 2):
            target = self.targets[(first + n) % len(self.targets)]
            try:
                async with self.session.post(f"{target}/{request.match_info['path']}", data=body,
                                             headers=headers) as resp:
                    if resp.status != 503:
                        return web.Response(status=resp.status, body=await resp.read(),
                                            content_type=resp.content_type)
            except (aiohttp.ClientConnectionError, TimeoutError) as exc:
                self.errors.append(f"{target}: {type(exc).__name__}")
            else:
                self.errors.append(f"{target}: 503")
            self.failovers += 1
            await asyncio.sleep(0.05)
        return web.Response(status=502, text="no replica answered")

    async def stop(self) -> None:
        if self.session is not None:
            await self.session.close()
        if self.runner is not None:
            await self.runner.cleanup()
