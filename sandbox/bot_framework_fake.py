"""Loopback fake of what a Teams bot talks to, on one ephemeral port:

* **Bot Framework OpenID metadata + JWKS** (``GET /openid``, ``GET /keys``): the key that signs the tokens
  on activities sent to the bot (``token()``), endorsed for ``msteams``. Point ``TEAMS_OPENID_METADATA_URL``
  at ``metadata_url``.
* **Entra's token endpoint** (``POST /{tenant}/oauth2/v2.0/token``): OAuth 2.0 client credentials; issues
  opaque tokens for the configured app id + secret only. Point ``TEAMS_TOKEN_URL`` at ``token_url``.
* **The Bot Connector** (the activities' ``serviceUrl``): ``POST /v3/conversations/{id}/activities``
  (new message), ``POST …/activities/{activityId}`` (reply), ``PUT …/activities/{activityId}`` (update in
  place). Refuses (401) any token it did not issue; records every call in ``calls``.

``send()`` posts an activity to the bot the way the Bot Connector service does (a signed JWT).
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from sandbox.base import LoopbackServer

ISSUER = "https://api.botframework.com"
KEY_ID = "sandbox-bot-framework-key"


@dataclass
class ConnectorCall:
    kind: str  # "post" | "reply" | "update"
    conversation: str
    activity_id: str  # the id of the message created or updated
    body: dict[str, Any]
    status: int
    at: float = field(default_factory=time.time)

    @property
    def cards(self) -> list[dict[str, Any]]:
        return [a["content"] for a in self.body.get("attachments") or []
                if isinstance(a, dict) and a.get("contentType") == "application/vnd.microsoft.card.adaptive"]


class BotFrameworkFake(LoopbackServer):
    def __init__(self, *, app_id: str = "00000000-0000-4000-8000-00000000b075",
                 app_password: str = "sandbox-bot-secret",
                 tenant_id: str = "72f988bf-0000-4000-8000-000000000000") -> None:
        self.app_id, self.app_password, self.tenant_id = app_id, app_password, tenant_id
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.calls: list[ConnectorCall] = []
        self.token_requests: list[dict[str, str]] = []
        self.issued: set[str] = set()
        self.deleted: set[str] = set()  # message ids a user deleted: updating them answers 404
        self._ids = itertools.count(1)
        super().__init__()

    def _routes(self, app: web.Application) -> None:
        app.router.add_get("/openid", self._metadata)
        app.router.add_get("/keys", self._keys)
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)
        app.router.add_post("/v3/conversations/{conv}/activities", self._activity)
        app.router.add_post("/v3/conversations/{conv}/activities/{act}", self._activity)
        app.router.add_put("/v3/conversations/{conv}/activities/{act}", self._activity)

    # ------------------------------------------------------------------ addresses
    @property
    def metadata_url(self) -> str:
        return f"{self.url}/openid"

    @property
    def token_url(self) -> str:
        return f"{self.url}/{self.tenant_id}/oauth2/v2.0/token"

    @property
    def service_url(self) -> str:
        return f"{self.url}/"

    def env(self) -> dict[str, str]:
        """The bot's environment for talking to this fake."""
        return {"TEAMS_APP_ID": self.app_id, "TEAMS_APP_PASSWORD": self.app_password,
                "TEAMS_APP_TENANT_ID": self.tenant_id, "TEAMS_OPENID_METADATA_URL": self.metadata_url,
                "TEAMS_TOKEN_URL": self.token_url}

    # ------------------------------------------------------------------ identity provider
    async def _metadata(self, _: web.Request) -> web.Response:
        return web.json_response({"issuer": ISSUER, "jwks_uri": f"{self.url}/keys",
                                  "id_token_signing_alg_values_supported": ["RS256"]})

    async def _keys(self, _: web.Request) -> web.Response:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update({"kid": KEY_ID, "use": "sig", "endorsements": ["msteams"]})
        return web.json_response({"keys": [jwk]})

    def fail(self, path: str = ".*", status: int = 500, times: int = 1, retry_after: int | None = None) -> None:
        """The next ``times`` token or connector requests whose path matches ``path`` (a regex) answer ``status``."""
        self._add_fault(path, status, times, retry_after)

    def _fault(self, request: web.Request) -> web.Response | None:
        fault = self._take_fault(request.path)
        if fault is None:
            return None
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        return web.json_response({"error": {"code": "InjectedFault"}}, status=fault.status, headers=headers)

    async def _token(self, request: web.Request) -> web.Response:
        if (fault := self._fault(request)) is not None:
            return fault
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.token_requests.append({k: v for k, v in form.items() if k != "client_secret"})
        if request.match_info["tenant"] != self.tenant_id:
            return web.json_response({"error": "invalid_tenant"}, status=400)
        if form.get("grant_type") != "client_credentials" or not form.get("scope"):
            return web.json_response({"error": "invalid_request"}, status=400)
        if form.get("client_id") != self.app_id or form.get("client_secret") != self.app_password:
            return web.json_response({"error": "invalid_client"}, status=401)
        token = f"sandbox-bf-token-{next(self._ids)}"
        self.issued.add(token)
        return web.json_response({"token_type": "Bearer", "expires_in": 3599, "access_token": token})

    def token(self, **overrides: Any) -> str:
        """A Bot Connector service token for an activity sent to the bot (claims overridable; None drops)."""
        now = int(time.time())
        claims: dict[str, Any] = {"iss": ISSUER, "aud": self.app_id, "exp": now + 600, "nbf": now - 10,
                                  "serviceurl": self.service_url}
        claims.update(overrides)
        return jwt.encode({k: v for k, v in claims.items() if v is not None}, self.key, algorithm="RS256",
                          headers={"kid": KEY_ID})

    # ------------------------------------------------------------------ connector
    async def _activity(self, request: web.Request) -> web.Response:
        if (fault := self._fault(request)) is not None:
            return fault
        conv = request.match_info["conv"]
        act = request.match_info.get("act", "")
        kind = "update" if request.method == "PUT" else ("reply" if act else "post")
        body = await request.json()
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        call = ConnectorCall(kind, conv, act if kind == "update" else f"activity-{next(self._ids)}", body, 200)
        self.calls.append(call)
        if scheme != "Bearer" or token not in self.issued:
            call.status = 401
            return web.json_response({"error": {"code": "Unauthorized"}}, status=401)
        known = any(c.activity_id == act and c.kind != "update" and c.status == 200 for c in self.calls)
        if kind == "update" and (act in self.deleted or not known):
            call.status = 404
            return web.json_response({"error": {"code": "ActivityNotFound"}}, status=404)
        return web.json_response({"id": call.activity_id})

    def accepted(self, conversation: str | None = None) -> list[ConnectorCall]:
        return [c for c in self.calls if c.status == 200 and conversation in (None, c.conversation)]

    def messages(self, conversation: str) -> dict[str, dict[str, Any]]:
        """The messages the bot has in a conversation now (activity id -> latest body, updates applied)."""
        out: dict[str, dict[str, Any]] = {}
        for c in self.accepted(conversation):
            out[c.activity_id] = c.body
        return out

    # ------------------------------------------------------------------ driving the bot
    def activity(self, kind: str = "message", *, user: str, conversation: str, conversation_type: str = "personal",
                 **extra: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": kind, "id": f"in-{next(self._ids)}", "channelId": "msteams", "serviceUrl": self.service_url,
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "from": {"id": f"29:{user}", "name": user, "aadObjectId": user},
            "recipient": {"id": f"28:{self.app_id}", "name": "ChatOps"},
            "conversation": {"id": conversation, "conversationType": conversation_type, "tenantId": self.tenant_id},
            "channelData": {"tenant": {"id": self.tenant_id}},
        }
        body.update(extra)
        return body

    def invoke(self, verb: str, request_id: str, *, user: str, conversation: str,
               conversation_type: str = "channel") -> dict[str, Any]:
        """An ``Action.Execute`` click on a card, as Teams sends it."""
        return self.activity("invoke", user=user, conversation=conversation, conversation_type=conversation_type,
                             name="adaptiveCard/action",
                             value={"action": {"type": "Action.Execute", "verb": verb,
                                               "data": {"request_id": request_id}}, "trigger": "manual"})

    async def send(self, bot_url: str, activity: dict[str, Any], *, token: str | None) -> tuple[int, Any]:
        """POST an activity to the bot's ``/teams/messages``; returns (HTTP status, JSON body or None)."""
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        async with aiohttp.ClientSession() as s, s.post(f"{bot_url}/teams/messages", json=activity,
                                                        headers=headers) as resp:
            text = await resp.text()
        try:
            return resp.status, (json.loads(text) if text else None)
        except ValueError:
            return resp.status, text
