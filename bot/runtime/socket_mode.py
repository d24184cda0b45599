"""Slack over Socket Mode: the same Bolt app (same listeners, policy and idempotency keys) as ``/slack/events``,
fed by slack_sdk's aiohttp Socket Mode client instead of signed HTTP requests.

The app-level token (``xapp-``) authenticates the socket, so there is no request signature to check. What
this module adds around the SDK client:

- a bad token stops start-up with a one-line :class:`ConfigError` (the SDK would retry forever);
- reconnection with exponential backoff and jitter (the SDK retries at a fixed interval), and a readiness
  check for ``/readyz`` (503 while the socket is down);
- redelivery: Slack redelivers an envelope it saw no ack for (e.g. after the socket dropped). The ack of an
  envelope id (or of the same payload id: trigger_id, action_ts, event_id) is kept for a while and replayed
  without running the listeners again; durable effects are deduplicated by the pipeline's idempotency keys
  (``slack:cmd:<trigger_id>``, ``slack:act:...``), exactly as over HTTP, also across replicas.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections import OrderedDict
from typing import Any

from prometheus_client import Counter, Gauge
from slack_bolt.adapter.socket_mode.async_internals import run_async_bolt_app
from slack_bolt.async_app import AsyncApp
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import ConfigError
from bot.metrics import ACKS

log = logging.getLogger(__name__)
CONNECTED = Gauge("chatops_slack_socket_connected", "1 while the Slack Socket Mode connection is up")
ENVELOPES = Counter("chatops_slack_socket_envelopes_total", "Socket Mode envelopes", ["type", "result"])
AUTH_ERRORS = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired",
                         "not_allowed_token_type", "missing_scope", "invalid_token"})
Ack = dict[str, Any] | None


FOREIGN_WORKSPACE = "This Slack workspace is not allowed to use this bot; nothing was done."


def _payload_team(payload: dict[str, Any]) -> str:
    """The workspace a Socket Mode payload comes from (slash command, interaction or event)."""
    team = payload.get("team_id") or payload.get("team")
    if isinstance(team, dict):
        team = team.get("id")
    return str(team or "")


def payload_key(req: SocketModeRequest) -> str | None:
    """The payload's own id, stable across redeliveries: trigger_id, action_ts or event_id."""
    p = req.payload if isinstance(req.payload, dict) else {}
    if req.type == "slash_commands":
        return f"cmd:{p.get('trigger_id')}" if p.get("trigger_id") else None
    if req.type == "interactive":
        actions = p.get("actions") if isinstance(p.get("actions"), list) else []
        first = actions[0] if actions and isinstance(actions[0], dict) else {}
        ident = p.get("trigger_id") or first.get("action_ts")
        return f"act:{ident}:{first.get('action_id', '')}" if ident else None
    if req.type == "events_api":
        return f"evt:{p.get('event_id')}" if p.get("event_id") else None
    return None


def ack_payload(resp: BoltResponse) -> Ack:
    """What Bolt answered, as a Socket Mode ack payload (as Bolt's own adapter converts it)."""
    if not resp.body:
        return None
    content_type = (resp.headers.get("content-type") or [""])[0]
    if content_type.startswith("application/json"):
        body = json.loads(resp.body)
        return body if isinstance(body, dict) else None
    return {"text": resp.body}


