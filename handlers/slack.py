"""Slack ingress: Bolt verifies the signature, we parse, decide through the pipeline, and ack in-request.

Only a few milliseconds of database work happen before the ack; dispatches and chat messages are
done afterwards by the workers from durable state.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.deploys.commands import parse
from bot.deploys.pipeline import Pipeline
from bot.domain import Actor, Platform, Reply
from bot.egress.slack import render_reply_text, render_slack
from bot.metrics import ACKS, REQUESTS
from bot.wire import MalformedBody, decode_utf8, has_lone_surrogate
from handlers.body import SLACK_MAX_BODY, BodyRefused, read_body

log = logging.getLogger(__name__)
_REQUEST_BUTTONS = re.compile(r"^(approve|reject|rerun|rollback|promote)$")
_ALERT_BUTTONS = re.compile(r"^sec_(ack|assign|resolve)$")
FOREIGN_WORKSPACE = "This Slack workspace is not allowed to use this bot; nothing was done."


def slack_actor(pipeline: Pipeline, user_id: str, channel: str) -> Actor:
    person = pipeline.config.person_by("slack", user_id)
    return Actor(Platform.SLACK, user_id, person.key if person else None, channel)


def reply_payload(reply: Reply) -> dict[str, Any]:
    """The ephemeral answer to a command: the reply's text escaped for mrkdwn (bot/egress/slack.py), then its cards."""
    text = render_reply_text(reply)[:3000]
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    for card in reply.cards:
        _, card_blocks = render_slack(card)
        if len(blocks) + len(card_blocks) > 50:
            break
        blocks.extend(card_blocks)
    return {"response_type": "ephemeral", "text": text, "blocks": blocks}


AlertAction = Callable[..., Awaitable[str]]
SLACK_HOOKS_URL = "https://hooks.slack.com"


def allowed_response_url(url: str, hooks_url: str = SLACK_HOOKS_URL) -> bool:
    """True when ``url`` is on Slack's hooks host (scheme, host and port of ``hooks_url``): a signed body
    may name any URL, and the bot must not POST to whatever it names."""
    try:
        got, allowed = urlsplit(url), urlsplit(hooks_url)
        same_port = got.port == allowed.port
    except ValueError:
        return False
    return (bool(got.hostname) and got.scheme == allowed.scheme and got.hostname == allowed.hostname
            and same_port and not got.username and not got.password)


def _response_url(raw: object, hooks_url: str) -> str:
    """The response_url a request carries when it may be used, else "" (refused URLs are logged)."""
    url = str(raw or "")
    if url and not allowed_response_url(url, hooks_url):
        log.warning("slack response_url refused: not on the hooks host %s", hooks_url)
        return ""
    return url


