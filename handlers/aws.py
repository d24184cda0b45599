"""AWS ingress: EventBridge API destination (POST /aws/events) and SNS HTTPS subscription (POST /aws/sns).

Verify first (fail closed), parse, record durably in the inbox, answer fast; the SecurityWorker does the rest.
Wiring (chatops/app.py): ``add_routes(app.router, store=store, settings=security_settings(config), api_key=...)``.
"""

from __future__ import annotations

import hmac
import json
import logging
import ssl
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bot.alerts.normalize import NotCloudTrail, check_payload, inbox_key
from bot.alerts.settings import SecuritySettings
from bot.alerts.sns import CertLoader, SnsVerifier
from bot.alerts.store_ops import bump
from bot.alerts.worker import SOURCE
from bot.domain import AuditEntry
from bot.errors import ConfigError, VerificationError
from bot.store.store import Store
from bot.wire import MalformedBody, decode_utf8, parse_json
from handlers.body import AWS_MAX_BODY, BodyRefused, read_body

log = logging.getLogger(__name__)
MAX_BODY = AWS_MAX_BODY  # read before authentication (SNS verifies a signature inside the body)


def _json(status: int, **body: Any) -> web.Response:
    return web.json_response(body, status=status)


# the two answers of an accepted EventBridge event, encoded once (a Response itself is per request)
_RECORDED = {added: json.dumps({"ok": True, "duplicate": not added}).encode() for added in (True, False)}


def _payload_kind(obj: dict[str, Any]) -> str:
    return "eventbridge" if "detail-type" in obj else "cloudtrail"


class EventBridgeHandler:
    """``POST /aws/events``: one EventBridge event, authenticated by the ``x-api-key`` header."""

    def __init__(self, store: Store, *, api_key: str) -> None:
        if not api_key:
            raise ConfigError(["env CHATOPS_EVENTS_API_KEY: is not set"])
        self.store = store
        self._key = api_key.encode()

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        given = request.headers.get("x-api-key", "")
        # headers are surrogate-escaped text: a non-ASCII key cannot match (and could not be encoded)
        if not given.isascii() or not hmac.compare_digest(given.encode(), self._key):
            log.warning("eventbridge request rejected: bad or missing api key")
            return _json(401, error="unauthorized")
        try:
            raw = await read_body(request, route="aws", limit=MAX_BODY)
        except BodyRefused as exc:
            return await exc.answer(request)
        try:
            text = decode_utf8(raw)
            obj = parse_json(text)
        except MalformedBody as exc:
            return _json(400, error=str(exc))
        try:
            records = check_payload(obj)
        except NotCloudTrail as exc:
            return _json(400, error=f"not a CloudTrail or known AWS alert event: {exc}")
        key = inbox_key(obj, records)
        # the verified body as it arrived (the worker parses it once more; re-encoding it here cost as much)
        added = await self.store.record_inbox(source=SOURCE, key=key, kind=_payload_kind(obj), body=text)
        log.debug("eventbridge event recorded: key=%s duplicate=%s", key[:80], not added)
        return web.Response(body=_RECORDED[added], content_type="application/json")


class SnsHandler:
    """``POST /aws/sns``: SNS HTTPS subscription. Every message's signature is verified; topics are allow-listed."""

    def __init__(self, store: Store, *, settings: SecuritySettings, verifier: SnsVerifier) -> None:
        self.store = store
        self.topics = frozenset(settings.sns_topics)
        self.verifier = verifier

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        try:
            raw = await read_body(request, route="aws", limit=MAX_BODY)
        except BodyRefused as exc:
            return await exc.answer(request)
        try:
            msg = parse_json(raw)
        except MalformedBody as exc:
            return _json(400, error=str(exc))
        if not isinstance(msg, dict) or not all(isinstance(v, str) for v in msg.values()):
            return _json(400, error="not an SNS message")
        mtype = msg.get("Type", "")
        header = request.headers.get("x-amz-sns-message-type")
        if header is not None and header != mtype:
            return _json(400, error="message type header does not match the body")
        if msg.get("TopicArn") not in self.topics:  # before anything is fetched
            log.warning("sns message rejected: topic not configured")
            return _json(403, error="unknown topic")
        try:
            await self.verifier.verify(msg)
        except VerificationError as exc:
            log.warning("sns message rejected: %s", exc)
            return _json(403, error="signature verification failed")
        if mtype == "SubscriptionConfirmation":
            return await self._confirm(msg)
        if mtype == "UnsubscribeConfirmation":
            await self._audit("security.sns.unsubscribed", msg["TopicArn"], "ok")
            return _json(200, ok=True)
        return await self._notification(msg)

    async def _confirm(self, msg: dict[str, str]) -> web.Response:
        try:
            await self.verifier.confirm_subscription(msg)
        except VerificationError as exc:
            log.warning("sns subscription not confirmed: %s", exc)
            await self._audit("security.sns.subscribe", msg["TopicArn"], "error", str(exc))
            return _json(403 if "host" in str(exc) or "https" in str(exc) else 502, error="not confirmed")
        await self._audit("security.sns.subscribe", msg["TopicArn"], "ok")
        log.info("sns subscription confirmed")
        return _json(200, ok=True, confirmed=True)

    async def _notification(self, msg: dict[str, str]) -> web.Response:
        try:
            obj = parse_json(msg.get("Message", ""))
            check_payload(obj)
        except (ValueError, NotCloudTrail) as exc:
            reason = str(exc) if isinstance(exc, NotCloudTrail) else "message is not JSON"
            async with self.store.unit() as u:  # authentic but useless: counted, SNS must not retry
                await bump(u.c, "sns_ignored")
            log.info("sns notification ignored: id=%s reason=%s", msg.get("MessageId", ""), reason)
            return _json(200, ok=True, ignored=reason)
        added = await self.store.record_inbox(source=SOURCE, key=f"sns:{msg.get('MessageId', '')}",
                                              kind=_payload_kind(obj), body=msg.get("Message", ""))
        return _json(200, ok=True, duplicate=not added)

    async def _audit(self, action: str, target: str, result: str, detail: str = "") -> None:
        async with self.store.unit() as u:
            await u.audit(AuditEntry(at=datetime.now(UTC), actor="system:sns", action=action, target=target,
                                     channel="", result=result, detail=detail[:200]))


def add_routes(
    router: web.UrlDispatcher,
    *,
    store: Store,
    settings: SecuritySettings,
    api_key: str,
    cert_loader: CertLoader | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> SnsVerifier:
    """Register ``POST /aws/events`` (only with an API key: without one nothing could pass its check, and
    bot/environment.py requires the key whenever the config routes events there) and ``POST /aws/sns``. Returns
    the SNS verifier (its cert cache)."""
    verifier = SnsVerifier(host_pattern=settings.cert_host_pattern, cert_loader=cert_loader,
                           ssl_context=ssl_context)
    if api_key:
        router.add_post("/aws/events", EventBridgeHandler(store, api_key=api_key))
    router.add_post("/aws/sns", SnsHandler(store, settings=settings, verifier=verifier))
    return verifier

