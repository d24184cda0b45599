"""Teams bot ingress: ``POST /teams/messages``. Verify the Bot Framework JWT first, then hand the activity
to the Agents SDK adapter (which calls ``bot.egress.teams_bot.TeamsBot``).

The token check follows the Bot Framework "authenticate requests from the connector" rules (the token itself is
verified from the header before the body is read, so a caller without one never takes a body slot): a Bearer JWT
signed RS256 by a key from the OpenID metadata's ``jwks_uri`` (the key's ``endorsements``, when present,
must include the activity's channelId), issuer ``https://api.botframework.com``, audience = our app id,
``exp`` required (5 minutes of clock skew allowed), and a ``serviceurl`` claim equal to the activity's
``serviceUrl``. Anything else is a 401 and nothing runs. An authentic activity from a tenant other than
``teams.tenant_id`` is a 403 and nothing runs (no conversation reference is stored). The SDK's own
validator is not used because its key endpoints are fixed to Microsoft's hosts; ours reads
``TEAMS_OPENID_METADATA_URL`` so tests can serve keys on loopback. The check is attached to this one route only.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

import aiohttp
import jwt
from aiohttp import web

from bot.errors import VerificationError
from bot.wire import MalformedBody, parse_json
from handlers.body import TEAMS_MAX_BODY, BodyRefused, read_body

if TYPE_CHECKING:  # the Agents SDK is imported only by a bot that serves Teams (0.4 s of every start otherwise)
    from microsoft_agents.hosting.aiohttp import CloudAdapter

    from bot.egress.teams_bot import TeamsBot

log = logging.getLogger(__name__)

DEFAULT_OPENID_METADATA_URL = "https://login.botframework.com/v1/.well-known/openidconfiguration"
BOT_FRAMEWORK_ISSUERS = ("https://api.botframework.com",)
ROUTE = "/teams/messages"


class BotTokenVerifier:
    """Validates Bot Framework connector tokens; keys come from OpenID metadata and are cached."""

    def __init__(self, *, app_id: str, metadata_url: str = DEFAULT_OPENID_METADATA_URL,
                 issuers: Iterable[str] = BOT_FRAMEWORK_ISSUERS, leeway_s: float = 300.0,
                 keys_ttl_s: float = 24 * 3600.0, refetch_after_s: float = 60.0) -> None:
        if not app_id:
            raise ValueError("the Teams bot needs its app id (TEAMS_APP_ID) to check token audiences")
        self.app_id = app_id
        self._metadata_url = metadata_url
        self._issuers = list(issuers)
        self._leeway = leeway_s
        self._ttl = keys_ttl_s
        self._refetch_after = refetch_after_s
        self._keys: dict[str, tuple[jwt.PyJWK, tuple[str, ...] | None]] = {}
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    async def _fetch_keys(self) -> None:
        timeout = aiohttp.ClientTimeout(total=10)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                async with session.get(self._metadata_url) as resp:
                    resp.raise_for_status()
                    metadata = await resp.json(content_type=None)
                jwks_uri = metadata.get("jwks_uri") if isinstance(metadata, dict) else None
                if not isinstance(jwks_uri, str) or not jwks_uri:
                    raise VerificationError("openid metadata has no jwks_uri")
                async with session.get(jwks_uri) as resp:
                    resp.raise_for_status()
                    jwks = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("fetching teams token keys failed error=%s", type(exc).__name__)
            raise VerificationError("signing keys unavailable") from None
        keys: dict[str, tuple[jwt.PyJWK, tuple[str, ...] | None]] = {}
        for entry in jwks.get("keys", []) if isinstance(jwks, dict) else []:
            if not isinstance(entry, dict) or not entry.get("kid"):
                continue
            try:
                key = jwt.PyJWK.from_dict(entry)
            except jwt.PyJWTError:
                continue
            endorsements = entry.get("endorsements")
            keys[str(entry["kid"])] = (key, tuple(endorsements) if isinstance(endorsements, list) else None)
        self._keys = keys
        self._fetched_at = time.monotonic()
        log.info("teams token keys loaded count=%d", len(keys))

    async def _key(self, kid: str) -> tuple[jwt.PyJWK, tuple[str, ...] | None]:
        async with self._lock:
            age = time.monotonic() - self._fetched_at
            stale = not self._keys or age > self._ttl
            if stale or (kid not in self._keys and age > self._refetch_after):
                await self._fetch_keys()
            found = self._keys.get(kid)
        if found is None:
            raise VerificationError("token signed by an unknown key")
        return found

    async def verify_token(self, authorization: str | None) -> tuple[dict[str, Any], tuple[str, ...] | None]:
        """From the header alone: the token's signature, audience, issuer and expiry. Returns (claims, the signing
        key's endorsements); :meth:`check_activity` then checks them against the body. Raises VerificationError."""
        if authorization and not authorization.isascii():  # surrogate-escaped bytes cannot be a JWT
            raise VerificationError("missing bearer token")
        scheme, _, token = (authorization or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or " " in token:
            raise VerificationError("missing bearer token")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise VerificationError("malformed token") from None
        if header.get("alg") != "RS256" or not isinstance(header.get("kid"), str):
            raise VerificationError("token must be RS256 with a key id")
        key, endorsements = await self._key(header["kid"])
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key=key, algorithms=["RS256"], audience=self.app_id, issuer=self._issuers,
                leeway=self._leeway, options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise VerificationError("token expired") from None
        except jwt.InvalidAudienceError:
            raise VerificationError("token audience is not this bot") from None
        except jwt.InvalidIssuerError:
            raise VerificationError("token issuer not trusted") from None
        except jwt.PyJWTError as exc:
            raise VerificationError(f"token invalid ({type(exc).__name__})") from None
        return claims, endorsements

    @staticmethod
    def check_activity(claims: dict[str, Any], endorsements: tuple[str, ...] | None, *, service_url: str | None,
                       channel_id: str | None) -> None:
        """The checks that need the body: the key endorses the activity's channel, ``serviceurl`` matches."""
        if endorsements is not None and (not channel_id or channel_id not in endorsements):
            raise VerificationError("signing key not endorsed for this channel")
        claimed = claims.get("serviceurl")
        if not isinstance(claimed, str) or not service_url or claimed.rstrip("/") != service_url.rstrip("/"):
            raise VerificationError("serviceurl claim does not match the activity")

    async def verify(self, authorization: str | None, *, service_url: str | None,
                     channel_id: str | None) -> dict[str, Any]:
        """Return the verified claims, or raise VerificationError (the reason is safe to log)."""
        claims, endorsements = await self.verify_token(authorization)
        self.check_activity(claims, endorsements, service_url=service_url, channel_id=channel_id)
        return claims


def _unauthorized() -> web.Response:
    return web.json_response({"error": "unauthorized"}, status=401)


def activity_tenant(fields: dict[str, Any]) -> str | None:
    """The tenant an activity comes from; None when it names none or names two different ones."""
    conversation = fields.get("conversation")
    channel_data = fields.get("channelData")
    tenant = channel_data.get("tenant") if isinstance(channel_data, dict) else None
    named = {t for t in (conversation.get("tenantId") if isinstance(conversation, dict) else None,
                         tenant.get("id") if isinstance(tenant, dict) else None) if t is not None}
    if len(named) != 1:
        return None
    found = named.pop()
    return found if isinstance(found, str) else None


def teams_messages_handler(*, verifier: BotTokenVerifier, adapter: CloudAdapter, bot: TeamsBot,
                           tenant_id: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    from microsoft_agents.hosting.core.authorization import ClaimsIdentity  # a bot serving Teams: the SDK is loaded

    if not tenant_id:
        raise ValueError("the Teams bot needs its tenant (teams.tenant_id) to refuse activities from others")
    pinned = tenant_id.lower()

    async def handle(request: web.Request) -> web.StreamResponse:
        try:  # the token is checked from the header before a body slot is taken (issue 22 item 2)
            claims, endorsements = await verifier.verify_token(request.headers.get("Authorization"))
        except VerificationError as exc:
            log.warning("teams activity refused reason=%s", exc)
            return _unauthorized()
        try:
            raw = await read_body(request, route="teams", limit=TEAMS_MAX_BODY)
        except BodyRefused as exc:
            return await exc.answer(request)
        try:  # the token's serviceurl claim is checked against the body's, so the body is read too
            activity = parse_json(raw)
        except MalformedBody as exc:  # e.g. a lone surrogate: no activity to verify against, nothing done
            return web.json_response({"error": str(exc)}, status=400)
        fields = activity if isinstance(activity, dict) else {}
        service_url = fields.get("serviceUrl")
        channel_id = fields.get("channelId")
        try:
            verifier.check_activity(claims, endorsements,
                                    service_url=service_url if isinstance(service_url, str) else None,
                                    channel_id=channel_id if isinstance(channel_id, str) else None)
        except VerificationError as exc:
            log.warning("teams activity refused reason=%s", exc)
            return _unauthorized()
        if not fields.get("type") or not isinstance(fields.get("conversation"), dict):
            return web.json_response({"error": "not an activity"}, status=400)
        tenant = activity_tenant(fields)
        if tenant is None or tenant.lower() != pinned:  # before the SDK runs: nothing stored, nothing answered
            log.warning("teams activity refused reason=tenant not allowed id=%s", str(fields.get("id", "-"))[:80])
            return web.json_response({"error": "this tenant is not allowed"}, status=403)
        log.info("teams activity accepted type=%s id=%s", fields.get("type"), fields.get("id", "-"))
        with warnings.catch_warnings():  # the SDK reads this plain string key; aiohttp prefers RequestKey
            warnings.simplefilter("ignore", web.NotAppKeyWarning)
            request["claims_identity"] = ClaimsIdentity(claims, authentication_type="Bearer")
        response = await adapter.process(request, bot)
        return response if response is not None else web.Response(status=202)

    return handle


def add_teams_routes(app: web.Application, *, verifier: BotTokenVerifier, adapter: CloudAdapter,
                     bot: TeamsBot, tenant_id: str) -> None:
    """Register ``POST /teams/messages``; the JWT and tenant checks live in this handler, not in a middleware."""
    app.router.add_post(ROUTE, teams_messages_handler(verifier=verifier, adapter=adapter, bot=bot,
                                                      tenant_id=tenant_id))
