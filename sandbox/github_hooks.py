"""Signed GitHub webhook deliveries from the fake to the bot, recorded for redelivery.

Each attempt is one delivery record with its own numeric ``id``; a redelivery keeps the event's ``guid`` (the
``X-GitHub-Delivery`` header) and is flagged ``redelivery`` (docs.github.com/rest/apps/webhooks, "hook-delivery-item":
``id``, ``guid``, ``delivered_at``, ``redelivery``, ``duration``, ``status``, ``status_code``, ``event``, ``action``,
``installation_id``, ``repository_id``, ``throttled_at``). A delivery that does not get a 2xx answer is recorded as
failed, and GitHub does not send it again by itself (docs.github.com/webhooks/using-webhooks/handling-failed-webhook-
deliveries). ``drop`` injects what a load balancer in front of the bot does during a hand-over: the delivery is recorded
as answered 502 and never reaches the bot."""

from __future__ import annotations

import asyncio
import json
import random
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
    id: int = 0  # this attempt's id (GitHub's delivery id); set by the sender

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def item(self, installation_id: int | None, repository_id: int | None) -> dict[str, Any]:
        """The delivery as ``GET /app/hook/deliveries`` lists it (GitHub's "hook-delivery-item"): ``status`` is
        "OK" for a 2xx answer, else what went wrong; ``status_code`` 0 when no answer came."""
        status = "OK" if self.ok else (f"Invalid HTTP Response: {self.status}" if self.status else "failed to connect")
        return {"id": self.id, "guid": self.delivery_id, "redelivery": self.redelivery, "duration": 0.01,
                "delivered_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.at)), "status": status,
                "status_code": self.status or 0, "event": self.event,
                "action": self.payload.get("action") if isinstance(self.payload.get("action"), str) else None,
                "installation_id": installation_id, "repository_id": repository_id, "throttled_at": None}


class WebhookSender:
    def __init__(self, url: str | None, secret: str | None) -> None:
        self.url, self.secret = url, secret
        self.deliveries: list[Delivery] = []
        self.drops: list[list[Any]] = []  # [event, action or None, times left]: answered 502 by "the load balancer"
        self.drop_rate = 0.0  # a share of all first deliveries lost the same way (see ``drop``), at random
        self.random = random.Random(24)  # seeded: a run drops the same pattern of deliveries
        self.dropped = 0  # first deliveries dropped (by ``drop`` or ``drop_rate``)
        self._next_id = 90_000_000_001
        self._later: set[asyncio.Task[Delivery]] = set()
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
        delivery = Delivery(delivery_id or str(uuid.uuid4()), event, payload, redelivery=redelivery, id=self._next_id)
        self._next_id += 1
        self.deliveries.append(delivery)
        if self.url is None:
            return delivery
        if not redelivery and self._dropped(event, payload):
            self.dropped += 1
            delivery.status, delivery.response = 502, "injected: 502 Bad Gateway from the load balancer"
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

    def drop(self, event: str, action: str | None = None, *, times: int = 1) -> None:
        """The next ``times`` deliveries of ``event`` (with ``action``, when given) fail with a 502 before reaching
        the bot: a delivery lost in the network (redeliveries are not dropped)."""
        self.drops.append([event, action, times])

    def _dropped(self, event: str, payload: dict[str, Any]) -> bool:
        for rule in self.drops:
            if rule[0] == event and rule[1] in (None, payload.get("action")) and rule[2] > 0:
                rule[2] -= 1
                return True
        return self.drop_rate > 0 and self.random.random() < self.drop_rate

    async def redeliver(self, delivery_id: str) -> Delivery:
        """Re-send an earlier delivery with the same ``X-GitHub-Delivery`` id (GitHub's Redeliver)."""
        original = next(d for d in self.deliveries if d.delivery_id == delivery_id)
        return await self.send(original.event, original.payload, delivery_id, redelivery=True)

    def later(self, delivery_id: str) -> None:
        """Redeliver in the background (the API answers 202 first, as GitHub's does)."""
        task = asyncio.get_running_loop().create_task(self.redeliver(delivery_id))
        self._later.add(task)
        task.add_done_callback(self._later.discard)

    async def close(self) -> None:
        for task in list(self._later):
            task.cancel()
        if self._session is not None:
            await self._session.close()
            self._session = None
