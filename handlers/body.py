"""Reading request bodies before authentication, within bounds: a size limit per route (checked on
``Content-Length`` and again while reading, so chunked bodies are bounded too), a deadline for the whole
body (a client sending one byte at a time is cut off), and two budgets (issue 22 items 2 and 3):

- **bodies in flight, per route**: each route (``slack``, ``teams``, ``github``, ``aws``) has its own count, so
  slow clients on one route fill only that route's slots; Slack and Teams acks never wait behind GitHub's;
- **bytes in flight, across routes** (``CHATOPS_MAX_BODY_BYTES``, default 64 MiB): a declared body reserves its
  ``Content-Length`` before a byte is read, a chunked one reserves as it arrives. Each route may hold at most its
  share of the budget (GitHub 1/2, AWS 1/4, Slack 1/8, Teams 1/8, never less than one body of its largest size),
  so one route's large bodies cannot take the memory another route needs.

Beyond either budget the answer is 503 with ``Retry-After``. A refused body is answered (413, 408 or 503) and the
connection is closed at once: aiohttp would otherwise keep reading ("lingering") the rest of a body we already
refused. A reservation is released when the body has been read (or refused); the handler then owns the bytes
for the short time it takes to verify and record them.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass, field

from aiohttp import ClientPayloadError, web

log = logging.getLogger(__name__)

KIB = 1024
MIB = 1024 * KIB
# per-route ceilings: what the platform can send, with room to spare (Slack and Teams messages are small;
# EventBridge events are at most 256 KB, SNS messages 256 KB plus the envelope; GitHub caps payloads at 25 MB
# but the events we read are far below 5 MiB)
SLACK_MAX_BODY = 1 * MIB
TEAMS_MAX_BODY = 256 * KIB
AWS_MAX_BODY = 1 * MIB
GITHUB_MAX_BODY = 5 * MIB


# each route's share of the bytes-in-flight budget (the shares add up to 1: no route can take another's)
BYTE_SHARES: dict[str, float] = {"github": 1 / 2, "aws": 1 / 4, "slack": 1 / 8, "teams": 1 / 8}
ROUTE_MAX_BODY: dict[str, int] = {"github": GITHUB_MAX_BODY, "aws": AWS_MAX_BODY, "slack": SLACK_MAX_BODY,
                                  "teams": TEAMS_MAX_BODY}


class RefusalLog:
    """One warning per (route, reason) a second at most, with the count of those not logged since: hundreds of
    slow clients timing out together cost hundreds of log lines in one loop turn (the ack p99 of issue 22.2)."""

    def __init__(self, every_s: float = 1.0) -> None:
        self.every_s = every_s
        self._last: dict[tuple[str, str], float] = {}
        self._quiet: dict[tuple[str, str], int] = {}

    def warn(self, route: str, reason: str, detail: str, *args: object) -> None:
        key, now = (route, reason), time.monotonic()
        if now - self._last.get(key, -self.every_s) < self.every_s:
            self._quiet[key] = self._quiet.get(key, 0) + 1
            return
        self._last[key] = now
        log.warning("request body refused route=%s reason=%s " + detail + " (%d more since the last such line)",
                    route, reason, *args, self._quiet.pop(key, 0))


@dataclass(slots=True)
class BodyPolicy:
    """How long one body may take to arrive, how many may be arriving at once on each route, and how many bytes
    may be held across routes (per process)."""

    timeout_s: float = 10.0
    max_pending: int = 200  # per route
    max_bytes: int = 64 * MIB  # across routes
    pending: dict[str, int] = field(default_factory=dict, compare=False)
    held: dict[str, int] = field(default_factory=dict, compare=False)
    refusals: RefusalLog = field(default_factory=RefusalLog, compare=False)

    def byte_limit(self, route: str) -> int:
        return max(int(self.max_bytes * BYTE_SHARES.get(route, 1 / 8)), ROUTE_MAX_BODY.get(route, 0))

    def retry_after(self) -> str:
        return str(max(1, math.ceil(self.timeout_s)))  # every reservation ends within one body deadline

    def reserve(self, route: str, n: int) -> bool:
        """Take ``n`` more bytes for ``route``; False (nothing taken) beyond its share or the whole budget."""
        held = self.held.get(route, 0)
        if held + n > self.byte_limit(route) or sum(self.held.values()) + n > max(self.max_bytes,
                                                                                   self.byte_limit(route)):
            return False
        self.held[route] = held + n
        return True


BODY_POLICY: web.AppKey[BodyPolicy] = web.AppKey("body_policy", BodyPolicy)
_DEFAULT = BodyPolicy()


class BodyRefused(Exception):
    """The body was not read: too large, too slow, or too many bodies in flight."""

    def __init__(self, status: int, reason: str, *, retry_after: str = "") -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.retry_after = retry_after

    async def answer(self, request: web.Request) -> web.StreamResponse:
        """Answer, then close the connection without reading what is left of the body."""
        response = web.json_response({"error": self.reason}, status=self.status,
                                     headers={"Retry-After": self.retry_after} if self.retry_after else None)
        response.force_close()
        try:
            await response.prepare(request)
            await response.write_eof()
        except ConnectionError:
            return response
        request.protocol.force_close()
        return response


def _policy(request: web.Request) -> BodyPolicy:
    policy = request.config_dict.get(BODY_POLICY)
    return policy if policy is not None else _DEFAULT


def _too_large(policy: BodyPolicy, route: str, limit: int) -> BodyRefused:
    policy.refusals.warn(route, "too-large", "limit=%d", limit)
    return BodyRefused(413, f"body too large (limit {limit} bytes)")


def _busy(policy: BodyPolicy, route: str, reason: str) -> BodyRefused:
    policy.refusals.warn(route, reason, "pending=%d held=%d", policy.pending.get(route, 0), policy.held.get(route, 0))
    return BodyRefused(503, "too many requests in progress; retry later", retry_after=policy.retry_after())


@dataclass(slots=True)
class _Hold:
    """Bytes reserved for one body; read_body releases them whatever happens."""

    route: str
    bytes: int


async def read_body(request: web.Request, *, route: str, limit: int) -> bytes:
    """The whole body, or ``BodyRefused``; never more than ``limit`` bytes are read. ``route`` names the budget
    (see the module docstring)."""
    length = request.content_length
    policy = _policy(request)
    if length is not None and length > limit:
        raise _too_large(policy, route, limit)
    if policy.pending.get(route, 0) >= policy.max_pending:
        raise _busy(policy, route, "busy")
    hold = _Hold(route, length or 0)
    if not policy.reserve(route, hold.bytes):
        raise _busy(policy, route, "bytes")
    policy.pending[route] = policy.pending.get(route, 0) + 1
    try:
        body = await _read(request, policy=policy, hold=hold, limit=limit)
    finally:
        policy.pending[route] -= 1
        policy.held[route] -= hold.bytes
    # what request.read()/json() answer from now on (the Teams SDK reads the body again); aiohttp's own cache
    request._read_bytes = body
    return body


async def _read(request: web.Request, *, policy: BodyPolicy, hold: _Hold, limit: int) -> bytes:
    route = hold.route
    content = request.content
    if content.is_eof() and not content.exception():
        # the whole body has arrived with the headers (most webhooks: one or a few TCP reads): nothing to wait
        # for, so no deadline to arm and no read loop through the event loop (issue 27 item 4). The limits are
        # the same: the size, and a reservation for what was not declared.
        body = content.read_nowait()
        if len(body) > limit:
            raise _too_large(policy, route, limit)
        if len(body) > hold.bytes:
            if not policy.reserve(route, len(body) - hold.bytes):
                raise _busy(policy, route, "bytes")
            hold.bytes = len(body)
        return body
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(policy.timeout_s):
            while chunk := await request.content.readany():
                size += len(chunk)
                if size > limit:
                    raise _too_large(policy, route, limit)
                if size > hold.bytes:  # chunked, or more than declared: reserve as it arrives
                    if not policy.reserve(route, size - hold.bytes):
                        raise _busy(policy, route, "bytes")
                    hold.bytes = size
                chunks.append(chunk)
    except TimeoutError:
        policy.refusals.warn(route, "too-slow", "read=%d timeout_s=%.0f", size, policy.timeout_s)
        raise BodyRefused(408, "request body not received in time") from None
    except (ClientPayloadError, ConnectionError) as exc:
        policy.refusals.warn(route, "incomplete", "error=%s", type(exc).__name__)
        raise BodyRefused(400, "request body incomplete") from None
    return b"".join(chunks)
