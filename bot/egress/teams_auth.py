"""The Teams bot's outgoing credentials: how it gets the token it sends to the Bot Connector.

Two ways, chosen by ``bot_connections``:

* **MSAL** (default): the SDK's ``MsalConnectionManager`` with the bot's Entra app (client credentials).
  ``authority_url`` (env ``TEAMS_AUTHORITY_URL``) replaces ``https://login.microsoftonline.com/<tenant>``
  for sovereign clouds (e.g. ``https://login.microsoftonline.us/<tenant>``). MSAL only accepts https
  authorities and asks ``login.microsoftonline.com`` to validate hosts it does not know, so this cannot
  point at a proxy or a private token service.
* **A token endpoint** (env ``TEAMS_TOKEN_URL``): ``ClientCredentialsTokens`` posts the standard OAuth 2.0
  client-credentials form (RFC 6749 §4.4, what Entra's ``/oauth2/v2.0/token`` takes) to that URL and
  caches the token until shortly before it expires. No discovery, no other host is contacted: for egress
  proxies, private token gateways, and the loopback Entra fake the sandbox and tests use.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, NoReturn

import aiohttp
from microsoft_agents.hosting.core.authorization import (
    AccessTokenProviderBase,
    AgentAuthConfiguration,
    ConnectionManager,
    Connections,
)

from bot.errors import ConfigError, DeliveryError

log = logging.getLogger(__name__)

_LOCAL_HTTP = ("http://127.0.0.1", "http://[::1]", "http://localhost")
_EARLY_S = 300.0  # refresh this long before the token expires


def allowed_endpoint(url: str) -> bool:
    """https, or plain http to this machine only (a sidecar proxy or the sandbox)."""
    return url.startswith("https://") or any(url == p or url.startswith((p + ":", p + "/")) for p in _LOCAL_HTTP)


class ClientCredentialsTokens(AccessTokenProviderBase):
    """An ``AccessTokenProviderBase`` that gets app-only tokens from one OAuth 2.0 token endpoint.

    Errors raise ``DeliveryError`` (transient for 429, 5xx, timeouts and network faults); the endpoint's
    answer body is never logged (it can echo the client id and describe the secret)."""

    def __init__(self, configuration: AgentAuthConfiguration, *, token_url: str, timeout_s: float = 10.0) -> None:
        self._configuration = configuration
        self._token_url = token_url
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._cache: dict[str, tuple[str, float]] = {}  # scope -> (token, monotonic time to refresh at)
        self._lock = asyncio.Lock()

    @property
    def configuration(self) -> AgentAuthConfiguration:
        return self._configuration

    async def get_access_token(self, resource_url: str, scopes: list[str], force_refresh: bool = False) -> str:
        scope = " ".join(scopes) if scopes else resource_url.rstrip("/") + "/.default"
        async with self._lock:
            cached = self._cache.get(scope)
            if cached is not None and not force_refresh and time.monotonic() < cached[1]:
                return cached[0]
            token, expires_in = await self._fetch(scope)
            lifetime = max(0.0, expires_in - _EARLY_S) if expires_in > 2 * _EARLY_S else expires_in / 2
            self._cache[scope] = (token, time.monotonic() + lifetime)
            return token

    async def _fetch(self, scope: str) -> tuple[str, float]:
        form = {"grant_type": "client_credentials", "client_id": self._configuration.CLIENT_ID or "",
                "client_secret": self._configuration.CLIENT_SECRET or "", "scope": scope}
        try:
            async with aiohttp.ClientSession(timeout=self._timeout) as session, \
                    session.post(self._token_url, data=form, headers={"Accept": "application/json"}) as resp:
                status = resp.status
                body: Any = await resp.json(content_type=None) if status == 200 else None
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("getting a teams bot token failed error=%s", type(exc).__name__)
            raise DeliveryError(f"teams token endpoint unreachable ({type(exc).__name__})", transient=True) from None
        if status != 200:
            transient = status in (408, 429) or status >= 500
            log.warning("teams token endpoint refused status=%d transient=%s", status, transient)
            raise DeliveryError(f"teams token endpoint answered HTTP {status}", transient=transient)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise DeliveryError("teams token endpoint answered without an access_token", transient=False)
        try:
            expires_in = float(body.get("expires_in", 3600))
        except (TypeError, ValueError):
            expires_in = 3600.0
        log.info("teams bot token acquired expires_in=%d", int(expires_in))
        return token, expires_in

    def get_token_credential(self) -> NoReturn:
        raise NotImplementedError("ClientCredentialsTokens issues app-only connector tokens only")

    # The bot uses no user sign-in (OBO) and no agentic identities; these SDK hooks are refused plainly.
    async def acquire_token_on_behalf_of(self, scopes: list[str], user_assertion: str) -> str:
        raise NotImplementedError("on-behalf-of tokens are not supported with TEAMS_TOKEN_URL")

    async def get_agentic_application_token(self, tenant_id: str, agent_app_instance_id: str) -> str | None:
        raise NotImplementedError("agentic tokens are not supported with TEAMS_TOKEN_URL")

    async def get_agentic_instance_token(self, tenant_id: str, agent_app_instance_id: str) -> tuple[str, str]:
        raise NotImplementedError("agentic tokens are not supported with TEAMS_TOKEN_URL")

    async def get_agentic_user_token(self, tenant_id: str, agent_app_instance_id: str, agentic_user_id: str,
                                     scopes: list[str]) -> str | None:
        raise NotImplementedError("agentic tokens are not supported with TEAMS_TOKEN_URL")


def bot_connections(*, app_id: str, app_password: str, tenant_id: str, authority_url: str = "",
                    token_url: str = "") -> Connections:
    """The bot's outgoing ``Connections``: a token endpoint when ``token_url`` is set, else MSAL."""
    config = AgentAuthConfiguration(client_id=app_id, tenant_id=tenant_id, client_secret=app_password,
                                    authority=authority_url or None)
    if token_url:
        if not allowed_endpoint(token_url):
            raise ConfigError(["env TEAMS_TOKEN_URL: must be an https URL (plain http only to this machine)"])

        def tokens(configuration: AgentAuthConfiguration) -> AccessTokenProviderBase:
            return ClientCredentialsTokens(configuration, token_url=token_url)

        return ConnectionManager(provider_factory=tokens, connections_configurations={"SERVICE_CONNECTION": config})
    if authority_url and not authority_url.startswith("https://"):
        raise ConfigError(["env TEAMS_AUTHORITY_URL: must be an https URL (use TEAMS_TOKEN_URL for anything else)"])
    from microsoft_agents.authentication.msal import MsalConnectionManager

    manager: Connections = MsalConnectionManager(connections_configurations={"SERVICE_CONNECTION": config})
    return manager
