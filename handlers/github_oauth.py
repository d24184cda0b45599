"""``GET /github/oauth/callback``: GitHub sends the user back here after they authorized the App. The page shows
who signed in and a one-time code; the link is made only when the chat account that asked sends the code back
(bot.identity_commands). Every answer is a small HTML page (no stack trace, nothing echoed raw)."""

from __future__ import annotations

import html

from aiohttp import web

from bot.identity_commands import IdentityCommands

CALLBACK_PATH = "/github/oauth/callback"


def _page(status: int, message: str, code: str = "") -> web.Response:
    title = "One more step: confirm in chat" if code else "Not linked"
    shown = f"<p>Your code: <strong id='code'>{html.escape(code)}</strong></p>" if code else ""
    body = (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
            f"<body><h1>{title}</h1><p id='message'>{html.escape(message)}</p>{shown}</body></html>")
    return web.Response(status=status, text=body, content_type="text/html",
                        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
                                 "Content-Security-Policy": "default-src 'none'", "X-Frame-Options": "DENY"})


class OAuthCallbackHandler:
    def __init__(self, commands: IdentityCommands) -> None:
        self._commands = commands

    async def handle(self, request: web.Request) -> web.StreamResponse:
        code, state = request.query.get("code", ""), request.query.get("state", "")
        if request.query.get("error"):
            return _page(400, "GitHub sign-in was cancelled or refused; nothing was linked.")
        if not code or not state or len(code) > 200:
            return _page(400, "This page needs the code and state GitHub sends; run /deploy link again.")
        status, message, pending = await self._commands.complete(code=code, state=state)
        return _page(status, message, pending)
