"""Health, readiness and Prometheus metrics."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.deploys.pipeline import Pipeline
from bot.metrics import OUTBOX_BACKLOG, OUTBOX_DEPTH, OUTBOX_OLDEST


class HealthHandler:
    def __init__(self, pipeline: Pipeline, *, not_ready: Callable[[], str | None] = lambda: None) -> None:
        self._pipeline = pipeline
        self._not_ready = not_ready  # draining on SIGTERM, Slack socket down: the reason, else None

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        reason = self._not_ready()
        if reason:
            return web.json_response({"status": reason}, status=503)
        if await self._pipeline.ready():
            return web.json_response({"status": "ready"})
        return web.json_response({"status": "store unreachable"}, status=503)

    async def metrics(self, request: web.Request) -> web.Response:
        try:
            counts = await self._pipeline.outbox_counts()
            for state in ("pending", "sent", "failed", "superseded"):
                OUTBOX_DEPTH.labels(state=state).set(counts.get(state, 0))
            backlog, oldest_age = await self._pipeline.outbox_backlog()
            OUTBOX_BACKLOG.set(backlog)
            OUTBOX_OLDEST.set(oldest_age)
        except Exception:  # metrics must render even when the store is down
            OUTBOX_DEPTH.labels(state="pending").set(float("nan"))
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})
