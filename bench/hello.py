"""The ceiling: a bare aiohttp hello-world (reads the body, answers a small JSON) in its own process."""

from __future__ import annotations

import sys

from aiohttp import web


async def _hello(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"ok": True})


async def _ready(_: web.Request) -> web.Response:
    return web.Response(text="ok")


def main(port: int) -> None:
    app = web.Application(client_max_size=5 * 1024 * 1024)
    app.router.add_post("/hello", _hello)
    app.router.add_get("/readyz", _ready)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main(int(sys.argv[1]))
