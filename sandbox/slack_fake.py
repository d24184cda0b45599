"""Loopback fake of the Slack Web API (``/api/<method>``) and of ``response_url`` endpoints.

Like Slack, every Web API answer is HTTP 200 with ``{"ok": false, "error": ...}`` on failure, except
rate limits (HTTP 429, ``Retry-After`` header, ``error: ratelimited``) and injected 5xx. Arguments are
accepted form-encoded (JSON-valued fields as strings) or as JSON, the way slack_sdk sends them; the
token comes from ``Authorization: Bearer`` or a ``token`` argument.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from sandbox.base import LoopbackServer
from sandbox.signing import block_actions_body, sign_slack, slash_command_body
from sandbox.slack_blocks import BlockError, validate_blocks

MAX_TEXT = 40_000
WRITE_METHODS = ("chat.postMessage", "chat.update", "chat.postEphemeral")


@dataclass
class SlackCall:
    method: str
    args: dict[str, Any]
    at: float = field(default_factory=time.time)
    ok: bool = False
    error: str | None = None
    response: dict[str, Any] = field(default_factory=dict)


@dataclass
class SlackMessage:
    channel: str
    ts: str
    text: str | None
    blocks: list[dict[str, Any]] | None
    attachments: list[dict[str, Any]] | None
    thread_ts: str | None
    edits: int = 0


class SlackError(Exception):
    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error, self.extra = error, extra


class SlackFake(LoopbackServer):
    def __init__(
        self,
        token: str = "xoxb-test-token",
        signing_secret: str = "sandbox-signing-secret",
        *,
        known_channels: set[str] | None = None,
        team_id: str = "T0SANDBOX",
        bot_user_id: str = "U0BOT",
        bot_id: str = "B0BOT",
        app_token: str = "xapp-1-A0SANDBOX-1-sandbox",
    ) -> None:
        self.token, self.signing_secret = token, signing_secret
        self.app_token = app_token  # apps.connections.open takes the app-level token, nothing else
        self.socket_mode: Any = None  # a sandbox.socket_mode_fake.SocketModeFake: its ws:// URL is handed out
        self.known_channels = known_channels
        self.team_id, self.bot_user_id, self.bot_id = team_id, bot_user_id, bot_id
        self.calls: list[SlackCall] = []
        self.messages: dict[tuple[str, str], SlackMessage] = {}
        self.response_posts: list[tuple[str, dict[str, Any]]] = []
        self._clock = 1_700_000_000_000_100  # microseconds; ts values are unique and increasing
        self._session: aiohttp.ClientSession | None = None
        self.latency = 0.0  # seconds each write method takes (a slow Slack keeps the bot's leases held longer)
        super().__init__()

    def _routes(self, app: web.Application) -> None:
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/response/{key}", self._response)

    # public helpers ----------------------------------------------------------------------------
    def response_url(self, key: str) -> str:
        return f"{self.url}/response/{key}"

    def fail(self, method: str, status: int = 500, times: int = 1, retry_after: int = 1) -> None:
        """The next ``times`` calls of ``method`` (or ``response`` for response URLs) answer ``status``."""
        self._add_fault(
            f"^{method.replace('.', '[.]')}$", status, times, retry_after if status == 429 else None
        )

    def posts(self, channel: str | None = None) -> list[SlackCall]:
        return self._ok("chat.postMessage", lambda c: channel in (None, c.args.get("channel")))

    def updates(self, channel: str | None = None, ts: str | None = None) -> list[SlackCall]:
        return self._ok(
            "chat.update",
            lambda c: channel in (None, c.args.get("channel")) and ts in (None, c.args.get("ts")),
        )

    def ephemerals(self, user: str | None = None) -> list[SlackCall]:
        return self._ok("chat.postEphemeral", lambda c: user in (None, c.args.get("user")))

    def responses(self, key: str | None = None) -> list[dict[str, Any]]:
        return [body for k, body in self.response_posts if key in (None, k)]

    def thread(self, channel: str, thread_ts: str) -> list[SlackMessage]:
        return [m for m in self.messages.values() if m.channel == channel and m.thread_ts == thread_ts]

    def _ok(self, method: str, keep: Any) -> list[SlackCall]:
        return [c for c in self.calls if c.method == method and c.ok and keep(c)]

    # driving the bot like Slack does -------------------------------------------------------------
    async def send_command(
        self,
        bot_url: str,
        command: str,
        text: str,
        *,
        user_id: str,
        channel_id: str,
        key: str | None = None,
        **extra: Any,
    ) -> tuple[int, str]:
        """POST a signed slash command to the bot; its ``response_url`` points at this fake (``key``)."""
        key = key or f"cmd-{time.time_ns()}"
        body = slash_command_body(
            command,
            text,
            user_id,
            channel_id,
            response_url=self.response_url(key),
            team_id=self.team_id,
            **extra,
        )
        return await self._post_signed(bot_url, body)

    async def send_action(
        self,
        bot_url: str,
        action_id: str,
        value: str,
        *,
        user_id: str,
        channel_id: str,
        message_ts: str,
        key: str | None = None,
        **extra: Any,
    ) -> tuple[int, str]:
        """POST a signed button click (``block_actions``) to the bot."""
        key = key or f"act-{time.time_ns()}"
        body = block_actions_body(
            action_id,
            value,
            user_id,
            channel_id,
            message_ts,
            response_url=self.response_url(key),
            team_id=self.team_id,
            **extra,
        )
        return await self._post_signed(bot_url, body)

    async def _post_signed(self, url: str, body: bytes) -> tuple[int, str]:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        headers = {
            **sign_slack(self.signing_secret, body),
            "Content-Type": "application/x-www-form-urlencoded",
        }
        async with self._session.post(url, data=body, headers=headers) as resp:
            return resp.status, await resp.text()

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        await super().stop()

    # Web API -----------------------------------------------------------------------------------
    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await _read_args(request)
        call = SlackCall(method, args)
        if self.latency and method in WRITE_METHODS:
            await asyncio.sleep(self.latency)
        self.calls.append(call)
        fault = self._take_fault(method)
        if fault is not None:
            call.error = "ratelimited" if fault.status == 429 else "fatal_error"
            headers = {"Retry-After": str(fault.retry_after)} if fault.status == 429 else {}
            return web.json_response({"ok": False, "error": call.error}, status=fault.status, headers=headers)
        try:
            self._check_auth(request, args, self.app_token if method == "apps.connections.open" else self.token)
            handler = getattr(self, "_m_" + method.replace(".", "_"), None)
            if handler is None:
                raise SlackError("unknown_method")
            result: dict[str, Any] = {"ok": True, **handler(args)}
            call.ok = True
        except SlackError as exc:
            call.error = exc.error
            result = {"ok": False, "error": exc.error, **exc.extra}
        call.response = result
        return web.json_response(result)

    def _check_auth(self, request: web.Request, args: dict[str, Any], expected: str) -> None:
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else args.pop("token", None)
        if not token:
            raise SlackError("not_authed")
        if token != expected:
            raise SlackError("invalid_auth")

    def _channel(self, args: dict[str, Any]) -> str:
        channel = args.get("channel")
        if not channel:
            raise SlackError("channel_not_found")
        # a user id posts into the app's DM with that user (chat.postMessage docs)
        known = channel in self.known_channels if self.known_channels is not None else channel[:1] in "CDGUW"
        if not known:
            raise SlackError("channel_not_found")
        return str(channel)

    def _content(self, args: dict[str, Any], *, required: bool = True) -> None:
        if required and not any(args.get(k) for k in ("text", "blocks", "attachments")):
            raise SlackError("no_text")
        if len(str(args.get("text") or "")) > MAX_TEXT:
            raise SlackError("msg_too_long")
        if isinstance(args.get("blocks"), str):
            raise SlackError("invalid_blocks_format")
        if args.get("blocks") is not None:
            try:
                validate_blocks(args["blocks"])
            except BlockError as exc:
                raise SlackError(
                    "invalid_blocks", errors=[str(exc)], response_metadata={"messages": [f"[ERROR] {exc}"]}
                ) from None
        if args.get("attachments") is not None and not isinstance(args["attachments"], list):
            raise SlackError("invalid_attachments")

    def _next_ts(self) -> str:
        self._clock = max(self._clock + 100, int(time.time() * 1_000_000))
        return f"{self._clock // 1_000_000}.{self._clock % 1_000_000:06d}"

    def _bot_message(self, msg: SlackMessage) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "message",
            "subtype": "bot_message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "team": self.team_id,
            "ts": msg.ts,
            "text": msg.text or "",
        }
        for name in ("blocks", "attachments", "thread_ts"):
            if getattr(msg, name) is not None:
                out[name] = getattr(msg, name)
        return out

    def _m_apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if self.socket_mode is None:
            raise SlackError("socket_mode_not_enabled")  # hypothetical name: the app has Socket Mode off
        return {"url": self.socket_mode.ws_url}

    def _m_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://sandbox.slack.com/",
            "team": "Sandbox",
            "user": "chatops",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        self._content(args)
        thread_ts = args.get("thread_ts") or None
        if thread_ts and (channel, thread_ts) not in self.messages:
            raise SlackError("thread_not_found")
        msg = SlackMessage(
            channel, self._next_ts(), args.get("text"), args.get("blocks"), args.get("attachments"), thread_ts
        )
        self.messages[(channel, msg.ts)] = msg
        return {"channel": channel, "ts": msg.ts, "message": self._bot_message(msg)}

    def _m_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        msg = self.messages.get((channel, str(args.get("ts"))))
        if msg is None:
            raise SlackError("message_not_found")
        self._content(args, required=False)
        for name in ("text", "blocks", "attachments"):
            if name in args:
                setattr(msg, name, args[name])
        msg.edits += 1
        return {"channel": channel, "ts": msg.ts, "text": msg.text or "", "message": self._bot_message(msg)}

    def _m_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        self._channel(args)
        if not args.get("user"):
            raise SlackError("user_not_in_channel")
        self._content(args)
        return {"message_ts": self._next_ts()}

    def _m_views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args.get("view")
        if not args.get("trigger_id"):
            raise SlackError("invalid_trigger_id")
        if not isinstance(view, dict) or view.get("type") != "modal":
            raise SlackError("invalid_arguments")
        try:
            validate_blocks(view.get("blocks", []), max_blocks=100)
        except BlockError as exc:
            raise SlackError(
                "invalid_arguments", response_metadata={"messages": [f"[ERROR] {exc}"]}
            ) from None
        return {"view": {**view, "id": f"V{time.time_ns() % 10**10}", "team_id": self.team_id}}

    # response_url --------------------------------------------------------------------------------
    async def _response(self, request: web.Request) -> web.Response:
        key = request.match_info["key"]
        fault = self._take_fault("response")
        if fault is not None:
            return web.Response(status=fault.status, text="error")
        try:
            body = await request.json()
        except ValueError:
            return web.Response(status=400, text="invalid_payload")
        if not isinstance(body, dict) or body.get("response_type", "ephemeral") not in (
            "ephemeral",
            "in_channel",
        ):
            return web.Response(status=400, text="invalid_payload")
        try:
            self._content(body, required=not body.get("delete_original"))
        except SlackError as exc:
            return web.Response(status=400, text=exc.error)
        self.response_posts.append((key, body))
        return web.json_response({"ok": True})


async def _read_args(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            return {}
        return dict(body) if isinstance(body, dict) else {}
    args: dict[str, Any] = dict(request.query)
    args.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
    for name in ("blocks", "attachments", "view", "metadata"):
        if isinstance(args.get(name), str):
            try:
                args[name] = json.loads(args[name])
            except ValueError:
                pass  # left as a string: answered invalid_blocks_format / invalid_arguments
    return args
