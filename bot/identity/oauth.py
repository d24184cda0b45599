"""The OAuth web flow of the GitHub App's user authorization, used only to prove a GitHub login.

``state`` is signed (HMAC-SHA256 with a key derived from ``GITHUB_APP_CLIENT_SECRET``), expires after 10
minutes, is bound to the chat identity that asked, and is single use (its nonce is claimed in the store). Finishing
the sign-in links nothing by itself: the callback page shows a one-time code that the same chat user must send
back in chat (bot/identity/links.py), so a sign-in URL handed to someone else cannot link their GitHub account.
The user token is used once, to read ``GET /user``, and never kept or logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

STATE_TTL_S = 600


class OAuthRefused(Exception):
    """The sign-in cannot be completed; ``str()`` is safe to show the user."""


@dataclass(frozen=True, slots=True)
class OAuthSettings:
    client_id: str
    client_secret: str
    oauth_url: str  # https://github.com (GHES: the server's root)
    api_url: str
    redirect_uri: str = ""  # "" = the App's configured callback URL

    def __repr__(self) -> str:
        return f"OAuthSettings(client_id={self.client_id!r}, <secret hidden>)"

    @property
    def _key(self) -> bytes:
        return hmac.new(self.client_secret.encode(), b"chatops-bot oauth state v1", hashlib.sha256).digest()

    def make_state(self, platform: str, platform_id: str, *, now: float | None = None,
                   display: str = "") -> tuple[str, str]:
        """(state, nonce) for a chat identity (``display``: its name, shown on the callback page)."""
        nonce = secrets.token_urlsafe(12)
        body = json.dumps({"p": platform, "i": platform_id, "d": display[:60], "n": nonce,
                           "e": int((now or time.time()) + STATE_TTL_S)}, separators=(",", ":")).encode()
        payload = base64.urlsafe_b64encode(body).decode().rstrip("=")
        sig = base64.urlsafe_b64encode(hmac.new(self._key, payload.encode(), hashlib.sha256).digest()).decode()
        return f"{payload}.{sig.rstrip('=')}", nonce

    def read_state(self, state: str, *, now: float | None = None) -> tuple[str, str, str, str]:
        """(platform, platform_id, nonce, display) of a genuine, unexpired state; raises OAuthRefused otherwise."""
        payload, _, sig = state.partition(".")
        if not payload or not sig or len(state) > 600 or not state.isascii():
            raise OAuthRefused("the sign-in link is incomplete or was altered")
        want = base64.urlsafe_b64encode(hmac.new(self._key, payload.encode(), hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(want.rstrip("="), sig):
            raise OAuthRefused("the sign-in link was not made by this bot or was altered")
        try:
            data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            platform, platform_id, nonce, exp = str(data["p"]), str(data["i"]), str(data["n"]), int(data["e"])
            display = str(data.get("d", ""))
        except (ValueError, KeyError, TypeError) as exc:
            raise OAuthRefused("the sign-in link is malformed") from exc
        if (now or time.time()) > exp:
            raise OAuthRefused("the sign-in link has expired; run `/deploy link` again")
        return platform, platform_id, nonce, display

    def authorize_url(self, state: str) -> str:
        query = {"client_id": self.client_id, "state": state}
        if self.redirect_uri:
            query["redirect_uri"] = self.redirect_uri
        return f"{self.oauth_url}/login/oauth/authorize?{urllib.parse.urlencode(query)}"

    async def login_for(self, code: str) -> tuple[str, int]:
        """Exchange the code and read the user: (login, id). Raises OAuthRefused."""
        timeout = aiohttp.ClientTimeout(total=15)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                async with session.post(f"{self.oauth_url}/login/oauth/access_token", headers={
                        "Accept": "application/json"}, json={"client_id": self.client_id,
                                                             "client_secret": self.client_secret, "code": code}) as r:
                    data = await r.json(content_type=None)
                token = data.get("access_token") if isinstance(data, dict) else None
                if not isinstance(token, str) or not token:
                    error = str(data.get("error", "")) if isinstance(data, dict) else ""
                    raise OAuthRefused(f"GitHub refused the sign-in code ({error[:40] or r.status})")
                async with session.get(f"{self.api_url}/user", headers={
                        "Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"}) as r:
                    user = await r.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise OAuthRefused(f"GitHub could not be reached ({type(exc).__name__}); try again") from exc
        if r.status != 200 or not isinstance(user, dict) or not isinstance(user.get("login"), str):
            raise OAuthRefused("GitHub did not tell who signed in")
        uid = user.get("id")
        if not isinstance(uid, int) or isinstance(uid, bool) or not 0 < uid < 2**63:
            raise OAuthRefused("GitHub did not give the account's numeric id")
        return user["login"], uid


def oauth_settings(env: Mapping[str, str]) -> OAuthSettings | None:
    """``GITHUB_APP_CLIENT_ID`` + ``GITHUB_APP_CLIENT_SECRET`` enable linking; otherwise None."""
    if not env.get("GITHUB_APP_CLIENT_ID") or not env.get("GITHUB_APP_CLIENT_SECRET"):
        return None
    return OAuthSettings(env["GITHUB_APP_CLIENT_ID"], env["GITHUB_APP_CLIENT_SECRET"],
                         env.get("GITHUB_OAUTH_URL", "https://github.com").rstrip("/"),
                         env.get("GITHUB_API_URL", "https://api.github.com").rstrip("/"),
                         env.get("GITHUB_OAUTH_REDIRECT_URI", ""))
