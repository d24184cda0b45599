"""Shared pieces of the ingress-hardening tests: the whole bot on loopback (Slack, GitHub, Teams bot) and a
raw HTTP/1.1 client that can send what real clients refuse to (non-ASCII header bytes, a body one byte at
a time, a Content-Length it never honours)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from chatops.app import STORE
from sandbox.bot_framework_fake import BotFrameworkFake
from sandbox.signing import sign_github
from sandbox.stack import SANDBOX_SECRETS, Stack
from tests.reliability.helpers import snapshot_store, write_config


@dataclass
class World:
    stack: Stack
    bf: BotFrameworkFake

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.stack.url.removeprefix("http://").partition(":")
        return host, int(port)

    async def counts(self) -> dict[str, int]:
        assert self.stack.app is not None
        return await snapshot_store(self.stack.app[STORE])

    async def github(self, event: str, payload: dict[str, object], delivery: str) -> tuple[int, str]:
        raw = json.dumps(payload).encode()
        headers = {**sign_github(SANDBOX_SECRETS["GITHUB_WEBHOOK_SECRET"], raw), "X-GitHub-Event": event,
                   "X-GitHub-Delivery": delivery, "Content-Type": "application/json"}
        return await self.stack.post("/github/webhook", raw, headers)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with BotFrameworkFake() as bf:
        env = {**bf.env(), "CHATOPS_BODY_TIMEOUT": "2", "CHATOPS_MAX_PENDING_BODIES": "3"}
        stack = Stack(database_url=f"sqlite:///{tmp_path}/bot.db", config_path=write_config(tmp_path),
                      extra_env=env)
        async with stack:
            yield World(stack, bf)


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def head(method: str, path: str, headers: list[tuple[str, bytes]]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: 127.0.0.1"]
    lines += [name.encode() + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


async def exchange(addr: tuple[str, int], data: bytes, *, timeout: float = 15.0) -> tuple[int, bytes]:
    """Send one request as raw bytes; (status, whole answer until the server closes or ``timeout``)."""
    reader, writer = await asyncio.open_connection(*addr)
    try:
        writer.write(data)
        await writer.drain()
        answer = await asyncio.wait_for(_response(reader), timeout)
    finally:
        writer.close()
    return status_of(answer), answer


async def _response(reader: asyncio.StreamReader) -> bytes:
    """The status line, headers and (Content-Length) body of one response."""
    header = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in header.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    return header + await reader.readexactly(length)


def status_of(answer: bytes) -> int:
    parts = answer.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
