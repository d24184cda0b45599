"""``GET /github/oauth/callback``: GitHub sends the user back here after they authorized the App. The page shows
who signed in and a one-time code; the link is made only when the chat account that asked sends the code back
(bot.identity.commands). Every answer is a small HTML page (no stack trace, nothing echoed raw).

Anyone can call this URL, and a call with a signed state costs a database claim and an audit row, so callbacks
are rate-limited per client address before anything else (issue 22 item 9): beyond the budget the answer is 429
with ``Retry-After`` and nothing is read, claimed or audited. The client address is the peer's, or, behind
``CHATOPS_TRUSTED_PROXY_HOPS`` = N proxies, the N-th address from the right of ``X-Forwarded-For`` (the one the
outermost trusted proxy saw; entries further left are the client's own claims and are ignored)."""

from __future__ import annotations

import html

from aiohttp import web

from bot.errors import StoreError
from bot.identity.commands import IdentityCommands
from bot.runtime.ratelimit import KeyedRateLimiter

CALLBACK_PATH = "/github/oauth/callback"


def client_address(request: web.Request, *, proxy_hops: int) -> str:
    """The address to rate-limit: the peer, or the one ``proxy_hops`` trusted proxies saw (see the module doc)."""
    if proxy_hops > 0:
        chain = [a.strip() for a in request.headers.get("X-Forwarded-For", "").split(",") if a.strip()]
        if len(chain) >= proxy_hops:
            return chain[-proxy_hops][:64]
    return request.remote or "-"


def _page(status: int, message: str, code: str = "", headers: dict[str, str] | None = None) -> web.Response:
    title = "One more step: confirm in chat" if code else "Not linked"
    shown = f"<p>Your code: <strong id='code'>{html.escape(code)}</strong></p>" if code else ""
    body = (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
            f"<body><h1>{title}</h1><p id='message'>{html.escape(message)}</p>{shown}</body></html>")
    return web.Response(status=status, text=body, content_type="text/html",
                        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
                                 "Content-Security-Policy": "default-src 'none'", "X-Frame-Options": "DENY",
                                 **(headers or {})})


class OAuthCallbackHandler:
    def __init__(self, commands: IdentityCommands, *, limiter: KeyedRateLimiter, proxy_hops: int = 0) -> None:
        self._commands = commands
        self._limiter = limiter
        self._proxy_hops = proxy_hops

    async def handle(self, request: web.Request) -> web.StreamResponse:
        wait = self._limiter.take(client_address(request, proxy_hops=self._proxy_hops))
        if wait:
            return _page(429, f"Too many sign-in attempts from your address; nothing was done. Try again in {wait} "
                              "seconds.", headers={"Retry-After": str(wait)})
        code, state = request.query.get("code", ""), request.query.get("state", "")
        if request.query.get("error"):
            return _page(400, "GitHub sign-in was cancelled or refused; nothing was linked.")
        if not code or not state or len(code) > 200:
            return _page(400, "This page needs the code and state GitHub sends; run /deploy link again.")
        try:
            status, message, pending = await self._commands.complete(code=code, state=state)
        except StoreError:  # the database is unreachable: nothing was linked; the page says to try again
            return _page(503, "The bot cannot reach its database right now; nothing was linked. Try again shortly.")
        return _page(status, message, pending)
