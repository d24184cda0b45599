"""Loopback fake of Slack's Socket Mode side: the WebSocket that ``apps.connections.open`` (on the Slack fake)
points at. Like Slack it greets each connection with ``hello``, sends envelopes (``slash_commands``,
``interactive``, ``events_api``) with an ``envelope_id``, and expects an ack ``{"envelope_id": ..., "payload":
...}`` back. Tests can drop the connection and redeliver an envelope (``retry_attempt`` + 1), as Slack does
when it saw no ack.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

from sandbox.base import LoopbackServer
from sandbox.signing import block_actions_body, slash_command_body


@dataclass
class Ack:
    envelope_id: str
    payload: dict[str, Any] | None
    at: float = field(default_factory=time.monotonic)


def command_payload(command: str, text: str, **kwargs: Any) -> dict[str, Any]:
    """A slash command as Socket Mode carries it: the form fields Slack would POST, as a JSON object."""
    return dict(parse_qsl(slash_command_body(command, text, **kwargs).decode()))


def action_payload(action_id: str, value: str, **kwargs: Any) -> dict[str, Any]:
    """A button click (``block_actions``) as Socket Mode carries it: the interaction payload object."""
    body = dict(parse_qsl(block_actions_body(action_id, value, **kwargs).decode()))
    payload: dict[str, Any] = json.loads(body["payload"])
    return payload


class SocketModeFake(LoopbackServer):
    def __init__(self) -> None:
        self.sockets: list[web.WebSocketResponse] = []
        self.connections = 0  # connections ever accepted
        self.sent: dict[str, dict[str, Any]] = {}  # envelope_id -> last envelope sent
        self.acks: list[Ack] = []
        self.stray_acks: list[dict[str, Any]] = []  # acks whose envelope_id we never sent
        self.sent_at: dict[str, float] = {}
        self._changed = asyncio.Condition()
        super().__init__()

    def _routes(self, app: web.Application) -> None:
        app.router.add_get("/link", self._link)

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + f"/link?ticket={uuid.uuid4().hex}"

    # driving the bot ---------------------------------------------------------------------------
    async def wait_connections(self, n: int, *, timeout: float = 20.0) -> None:
        """Wait until ``n`` connections were accepted in all and one is open."""
        await self._wait(lambda: self.connections >= n and bool(self.sockets), timeout, f"{n} connection(s)")

    async def send(self, type_: str, payload: dict[str, Any], *, envelope_id: str | None = None,
                   accepts_response_payload: bool = True) -> str:
        """Send one envelope on the open connection; returns its envelope_id."""
        envelope_id = envelope_id or str(uuid.uuid4())
        envelope = {"type": type_, "envelope_id": envelope_id, "payload": payload,
                    "accepts_response_payload": accepts_response_payload}
        if type_ == "events_api":
            envelope.update(retry_attempt=0, retry_reason="")
        await self._send(envelope)
        return envelope_id

    async def redeliver(self, envelope_id: str) -> None:
        """Send an envelope again, as Slack does when it saw no ack."""
        envelope = dict(self.sent[envelope_id])
        envelope["retry_attempt"] = int(envelope.get("retry_attempt") or 0) + 1
        envelope["retry_reason"] = "timeout"
        await self._send(envelope)

    async def raw(self, text: str) -> None:
        """Send any text frame (malformed envelopes)."""
        await self.sockets[-1].send_str(text)

    async def ack(self, envelope_id: str, *, count: int = 1, timeout: float = 10.0) -> Ack:
        """The ``count``-th ack of ``envelope_id`` (waits for it)."""
        await self._wait(lambda: len(self.acks_of(envelope_id)) >= count, timeout, f"ack of {envelope_id}")
        return self.acks_of(envelope_id)[count - 1]

    def acks_of(self, envelope_id: str) -> list[Ack]:
        return [a for a in self.acks if a.envelope_id == envelope_id]

    async def drop(self) -> None:
        """Close every open connection from Slack's side (the bot must reconnect)."""
        for ws in list(self.sockets):
            await ws.close(code=1001, message=b"going away")

    async def _send(self, envelope: dict[str, Any]) -> None:
        if not self.sockets:
            raise RuntimeError("no Socket Mode connection is open")
        self.sent[envelope["envelope_id"]] = envelope
        self.sent_at[envelope["envelope_id"]] = time.monotonic()
        await self.sockets[-1].send_str(json.dumps(envelope))

    async def _wait(self, ok: Any, timeout: float, what: str) -> None:
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(ok), timeout)
            except TimeoutError:
                raise TimeoutError(f"socket mode fake: no {what} within {timeout}s") from None

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # the WebSocket -------------------------------------------------------------------------------
    async def _link(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.sockets.append(ws)
        self.connections += 1
        await ws.send_str(json.dumps({"type": "hello", "num_connections": len(self.sockets),
                                      "debug_info": {"host": "sandbox", "approximate_connection_time": 3600},
                                      "connection_info": {"app_id": "A0SANDBOX"}}))
        await self._notify()
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self._on_text(msg.data)
        finally:
            if ws in self.sockets:
                self.sockets.remove(ws)
            await self._notify()
        return ws

    async def _on_text(self, text: str) -> None:
        try:
            data = json.loads(text)
        except ValueError:
            self.stray_acks.append({"raw": text})
            return
        envelope_id = data.get("envelope_id") if isinstance(data, dict) else None
        if not isinstance(envelope_id, str) or envelope_id not in self.sent:
            self.stray_acks.append(data if isinstance(data, dict) else {"raw": text})
        else:
            payload = data.get("payload")
            self.acks.append(Ack(envelope_id, payload if isinstance(payload, dict) else None))
        await self._notify()

    async def stop(self) -> None:
        await self.drop()
        await super().stop()
