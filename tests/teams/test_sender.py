"""TeamsSender against loopback webhook servers (no mocks: real aiohttp client and server)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import jsonschema
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.domain import Destination, Op, OutboundMessage, Platform
from bot.egress.teams import MAX_BYTES, TeamsSender, webhook_ref
from bot.errors import DeliveryError
from tests.teams.conftest import CARDS, schema_errors

SECRET_PATH = "/workflows/abc/triggers/manual/paths/invoke?sig=TOPSECRETSIG123"


class Hook:
    """A loopback webhook: answers from a script of (status, headers, body) and records what it got."""

    def __init__(self) -> None:
        self.script: list[tuple[int, dict[str, str], str]] = []
        self.received: list[tuple[dict[str, Any], int]] = []
        self.server: TestServer | None = None

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        self.received.append((await request.json(), len(raw)))
        status, headers, body = self.script.pop(0) if self.script else (202, {}, "")
        return web.Response(status=status, headers=headers, text=body)

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url(SECRET_PATH))


@pytest.fixture
async def hook() -> AsyncIterator[Hook]:
    h = Hook()
    app = web.Application()
    app.router.add_post("/workflows/abc/triggers/manual/paths/invoke", h.handle)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    h.server = server
    yield h
    await server.close()


@pytest.fixture
async def make_sender(hook: Hook) -> AsyncIterator[Callable[..., TeamsSender]]:
    made: list[TeamsSender] = []

    def make(fmt: str = "adaptive", timeout_s: float = 5.0) -> TeamsSender:
        s = TeamsSender(urls={"ops": hook.url}, formats={"ops": fmt}, timeout_s=timeout_s)
        made.append(s)
        return s

    yield make
    for s in made:
        await s.close()


def our_logs(caplog: pytest.LogCaptureFixture) -> str:
    """Every record but the loopback server's own access log (that server stands in for Microsoft's)."""
    return "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records
                     if r.name != "aiohttp.access")


def msg(card: str = "deploy-running", *, op: Op = Op.CARD, key: str = "k1") -> OutboundMessage:
    return OutboundMessage(key=key, destination=Destination(Platform.TEAMS, "ops"), op=op, card=CARDS[card],
                           card_key="req:r-abcd2345")


async def test_202_is_success_and_the_envelope_is_a_valid_card(
    hook: Hook, make_sender: Callable[..., TeamsSender], card_validator: jsonschema.Draft6Validator
) -> None:
    ref = await make_sender().send(msg("security-long"), ref=None)
    assert ref == webhook_ref("HIGH")
    (body, size), = hook.received
    assert size <= MAX_BYTES
    assert body["type"] == "message"
    attachment = body["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert schema_errors(card_validator, attachment["content"]) == []


async def test_card_is_posted_again_only_when_its_status_changed(
    hook: Hook, make_sender: Callable[..., TeamsSender]
) -> None:
    sender = make_sender()
    ref = await sender.send(msg("deploy-running"), ref=None)
    assert await sender.send(msg("deploy-running", key="k2"), ref=ref) == ref
    assert len(hook.received) == 1
    ref2 = await sender.send(msg("deploy-succeeded", key="k3"), ref=ref)
    assert ref2 == webhook_ref("succeeded") and len(hook.received) == 2


async def test_429_is_transient_with_retry_after_and_the_url_is_never_logged(
    hook: Hook, make_sender: Callable[..., TeamsSender], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    hook.script.append((429, {"Retry-After": "7"}, "slow down"))
    with pytest.raises(DeliveryError) as info:
        await make_sender().send(msg(), ref=None)
    assert info.value.transient and info.value.retry_after == 7.0
    assert "TOPSECRETSIG123" not in str(info.value) and hook.url not in str(info.value)
    assert "TOPSECRETSIG123" not in our_logs(caplog) and "/workflows/abc" not in our_logs(caplog)
    assert "status=429" in our_logs(caplog)


async def test_5xx_is_transient(hook: Hook, make_sender: Callable[..., TeamsSender]) -> None:
    hook.script.append((503, {}, ""))
    with pytest.raises(DeliveryError) as info:
        await make_sender().send(msg(), ref=None)
    assert info.value.transient and info.value.retry_after is None


async def test_400_is_permanent(
    hook: Hook, make_sender: Callable[..., TeamsSender], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    hook.script.append((400, {}, "bad card"))
    with pytest.raises(DeliveryError) as info:
        await make_sender().send(msg(), ref=None)
    assert not info.value.transient
    assert "TOPSECRETSIG123" not in our_logs(caplog) and "TOPSECRETSIG123" not in str(info.value)


async def test_unreachable_and_timeout_are_transient_and_do_not_leak_the_url(
    hook: Hook, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async def slow(request: web.Request) -> web.Response:
        import asyncio

        await asyncio.sleep(2)
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post("/slow", slow)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    closed_port = server.port
    sender = TeamsSender(urls={"ops": str(server.make_url("/slow?sig=TOPSECRETSIG123"))}, timeout_s=0.2)
    try:
        with pytest.raises(DeliveryError) as info:
            await sender.send(msg(), ref=None)
        assert info.value.transient and "timed out" in str(info.value)
    finally:
        await sender.close()
        await server.close()
    gone = TeamsSender(urls={"ops": f"http://127.0.0.1:{closed_port}/x?sig=TOPSECRETSIG123"}, timeout_s=1)
    try:
        with pytest.raises(DeliveryError) as info2:
            await gone.send(msg(), ref=None)
    finally:
        await gone.close()
    assert info2.value.transient
    assert "TOPSECRETSIG123" not in our_logs(caplog)
    assert "TOPSECRETSIG123" not in repr(info2.value.__cause__)


async def test_unknown_webhook_and_slack_only_ops_are_permanent(
    make_sender: Callable[..., TeamsSender],
) -> None:
    sender = make_sender()
    other = OutboundMessage(key="x", destination=Destination(Platform.TEAMS, "nope"), op=Op.POST,
                            card=CARDS["rollback"])
    with pytest.raises(DeliveryError) as info:
        await sender.send(other, ref=None)
    assert not info.value.transient
    with pytest.raises(DeliveryError):
        await sender.send(msg(op=Op.EPHEMERAL), ref=None)


async def test_messagecard_path_accepts_200_one(hook: Hook, make_sender: Callable[..., TeamsSender]) -> None:
    hook.script.append((200, {}, "1"))
    assert await make_sender("messagecard").send(msg("approval"), ref=None) == webhook_ref("pending approval")
    (body, _), = hook.received
    assert body["@type"] == "MessageCard" and body["title"].startswith("Approval needed")


async def test_messagecard_200_with_throttling_text_is_transient(
    hook: Hook, make_sender: Callable[..., TeamsSender]
) -> None:
    hook.script.append((200, {}, "Webhook message delivery failed with error: Microsoft Teams endpoint "
                                  "returned HTTP error 429 with ContextId ..."))
    with pytest.raises(DeliveryError) as info:
        await make_sender("messagecard").send(msg(), ref=None)
    assert info.value.transient


async def test_messagecard_429_honours_retry_after(
    hook: Hook, make_sender: Callable[..., TeamsSender]
) -> None:
    hook.script.append((429, {"Retry-After": "3"}, ""))
    with pytest.raises(DeliveryError) as info:
        await make_sender("messagecard").send(msg(), ref=None)
    assert info.value.transient and info.value.retry_after == 3.0
