from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web


@dataclass
class Receiver:
    """A loopback aiohttp app that records what was POSTed to it."""

    url: str = ""
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    status: int = 202

    def events(self) -> list[tuple[str, dict[str, Any]]]:
        return [(h["X-GitHub-Event"], json.loads(b)) for h, b in self.received]

    def signature_ok(self, secret: str) -> bool:
        return all(
            hmac.compare_digest(
                h.get("X-Hub-Signature-256", ""),
                "sha256=" + hmac.new(secret.encode(), b, hashlib.sha256).hexdigest(),
            )
            for h, b in self.received
        )


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()

    async def handle(request: web.Request) -> web.Response:
        rec.received.append((dict(request.headers), await request.read()))
        return web.Response(status=rec.status)

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    rec.url = f"http://127.0.0.1:{port}/hook"
    yield rec
    await runner.cleanup()
