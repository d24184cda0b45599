"""Grafana annotations for successful deploys (issue 25 item 4).

Contract (Grafana HTTP API, "Annotations API", grafana.com/docs/grafana/latest/developers/http_api/annotations/
#create-annotation): ``POST /api/annotations`` with a JSON body of ``dashboardUID`` (optional: without it the
annotation is organization-wide), ``time`` (epoch milliseconds), ``tags`` and ``text``; authenticated with a
service account token as ``Authorization: Bearer <token>`` (grafana.com/docs/grafana/latest/developers/http_api/
#authenticating-api-requests). 200 answers ``{"message": "Annotation added", "id": <n>}``. 429, 5xx and network
errors are retried by the durable job that calls this; any other answer is final (logged, never retried).
"""

from __future__ import annotations

import logging

import aiohttp

from bot.deploys.settings import Grafana
from bot.errors import DeliveryError

log = logging.getLogger(__name__)
TIMEOUT_S = 10.0


async def annotate(grafana: Grafana, *, text: str, tags: list[str], at_ms: int) -> int | None:
    """Post one annotation; its id, or None when Grafana refused it for good. Raises DeliveryError (transient)
    for what a retry may fix."""
    body: dict[str, object] = {"time": at_ms, "tags": [*grafana.tags, *tags], "text": text[:2000]}
    if grafana.dashboard_uid:
        body["dashboardUID"] = grafana.dashboard_uid
    headers = {"Authorization": f"Bearer {grafana.token}"}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)) as session, \
                session.post(f"{grafana.url}/api/annotations", json=body, headers=headers) as resp:
            if resp.status == 200:
                data = await resp.json(content_type=None)
                return int(data.get("id") or 0) if isinstance(data, dict) else 0
            if resp.status == 429 or resp.status >= 500:
                raise DeliveryError(f"grafana answered {resp.status}", transient=True)
            log.warning("grafana refused the annotation: status %s", resp.status)
            return None
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise DeliveryError(f"grafana unreachable ({type(exc).__name__})", transient=True) from exc
