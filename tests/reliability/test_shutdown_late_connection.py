"""A connection accepted just as SIGTERM closes the port (issue: test_handover_pg's /deploy unanswered for 10 s).

aiohttp's ``BaseRunner.cleanup()`` closes every connection once (``pre_shutdown``), right after the port closes. On
Python 3.11 a connection's task starts a loop turn after the connection is made (3.12+ starts it eagerly): a
connection accepted just before the port closed may not have started it yet, so ``close()`` has no waiter to cancel.
The request that then arrives is dropped (a closing connection reads nothing) and the task, once started, waits for
a request that never comes, until ``Server.shutdown`` gives up after the whole grace: the client (the fail-over
proxy) hears nothing for 10 s. Here that task is held until the connection was closed and its request sent, the
order a busy loop produces now and then."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest
from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from bot.runtime.shutdown import LIFECYCLE, Lifecycle, serve
from sandbox.process import free_port


async def test_a_request_a_closing_connection_dropped_is_not_held_for_the_grace(
        monkeypatch: pytest.MonkeyPatch) -> None:
    started = asyncio.Event()  # the connection's task is there, not run yet
    go = asyncio.Event()
    client: dict[str, asyncio.StreamWriter] = {}
    original_start = RequestHandler.start

    async def late_start(self: RequestHandler) -> None:
        started.set()
        await go.wait()
        await original_start(self)

    monkeypatch.setattr(RequestHandler, "start", late_start)

    async def make() -> web.Application:
        app = web.Application()
        app[LIFECYCLE] = Lifecycle()

        async def ok(_: web.Request) -> web.Response:
            return web.Response(text="ok")

        async def on_shutdown(_: web.Application) -> None:
            # pre_shutdown has closed the connection; its request arrives now, then its task starts
            client["w"].write(b"POST /x HTTP/1.1\r\nHost: bot\r\nContent-Length: 0\r\n\r\n")
            await client["w"].drain()
            await asyncio.sleep(0.05)
            go.set()
            await asyncio.sleep(0.05)

        app.router.add_post("/x", ok)
        app.on_shutdown.append(on_shutdown)
        return app

    port = free_port()
    serving = asyncio.create_task(serve(make, host="127.0.0.1", port=port, grace=5.0))
    for _ in range(200):
        try:
            reader, client["w"] = await asyncio.open_connection("127.0.0.1", port)
            break
        except OSError:
            await asyncio.sleep(0.02)
    await asyncio.wait_for(started.wait(), 5)
    os.kill(os.getpid(), signal.SIGTERM)  # serve's own handler (loop.add_signal_handler)
    sent = time.monotonic()
    answer = await asyncio.wait_for(reader.read(), 10)  # a response, or the connection closed: either is an answer
    heard_in = time.monotonic() - sent
    await asyncio.wait_for(serving, 10)
    client["w"].close()
    assert answer == b"" or answer.startswith(b"HTTP/1.1 ")
    assert heard_in < 1.0, f"the client heard nothing for {heard_in:.1f}s (the whole grace)"