def build_bolt(*, pipeline: Pipeline, signing_secret: str, client: AsyncWebClient,
               alert_action: AlertAction | None = None, hooks_url: str = SLACK_HOOKS_URL) -> AsyncApp:
    token = client.token or ""

    async def authorize(enterprise_id: str | None = None, team_id: str | None = None, **_: Any) -> AuthorizeResult:
        # Single-workspace app: the bot token is known, so answering commands must not depend on an
        # auth.test round trip to Slack (Bolt's default), which fails while Slack's Web API is down.
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=token)

    # SlackHandler verifies every request's signature before Bolt parses it (Bolt would parse first), and
    # never hands Bolt an unverified request: checking a second time here would only repeat the HMAC
    app = AsyncApp(signing_secret=signing_secret, client=client, process_before_response=True,
                   authorize=authorize, request_verification_enabled=False, logger=logging.getLogger("slack_bolt"))

    async def on_command(ack: AsyncAck, command: dict[str, Any]) -> None:
        name = str(command.get("command", "")).lstrip("/")
        actor = slack_actor(pipeline, str(command.get("user_id", "")), str(command.get("channel_id", "")))
        parsed = parse(str(command.get("text", "")), command=name, config=pipeline.config)
        if isinstance(parsed, Reply):
            if not parsed.ok:
                await pipeline.invalid(actor, name, parsed.text.splitlines()[0])
            await ack(**reply_payload(parsed))
            return
        trigger = str(command.get("trigger_id", "")) or f"{actor.platform_id}:{command.get('text', '')}"
        reply = await pipeline.handle(parsed, actor, idem_key=f"slack:cmd:{trigger}",
                                      response_url=_response_url(command.get("response_url"), hooks_url))
        await ack(**reply_payload(reply))

    for cmd in ("/deploy", "/approve", "/rollback"):
        app.command(cmd)(on_command)

    async def on_request_button(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        user = str(body.get("user", {}).get("id", ""))
        channel = str((body.get("channel") or {}).get("id", ""))
        actor = slack_actor(pipeline, user, channel)
        key = f"slack:act:{body.get('trigger_id') or action.get('action_ts')}:{action.get('action_id')}"
        response_url = _response_url(body.get("response_url"), hooks_url)
        reply = await pipeline.button(str(action.get("action_id")), str(action.get("value", ""))[:40], actor,
                                      idem_key=key, response_url=response_url)
        if response_url:
            await pipeline.reply_later(response_url, reply.text, key=f"{key}:reply")

    app.action(_REQUEST_BUTTONS)(on_request_button)

    async def on_alert_button(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        user = str(body.get("user", {}).get("id", ""))
        actor = slack_actor(pipeline, user, str((body.get("channel") or {}).get("id", "")))
        text = "Security alerts are not enabled." if alert_action is None else await alert_action(
            action_id=str(action.get("action_id")), alert_id=str(action.get("value", ""))[:64], actor=actor)
        response_url = _response_url(body.get("response_url"), hooks_url)
        if response_url:
            key = f"slack:act:{body.get('trigger_id') or action.get('action_ts')}:reply"
            await pipeline.reply_later(response_url, text, key=key)

    app.action(_ALERT_BUTTONS)(on_alert_button)
    return app


class SlackHandler:
    def __init__(self, bolt: AsyncApp, *, signing_secret: str, team_id: str) -> None:
        if not signing_secret:
            raise ValueError("SLACK_SIGNING_SECRET is required")
        self.bolt = bolt
        self.verifier = SignatureVerifier(signing_secret)
        self.team_id = team_id  # "" (no slack section): every request is refused

    def _workspace(self, request: AsyncBoltRequest) -> str | None:
        """None when the request may proceed; else the refusal. Slack's url_verification carries no team."""
        if request.body.get("type") == "url_verification":
            return None
        team = request.context.team_id
        if not team:
            return "payload names no workspace"
        return None if self.team_id and team == self.team_id else FOREIGN_WORKSPACE

    def _signed(self, body: str, request: web.Request) -> bool:
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        # headers arrive as surrogate-escaped text: anything not ASCII cannot be a valid signature (and would
        # make the HMAC comparison raise)
        if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
            return False
        if not signature or not signature.isascii():
            return False
        return self.verifier.is_valid(body=body, timestamp=timestamp, signature=signature)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        try:
            raw = await read_body(request, route="slack", limit=SLACK_MAX_BODY)
        except BodyRefused as exc:
            REQUESTS.labels(route="slack", status=str(exc.status)).inc()
            return await exc.answer(request)
        try:  # Slack signs UTF-8 text; anything else cannot carry a valid signature
            body = decode_utf8(raw)
        except MalformedBody as exc:
            REQUESTS.labels(route="slack", status="400").inc()
            return web.json_response({"error": str(exc)}, status=400)
        # verify before parsing: Bolt parses the body when it builds its request, before its own check
        if not self._signed(body, request):
            log.warning("slack request refused: invalid or missing signature")
            REQUESTS.labels(route="slack", status="401").inc()
            return web.json_response({"error": "invalid or missing Slack signature"}, status=401)
        try:
            bolt_request = AsyncBoltRequest(body=body, query=request.query_string, headers=dict(request.headers))
        except (MalformedBody, ValueError, RecursionError, AttributeError, TypeError, LookupError) as exc:
            REQUESTS.labels(route="slack", status="400").inc()
            return web.json_response({"error": f"malformed body ({type(exc).__name__})"}, status=400)
        if not isinstance(bolt_request.body, dict) or not bolt_request.body:
            REQUESTS.labels(route="slack", status="400").inc()
            return web.json_response({"error": "body is not a Slack payload"}, status=400)
        if has_lone_surrogate(bolt_request.body):  # e.g. a button value "\ud800": valid JSON, not Unicode text
            REQUESTS.labels(route="slack", status="400").inc()
            return web.json_response({"error": "payload holds a lone surrogate (not Unicode text)"}, status=400)
        refusal = self._workspace(bolt_request)
        if refusal is not None:  # a foreign workspace gets a 200 (Slack shows its text; other codes as "failed")
            status = 200 if refusal == FOREIGN_WORKSPACE else 400
            log.warning("slack request refused: %s team=%s", "workspace not allowed" if status == 200 else refusal,
                        str(bolt_request.context.team_id)[:20])
            REQUESTS.labels(route="slack", status=str(status)).inc()
            if status == 400:
                return web.json_response({"error": refusal}, status=400)
            return web.json_response({"response_type": "ephemeral", "text": FOREIGN_WORKSPACE})
        bolt_response = await self.bolt.async_dispatch(bolt_request)
        ACKS.observe(time.perf_counter() - started)
        REQUESTS.labels(route="slack", status=str(bolt_response.status)).inc()
        return await to_aiohttp_response(bolt_response)
