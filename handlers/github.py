"""GitHub webhook ingress: verify X-Hub-Signature-256 first, parse, record durably, answer fast."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from typing import Any

from aiohttp import web

from bot.deploys.pipeline import Pipeline
from bot.identity.org_events import OrgEvents
from bot.metrics import GITHUB_IGNORED, IGNORED, REQUESTS
from bot.wire import MalformedBody, parse_json
from handlers.body import GITHUB_MAX_BODY, BodyRefused, read_body
from handlers.github_org import ORG_EVENTS, event_label, parse_org_event
from handlers.github_parse import PARSERS, BadPayload, parse_event, read_payload

log = logging.getLogger(__name__)
MAX_BODY = GITHUB_MAX_BODY
# X-GitHub-Delivery is "a globally unique identifier (GUID) to identify the event" and X-GitHub-Event "the name of
# the event that triggered the delivery" (https://docs.github.com/en/webhooks/webhook-events-and-payloads#delivery-headers;
# event names are lowercase words joined by "_"). Neither header is covered by X-Hub-Signature-256, so a captured
# body can be replayed with any value: printable ASCII only (a delivery id becomes the idempotency key, an event
# name a metrics label), anything else is refused before it reaches the store.
_DELIVERY = re.compile(r"[\x21-\x7e]{1,100}")
_EVENT = re.compile(r"[a-z0-9_]{1,64}")


_FRESH = (202, json.dumps({"status": "accepted"}).encode(), REQUESTS.labels(route="github", status="202"))
_REPEAT = (200, json.dumps({"status": "duplicate delivery: already processed"}).encode(),
           REQUESTS.labels(route="github", status="200"))


def verify_signature(secret: bytes, body: bytes, header: str) -> bool:
    """Constant-time check of ``X-Hub-Signature-256`` over the raw body."""
    if not header.isascii() or not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.encode())


class GitHubWebhookHandler:
    def __init__(self, *, pipeline: Pipeline, secret: str, org_events: OrgEvents | None = None) -> None:
        if not secret:
            raise ValueError("GITHUB_WEBHOOK_SECRET is required")
        self._secret = secret.encode()
        self._pipeline = pipeline
        self._org_events = org_events

    def _ignored(self, event: str, reason: str, text: str) -> web.Response:
        """A well-formed, signed event the bot does not act on: 2xx (GitHub shows anything else as a failed
        delivery), counted per event in ``chatops_github_events_ignored_total``."""
        IGNORED.labels(source="github", reason=reason).inc()
        GITHUB_IGNORED.labels(event=event_label(event), reason=reason).inc()
        return self._answer(202, f"ignored: {text}")

    async def _org_event(self, event: str, payload: dict[str, Any]) -> web.Response:
        """installation, membership, organization, team, ...: events without a repository (see handlers/github_org)."""
        try:
            change = parse_org_event(event, payload)
        except BadPayload as exc:
            return self._answer(400, f"payload missing fields we need: {exc}")
        if change is None or self._org_events is None:
            return self._ignored(event, "unhandled_action", f"{event} {str(payload.get('action', ''))[:40]}".strip())
        return self._answer(200, await self._org_events.apply_async(change))

    def _answer(self, status: int, text: str) -> web.Response:
        REQUESTS.labels(route="github", status=str(status)).inc()
        return web.json_response({"status" if status < 400 else "error": text}, status=status)

    def _recorded(self, fresh: bool) -> web.Response:
        """The answer to a recorded delivery (most requests): body and counter prepared once (issue 27 item 4)."""
        status, body, counter = _FRESH if fresh else _REPEAT
        counter.inc()
        return web.Response(body=body, status=status, content_type="application/json")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await read_body(request, route="github", limit=MAX_BODY)
        except BodyRefused as exc:
            REQUESTS.labels(route="github", status=str(exc.status)).inc()
            return await exc.answer(request)
        if not verify_signature(self._secret, body, request.headers.get("X-Hub-Signature-256", "")):
            log.warning("github webhook refused: invalid or missing signature")
            return self._answer(401, "invalid or missing X-Hub-Signature-256")
        event = request.headers.get("X-GitHub-Event", "")
        delivery = request.headers.get("X-GitHub-Delivery", "")
        if not event or not delivery:
            return self._answer(400, "X-GitHub-Event and X-GitHub-Delivery headers are required")
        if not _DELIVERY.fullmatch(delivery):
            return self._answer(400, "X-GitHub-Delivery must be 1 to 100 printable ASCII characters (a GUID)")
        if not _EVENT.fullmatch(event):
            return self._answer(400, "X-GitHub-Event must be an event name (lowercase letters, digits and _)")
        try:
            payload = parse_json(body) if event in ORG_EVENTS else read_payload(event, body)  # whole: few, small
        except MalformedBody as exc:
            return self._answer(400, f"body is not valid JSON ({exc})")
        if not isinstance(payload, dict):
            return self._answer(400, "body must be a JSON object")
        if event == "ping":
            return self._answer(200, "pong")
        if event in ORG_EVENTS:
            return await self._org_event(event, payload)
        if event not in PARSERS:  # answered whatever it carries: many events name no repository
            return self._ignored(event, "unhandled_event", f"event {event} is not handled")
        repository = payload.get("repository")
        if not isinstance(repository, dict) or not isinstance(repository.get("full_name"), str):
            return self._answer(400, "payload has no repository.full_name")
        if repository["full_name"].lower() not in self._pipeline.config.repositories:  # read per request: reloads
            return self._ignored(event, "other_repository", "not the configured repository nor a service's")
        try:
            update = parse_event(event, payload)
        except BadPayload as exc:
            return self._answer(400, f"payload missing fields we need: {exc}")
        if update is None:
            return self._ignored(event, "unhandled_action", "action not handled")
        return self._recorded(await self._pipeline.record_github(update, delivery=delivery, event=event))
