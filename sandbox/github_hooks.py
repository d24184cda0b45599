"""Signed GitHub webhook deliveries from the fake to the bot, recorded for redelivery."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from sandbox.signing import sign_github


@dataclass
class Delivery:
    delivery_id: str
    event: str
    payload: dict[str, Any]
    status: int | None = None  # None = could not connect
    response: str = ""
    redelivery: bool = False
    at: float = field(default_factory=time.time)


class WebhookSender:
    def __init__(self, url: str | None, secret: str | None) -> None:
        self.url, self.secret = url, secret
        self.deliveries: list[Delivery] = []
        self._session: aiohttp.ClientSession | None = None

    def headers(self, event: str, delivery_id: str, body: bytes) -> dict[str, str]:
        headers = {
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery_id,
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/fake",
            "X-GitHub-Hook-ID": "1",
            "X-GitHub-Hook-Installation-Target-Type": "repository",
        }
        if self.secret is not None:
            headers.update(sign_github(self.secret, body))
        return headers

    async def send(
        self, event: str, payload: dict[str, Any], delivery_id: str | None = None, *, redelivery: bool = False
    ) -> Delivery:
        """POST ``payload`` as ``event`` to the webhook URL (no-op record when no URL is set)."""
        delivery = Delivery(delivery_id or str(uuid.uuid4()), event, payload, redelivery=redelivery)
        self.deliveries.append(delivery)
        if self.url is None:
            return delivery
        body = json.dumps(payload).encode()
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        try:
            async with self._session.post(
                self.url, data=body, headers=self.headers(event, delivery.delivery_id, body)
            ) as resp:
                delivery.status, delivery.response = resp.status, (await resp.text())[:500]
        except (aiohttp.ClientError, TimeoutError) as exc:
            delivery.response = f"{type(exc).__name__}: {exc}"
        return delivery

    async def redeliver(self, delivery_id: str) -> Delivery:
        """Re-send an earlier delivery with the same ``X-GitHub-Delivery`` id (GitHub's Redeliver)."""
        original = next(d for d in self.deliveries if d.delivery_id == delivery_id)
        return await self.send(original.event, original.payload, delivery_id, redelivery=True)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
