"""Loopback fake of Microsoft Teams incoming webhooks.

* ``POST /webhook/{name}``: a Workflows webhook ("When a Teams webhook request is received"). Takes
  ``{"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
  "contentUrl": null, "content": <card>}]}`` and answers 202 with an empty body; the card is checked
  against the Adaptive Card schema (1.4 by default). Over ~28 KB: 413, like Teams.
* ``POST /connector/{name}``: a legacy Office 365 connector; answers 200 with body ``1`` (what
  pymsteams expects) for a MessageCard.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from sandbox.base import LoopbackServer
from sandbox.schemas import validate_adaptive_card

MAX_BYTES = 28 * 1024
ADAPTIVE = "application/vnd.microsoft.card.adaptive"


@dataclass
class TeamsPost:
    kind: str  # "workflow" | "connector"
    name: str
    body: Any
    status: int
    reason: str = ""
    at: float = field(default_factory=time.time)

    @property
    def cards(self) -> list[dict[str, Any]]:
        """The Adaptive Cards of an accepted Workflows post."""
        if self.kind != "workflow" or not isinstance(self.body, dict):
            return []
        return [a["content"] for a in self.body.get("attachments", []) if isinstance(a, dict)]


class TeamsFake(LoopbackServer):
    def __init__(self, *, card_version: str = "1.4", max_bytes: int = MAX_BYTES) -> None:
        self.card_version, self.max_bytes = card_version, max_bytes
        self.posts: list[TeamsPost] = []
        super().__init__()

    def _routes(self, app: web.Application) -> None:
        app.router.add_post("/webhook/{name}", self._workflow)
        app.router.add_post("/connector/{name}", self._connector)

    def webhook_url(self, name: str) -> str:
        return f"{self.url}/webhook/{name}"

    def connector_url(self, name: str) -> str:
        return f"{self.url}/connector/{name}"

    def fail(
        self, name: str = ".*", status: int = 500, times: int = 1, retry_after: int | None = None
    ) -> None:
        """The next ``times`` posts to webhook/connector ``name`` (a regex) answer ``status``."""
        self._add_fault(f"^{name}$", status, times, retry_after if status == 429 else None)

    def accepted(self, name: str | None = None) -> list[TeamsPost]:
        return [p for p in self.posts if p.status < 300 and name in (None, p.name)]

    def cards(self, name: str | None = None) -> list[dict[str, Any]]:
        return [card for p in self.accepted(name) for card in p.cards]

    async def _read(self, request: web.Request, kind: str) -> tuple[TeamsPost, web.Response | None]:
        name = request.match_info["name"]
        raw = await request.read()
        post = TeamsPost(kind, name, None, 0)
        self.posts.append(post)
        fault = self._take_fault(name)
        if fault is not None:
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            return post, self._answer(post, fault.status, "injected fault", headers)
        if len(raw) > self.max_bytes:
            return post, self._answer(post, 413, f"Request Entity too large ({len(raw)} bytes)")
        try:
            post.body = json.loads(raw)
        except ValueError:
            return post, self._answer(post, 400, "body is not JSON")
        return post, None

    def _answer(
        self, post: TeamsPost, status: int, reason: str = "", headers: dict[str, str] | None = None
    ) -> web.Response:
        post.status, post.reason = status, reason
        if status == 202:
            return web.Response(status=202)
        return web.Response(status=status, text=reason, headers=headers)

    async def _workflow(self, request: web.Request) -> web.Response:
        post, early = await self._read(request, "workflow")
        if early is not None:
            return early
        reason = envelope_problem(post.body, self.card_version)
        return self._answer(post, 400 if reason else 202, reason)

    async def _connector(self, request: web.Request) -> web.Response:
        post, early = await self._read(request, "connector")
        if early is not None:
            return early
        body = post.body
        if not isinstance(body, dict) or body.get("@type") != "MessageCard":
            return self._answer(post, 400, "Summary or Text is required.")
        if not (body.get("summary") or body.get("text")):
            return self._answer(post, 400, "Summary or Text is required.")
        post.status = 200
        return web.Response(status=200, text="1")


def envelope_problem(body: Any, version: str = "1.4") -> str:
    """Why a Workflows webhook body is not a valid Adaptive Card message ('' when it is)."""
    if not isinstance(body, dict) or body.get("type") != "message":
        return "envelope: type must be 'message'"
    attachments = body.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return "envelope: attachments must be a non-empty array"
    for i, att in enumerate(attachments):
        if not isinstance(att, dict) or att.get("contentType") != ADAPTIVE:
            return f"attachments/{i}/contentType must be {ADAPTIVE}"
        if "contentUrl" in att and att["contentUrl"] is not None:
            return f"attachments/{i}/contentUrl must be null"
        errors = validate_adaptive_card(att.get("content"), version)
        if errors:
            return f"attachments/{i}/content: " + "; ".join(errors[:3])
    return ""
