"""Reading request bodies before authentication, within bounds: a size limit per route (checked on
``Content-Length`` and again while reading, so chunked bodies are bounded too), a deadline for the whole
body (a client sending one byte at a time is cut off) and a cap on how many bodies are being read at once.

A refused body is answered (413, 408 or 503) and the connection is closed at once: aiohttp would otherwise
keep reading ("lingering") the rest of a body we already refused.
"""

from __future__ import annotations

import asyncio
import logging
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


@dataclass(slots=True)
class BodyPolicy:
    """How long one body may take to arrive, and how many may be arriving at once (per process)."""

    timeout_s: float = 10.0
    max_pending: int = 200
    pending: int = field(default=0, compare=False)


BODY_POLICY: web.AppKey[BodyPolicy] = web.AppKey("body_policy", BodyPolicy)
_DEFAULT = BodyPolicy()


class BodyRefused(Exception):
    """The body was not read: too large, too slow, or too many bodies in flight."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason

    async def answer(self, request: web.Request) -> web.StreamResponse:
        """Answer, then close the connection without reading what is left of the body."""
        response = web.json_response({"error": self.reason}, status=self.status)
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


async def read_body(request: web.Request, *, limit: int) -> bytes:
    """The whole body, or ``BodyRefused``; never more than ``limit`` bytes are read."""
    route = request.path[:40]
    length = request.content_length
    if length is not None and length > limit:
        log.warning("request body refused route=%s reason=too-large declared=%d limit=%d", route, length, limit)
        raise BodyRefused(413, f"body too large (limit {limit} bytes)")
    policy = _policy(request)
    if policy.pending >= policy.max_pending:
        log.warning("request body refused route=%s reason=busy pending=%d", route, policy.pending)
        raise BodyRefused(503, "too many requests in progress; retry later")
    policy.pending += 1
    chunks: list[bytes] = []
    size = 0
    try:
        if request.content.is_eof():  # the whole body is buffered already: nothing to wait for
            chunks.append(request.content.read_nowait())
            size = len(chunks[0])
            if size > limit:
                log.warning("request body refused route=%s reason=too-large limit=%d", route, limit)
                raise BodyRefused(413, f"body too large (limit {limit} bytes)")
        else:
            async with asyncio.timeout(policy.timeout_s):
                while chunk := await request.content.readany():
                    size += len(chunk)
                    if size > limit:
                        log.warning("request body refused route=%s reason=too-large limit=%d", route, limit)
                        raise BodyRefused(413, f"body too large (limit {limit} bytes)")
                    chunks.append(chunk)
    except TimeoutError:
        log.warning("request body refused route=%s reason=too-slow read=%d timeout_s=%.0f", route, size,
                    policy.timeout_s)
        raise BodyRefused(408, "request body not received in time") from None
    except (ClientPayloadError, ConnectionError) as exc:
        log.warning("request body refused route=%s reason=incomplete error=%s", route, type(exc).__name__)
        raise BodyRefused(400, "request body incomplete") from None
    finally:
        policy.pending -= 1
    body = b"".join(chunks)
    # what request.read()/json() answer from now on (the Teams SDK reads the body again); aiohttp's own cache
    request._read_bytes = body
    return body