class SocketMode:
    """One Socket Mode connection to Slack, kept up by :meth:`start` until :meth:`close`."""

    def __init__(self, *, bolt: AsyncApp, app_token: str, api_url: str, team_id: str = "",
                 min_backoff: float = 0.5, max_backoff: float = 30.0, remember: int = 4096,
                 ping_interval: float = 10.0) -> None:
        self.bolt = bolt
        self.team_id = team_id  # the one workspace served (slack.team_id); "" refuses every payload
        self.app_token = app_token
        self.min_backoff, self.max_backoff = min_backoff, max_backoff
        self.client = SocketModeClient(
            app_token=app_token, web_client=AsyncWebClient(base_url=api_url), auto_reconnect_enabled=False,
            ping_interval=ping_interval, logger=logging.getLogger("slack_sdk.socket_mode"),
        )
        self.client.socket_mode_request_listeners.append(self._on_request)  # type: ignore[arg-type]
        self.reconnects = 0
        self._acks: OrderedDict[str, asyncio.Future[Ack]] = OrderedDict()
        self._remember = remember
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ connection
    @property
    def connected(self) -> bool:
        s = self.client.current_session
        return not self.client.closed and s is not None and not s.closed

    def not_ready(self) -> str | None:
        return None if self.connected else "slack socket disconnected"

    async def start(self) -> None:
        """Connect once (a refused token raises ConfigError), then keep the socket up in the background."""
        try:
            await self._open()
        except ConfigError:
            await self.client.close()  # type: ignore[no-untyped-call]
            raise
        except Exception as exc:  # Slack unreachable at start: not fatal, the supervisor keeps trying
            log.warning("slack socket: first connection failed (%s); retrying with backoff", type(exc).__name__)
        self._supervisor = asyncio.create_task(self._supervise(), name="slack-socket")

    async def _open(self) -> None:
        try:
            answer = await self.client.web_client.apps_connections_open(app_token=self.app_token)
        except SlackApiError as exc:
            error = str(exc.response.get("error", "")) if exc.response is not None else ""
            if error in AUTH_ERRORS:
                raise ConfigError([f"env SLACK_APP_TOKEN: Slack refused it ({error}) when opening the Socket "
                                   "Mode connection; use the app-level token (xapp-...) with connections:write"
                                   ]) from exc
            raise
        self.client.wss_uri = str(answer["url"])
        await asyncio.wait_for(self.client.connect(), timeout=10)  # type: ignore[no-untyped-call]
        CONNECTED.set(1)
        log.info("slack socket connected")

    async def _supervise(self) -> None:
        delay = self.min_backoff
        while not self._closing.is_set():
            if self.connected:
                delay = self.min_backoff
                await self._sleep(0.2)
                continue
            CONNECTED.set(0)
            wait = delay * (0.5 + random.random() / 2)  # jitter, not crypto
            log.warning("slack socket down; reconnecting in %.1fs", wait)
            await self._sleep(wait)
            if self._closing.is_set():
                break
            try:
                await self._open()
                self.reconnects += 1
            except ConfigError as exc:
                log.error("slack socket: %s", exc)
                delay = self.max_backoff
            except Exception as exc:
                log.warning("slack socket: reconnect failed (%s)", type(exc).__name__)
                delay = min(delay * 2, self.max_backoff)

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._closing.wait(), timeout=seconds)
        except TimeoutError:
            pass

    async def close(self, *, grace: float = 10.0) -> None:
        """Stop reading new envelopes, let the ones in flight be answered (bounded), then close the socket."""
        self._closing.set()
        if self._supervisor is not None:
            self._supervisor.cancel()
        if self.client.message_receiver is not None:
            self.client.message_receiver.cancel()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout=grace)
        except TimeoutError:
            log.warning("slack socket: %d envelope(s) still in flight after %.0fs", self._inflight, grace)
        await self.client.close()  # type: ignore[no-untyped-call]
        CONNECTED.set(0)

    # ------------------------------------------------------------------ envelopes
    async def _on_request(self, client: SocketModeClient, req: SocketModeRequest) -> None:
        started = time.perf_counter()
        keys = [f"env:{req.envelope_id}"] + [k for k in (payload_key(req),) if k]
        seen = next((self._acks[k] for k in keys if k in self._acks), None)
        if seen is not None:  # a redelivery: answer it as the first delivery was answered
            ENVELOPES.labels(type=req.type, result="redelivery").inc()
            await self._send(req, await asyncio.shield(seen))
            return
        future: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()
        for k in keys:
            self._acks[k] = future
        while len(self._acks) > self._remember:
            self._acks.popitem(last=False)
        self._inflight += 1
        self._idle.clear()
        try:
            ack = await self._dispatch(req)
        except Exception:
            log.exception("slack socket: %s envelope failed; not acked, Slack may redeliver it", req.type)
            for k in keys:  # a redelivery runs again; the pipeline's idempotency keys prevent a second effect
                self._acks.pop(k, None)
            future.cancel()
            return
        finally:
            self._inflight -= 1
            if not self._inflight:
                self._idle.set()
        future.set_result(ack)
        await self._send(req, ack)
        ACKS.observe(time.perf_counter() - started)

    async def _dispatch(self, req: SocketModeRequest) -> Ack:
        if not isinstance(req.payload, dict) or not req.payload:
            ENVELOPES.labels(type=req.type, result="malformed").inc()
            log.warning("slack socket: %s envelope without a payload object; acked and dropped", req.type)
            return None
        team = _payload_team(req.payload)
        if not self.team_id or team != self.team_id:  # the same pinning as signed HTTP (handlers/slack.py)
            ENVELOPES.labels(type=req.type, result="foreign_workspace").inc()
            log.warning("slack socket: refused a %s envelope from workspace %s", req.type, str(team)[:20])
            return {"response_type": "ephemeral", "text": FOREIGN_WORKSPACE} if req.type == "slash_commands" else None
        resp = await run_async_bolt_app(self.bolt, req)
        if resp.status >= 500:
            raise RuntimeError(f"listener failed with {resp.status}")
        ENVELOPES.labels(type=req.type, result=str(resp.status)).inc()
        return ack_payload(resp) if resp.status == 200 else None

    async def _send(self, req: SocketModeRequest, ack: Ack) -> None:
        try:
            await self.client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id, payload=ack))
        except Exception as exc:  # the socket dropped before the ack: Slack redelivers, the ack is replayed
            log.warning("slack socket: ack of a %s envelope not sent (%s)", req.type, type(exc).__name__)
