"""Issue 22 items 2 and 3 through the real app over raw HTTP: each route has its own budget of bodies in flight
(slow clients on /github/webhook never make Slack, Teams or SNS answer 503), Teams and EventBridge callers are
authenticated from their headers before they take a slot, and a budget of bytes in flight (each route holding at
most its share) answers 503 with Retry-After beyond it. Every wait polls the bot's own counters; nothing is timed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from handlers.body import BODY_POLICY, MIB, BodyPolicy
from sandbox.bot_framework_fake import BotFrameworkFake
from sandbox.signing import sign_slack, slash_command_body
from sandbox.stack import SANDBOX_SECRETS, Stack
from tests.reliability.helpers import write_config
from tests.security.hardening import World, exchange, head

SLACK_SECRET = SANDBOX_SECRETS["SLACK_SIGNING_SECRET"]
Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@pytest.fixture
async def tight(tmp_path: Path) -> AsyncIterator[World]:
    """3 bodies in flight per route, 12 MiB in flight in all (GitHub's share: 6 MiB, room for one 5 MiB body)."""
    async with BotFrameworkFake() as bf:
        env = {**bf.env(), "CHATOPS_BODY_TIMEOUT": "30", "CHATOPS_MAX_PENDING_BODIES": "3",
               "CHATOPS_MAX_BODY_MIB": "12"}
        stack = Stack(database_url=f"sqlite:///{tmp_path}/bot.db", config_path=write_config(tmp_path),
                      extra_env=env)
        async with stack:
            yield World(stack, bf)


def policy(world: World) -> BodyPolicy:
    assert world.stack.app is not None
    return world.stack.app[BODY_POLICY]


async def until(check: object, what: str) -> None:
    deadline = time.monotonic() + 15  # a deadline, not a timing assertion
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(what)


async def hold(world: World, path: str, length: int, extra: list[tuple[str, bytes]] | None = None) -> Conn:
    """A client that declares ``length`` bytes and sends one."""
    r, w = await asyncio.open_connection(*world.host_port)
    w.write(head("POST", path, [("Content-Length", str(length).encode()), *(extra or [])]) + b"x")
    await w.drain()
    return r, w


async def slack_help(world: World) -> tuple[int, str]:
    raw = slash_command_body("/deploy", "help", "U0DEV", "C0DEPLOYS")
    return await world.stack.post("/slack/events", raw, {**sign_slack(SLACK_SECRET, raw),
                                                         "Content-Type": "application/x-www-form-urlencoded"})


def close(conns: list[Conn]) -> None:
    for _, w in conns:
        w.close()


async def test_slow_github_clients_fill_only_the_github_budget(tight: World) -> None:
    slow = [await hold(tight, "/github/webhook", 1000) for _ in range(3)]
    try:
        await until(lambda: policy(tight).pending.get("github") == 3, "three GitHub bodies in flight")
        status, answer = await exchange(tight.host_port, head("POST", "/github/webhook", [("Content-Length", b"10")]),
                                        timeout=10)
        assert status == 503 and b"Retry-After: 30" in answer, answer
        status, text = await slack_help(tight)  # another route: its own budget, answered at once
        assert status == 200 and "/deploy" in text, text
        status, answer = await exchange(tight.host_port, head("POST", "/aws/sns", [("Content-Length", b"2")]) + b"{}",
                                        timeout=10)
        assert status == 403, answer  # read, and refused as an unknown topic: not 503
        bf = tight.bf
        ours = bf.activity("conversationUpdate", user="aad-x", conversation="a:ours")
        assert (await bf.send(tight.stack.url, ours, token=bf.token()))[0] in (200, 202)
    finally:
        close(slow)


@pytest.mark.parametrize(("path", "route"), [("/teams/messages", "teams"), ("/aws/events", "aws")])
async def test_unauthenticated_callers_never_take_a_slot(tight: World, path: str, route: str) -> None:
    """Teams (JWT) and EventBridge (x-api-key) are checked from the headers before any body is read."""
    answers = [await exchange(tight.host_port, head("POST", path, [("Content-Length", b"1000"),
                                                                   ("Authorization", b"Bearer nope"),
                                                                   ("x-api-key", b"nope")]) + b"x", timeout=10)
               for _ in range(5)]
    assert [status for status, _ in answers] == [401] * 5  # at once, with the body never sent
    assert policy(tight).pending.get(route, 0) == 0


async def test_bytes_in_flight_beyond_a_routes_share_are_503_with_retry_after(tight: World) -> None:
    held = [await hold(tight, "/github/webhook", 5 * MIB)]  # 5 of GitHub's 6 MiB reserved before it is sent
    try:
        await until(lambda: policy(tight).held.get("github") == 5 * MIB, "the declared body reserved")
        status, answer = await exchange(tight.host_port, head("POST", "/github/webhook",
                                                              [("Content-Length", str(2 * MIB).encode())]), timeout=10)
        assert status == 503 and b"Retry-After: 30" in answer and b"retry later" in answer, answer
        status, text = await slack_help(tight)  # Slack's share is untouched
        assert status == 200 and "/deploy" in text, text
    finally:
        close(held)
    await until(lambda: policy(tight).held.get("github") == 0, "the reservation released when the client left")


async def test_a_chunked_body_reserves_as_it_arrives(tight: World, caplog: pytest.LogCaptureFixture) -> None:
    held = [await hold(tight, "/github/webhook", 5 * MIB)]
    try:
        await until(lambda: policy(tight).held.get("github") == 5 * MIB, "the declared body reserved")
        r, w = await asyncio.open_connection(*tight.host_port)
        w.write(head("POST", "/github/webhook", [("Transfer-Encoding", b"chunked")]))
        chunk = b"x" * (64 * 1024)
        for _ in range(32):  # up to 2 MiB: past the 1 MiB left of GitHub's share
            if r.at_eof() or b"\r\n\r\n" in r._buffer:
                break
            try:
                w.write(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                await w.drain()
            except ConnectionError:
                break
            await asyncio.sleep(0.01)  # pacing only: the assertions below do not depend on it
        try:
            answer = await asyncio.wait_for(r.read(), 10)
        except ConnectionResetError:  # the server closed with our unsent rest unread: its answer may be lost
            answer = b""
        w.close()
        assert not answer or (answer.startswith(b"HTTP/1.1 503") and b"Retry-After" in answer), answer[:200]
        assert any("route=github reason=bytes" in rec.getMessage() for rec in caplog.records)
        assert policy(tight).held["github"] == 5 * MIB, "the refused body's reservation was released"
    finally:
        close(held)
