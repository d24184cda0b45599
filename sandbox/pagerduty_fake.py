"""A loopback fake of PagerDuty's Events API v2 (``POST /v2/enqueue``), for the demo and the escalation tests.

Every behaviour is PagerDuty's published contract:
- PagerDuty/api-schema ``reference/events-v2/openapiv3.json``: ``POST /enqueue``; body requires ``routing_key`` and
  ``event_action`` (trigger | acknowledge | resolve); ``payload`` requires ``summary``, ``severity`` (critical |
  warning | error | info) and ``source``; ``dedup_key`` is "Required unless the event_type is trigger". Answers:
  202 ``{"status": "success", "message": "Event processed", "dedup_key": ...}`` (components.responses.Success),
  400 and 429 (ArgumentError, TooManyRequests), errors shaped ``{"status", "message", "errors": [...]}``
  (components.responses.Error, example "Unrecognized object" / "Event object format is unrecognized" /
  ["JSON parse error"]).
- PagerDuty/developer-docs ``docs/events-API-v2/02-Trigger-Events.md``: ``routing_key`` is "the 32 character
  Integration Key"; ``dedup_key`` at most 255 characters; ``summary`` at most 1024; a trigger without a dedup_key
  gets a generated one (a UUID); acknowledge / resolve without an open alert are dropped.
- ``docs/events-API-v1/02-Trigger-Events.md`` "400 Invalid Event": status "invalid event", message "Event object
  is invalid" (the wording the v2 schema's Error leaves open).
- ``docs/events-API-v2/05-Rate-Limits.md``: about 120 calls per minute per integration key over a 60 s window;
  beyond it "429 - Request Limit Exceeded" and the event is not ingested.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import deque
from typing import Any

from aiohttp import web

from sandbox.base import LoopbackServer

ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "warning", "error", "info")
RATE_LIMIT = 120  # calls per 60 s per integration key (05-Rate-Limits.md)


class PagerDutyFake(LoopbackServer):
    def __init__(self, routing_key: str = "R0UT1NGKEYSANDBOX0123456789ABCDE") -> None:  # 32 characters, like a real key
        self.routing_key = routing_key
        self.events: list[dict[str, Any]] = []  # accepted events, in order
        self.alerts: dict[str, str] = {}  # dedup_key -> triggered | acknowledged | resolved
        self.dropped: list[dict[str, Any]] = []  # acknowledge / resolve without an open alert
        self.throttle_next = 0  # answer the next N calls 429, as an exhausted rate limit would
        self._calls: dict[str, deque[float]] = {}
        super().__init__()

    def _routes(self, app: web.Application) -> None:
        app.router.add_post("/v2/enqueue", self._enqueue)

    def env(self) -> dict[str, str]:
        return {"PAGERDUTY_ROUTING_KEY": self.routing_key, "PAGERDUTY_EVENTS_URL": f"{self.url}/v2/enqueue"}

    def actions(self, dedup_key: str) -> list[str]:
        return [e["event_action"] for e in self.events if e.get("dedup_key") == dedup_key]

    def _limited(self, key: str) -> bool:
        now = time.monotonic()
        calls = self._calls.setdefault(key, deque())
        while calls and calls[0] < now - 60.0:
            calls.popleft()
        calls.append(now)
        return len(calls) > RATE_LIMIT

    async def _enqueue(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except ValueError:
            return _error(400, "Unrecognized object", "Event object format is unrecognized", ["JSON parse error"])
        if not isinstance(body, dict):
            return _error(400, "Unrecognized object", "Event object format is unrecognized", ["JSON parse error"])
        key = str(body.get("routing_key", ""))
        if self.throttle_next > 0 or self._limited(key):
            self.throttle_next = max(0, self.throttle_next - 1)
            # the docs give only "429 - Request Limit Exceeded"; the body takes the schema's Error shape
            return _error(429, "Request Limit Exceeded", "Request Limit Exceeded", [])
        errors = invalid(body)
        if errors:
            return _error(400, "invalid event", "Event object is invalid", errors)
        action = body["event_action"]
        dedup = str(body.get("dedup_key") or uuid.uuid4())
        if action == "trigger":
            self.alerts[dedup] = "triggered"
        elif self.alerts.get(dedup) not in ("triggered", "acknowledged"):
            self.dropped.append({**body, "dedup_key": dedup})  # no open alert: dropped, still accepted (202)
            return web.json_response({"status": "success", "message": "Event processed", "dedup_key": dedup},
                                     status=202)
        else:
            self.alerts[dedup] = "acknowledged" if action == "acknowledge" else "resolved"
        self.events.append({**body, "dedup_key": dedup})
        return web.json_response({"status": "success", "message": "Event processed", "dedup_key": dedup},
                                 status=202)


def invalid(body: dict[str, Any]) -> list[str]:
    """Why an event is invalid (empty: it is valid), field by field as the schema requires."""
    errors: list[str] = []
    key = body.get("routing_key")
    if not isinstance(key, str) or len(key) != 32:
        errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    action = body.get("event_action")
    if action not in ACTIONS:
        errors.append("'event_action' is invalid (must be one of trigger, acknowledge, resolve)")
    dedup = body.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or len(dedup) > 255):
        errors.append("'dedup_key' must be a string of at most 255 characters")
    if action in ("acknowledge", "resolve") and not dedup:
        errors.append("'dedup_key' is required for acknowledge and resolve")
    if action == "trigger":
        payload = body.get("payload")
        if not isinstance(payload, dict):
            errors.append("'payload' is missing or not an object")
        else:
            for name in ("summary", "source", "severity"):
                if not isinstance(payload.get(name), str) or not payload.get(name):
                    errors.append(f"'payload.{name}' is missing or blank")
            if len(str(payload.get("summary", ""))) > 1024:
                errors.append("'payload.summary' is longer than 1024 characters")
            if payload.get("severity") is not None and payload.get("severity") not in SEVERITIES:
                errors.append("'payload.severity' is invalid (must be one of critical, warning, error, info)")
    return errors


def _error(status: int, name: str, message: str, errors: list[str]) -> web.Response:
    return web.json_response({"status": name, "message": message, "errors": errors}, status=status)
