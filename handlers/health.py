"""Health, readiness and Prometheus metrics."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.metrics import OUTBOX_DEPTH
from bot.pipeline import Pipeline


class HealthHandler:
    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        if await self._pipeline.ready():
            return web.json_response({"status": "ready"})
        return web.json_response({"status": "store unreachable"}, status=503)

    async def metrics(self, request: web.Request) -> web.Response:
        try:
            counts = await self._pipeline.outbox_counts()
            for state in ("pending", "sent", "failed", "superseded"):
                OUTBOX_DEPTH.labels(state=state).set(counts.get(state, 0))
        except Exception:  # metrics must render even when the store is down
            OUTBOX_DEPTH.labels(state="pending").set(float("nan"))
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})
