"""GitHub webhook ingress: verify X-Hub-Signature-256 first, parse, record durably, answer fast."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

from aiohttp import web

from bot.domain import RunUpdate
from bot.metrics import IGNORED, REQUESTS
from bot.pipeline import Pipeline

log = logging.getLogger(__name__)
MAX_BODY = 5 * 1024 * 1024


class BadPayload(ValueError):
    pass


def verify_signature(secret: bytes, body: bytes, header: str) -> bool:
    if not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.encode())


def _need(d: Any, key: str, kind: type, where: str) -> Any:
    if not isinstance(d, dict) or not isinstance(d.get(key), kind):
        raise BadPayload(f"{where}.{key} is missing or not a {kind.__name__}")
    return d[key]


def parse_workflow_run(payload: dict[str, Any]) -> RunUpdate:
    run = _need(payload, "workflow_run", dict, "payload")
    path = str(run.get("path") or "")
    return RunUpdate(
        run_id=int(_need(run, "id", int, "workflow_run")),
        workflow=path.rsplit("/", 1)[-1] if path else str(run.get("name") or ""),
        status=str(_need(run, "status", str, "workflow_run")),
        conclusion=str(run.get("conclusion") or ""),
        html_url=str(run.get("html_url") or ""),
        head_sha=str(run.get("head_sha") or ""),
        head_branch=str(run.get("head_branch") or ""),
        title=str(run.get("display_title") or run.get("name") or ""),
        actor=str((run.get("actor") or run.get("triggering_actor") or {}).get("login", "")),
        event=str(run.get("event") or ""),
    )


def parse_workflow_job(payload: dict[str, Any]) -> RunUpdate:
    job = _need(payload, "workflow_job", dict, "payload")
    status = str(_need(job, "status", str, "workflow_job"))
    state = str(job.get("conclusion") or status)
    return RunUpdate(
        run_id=int(_need(job, "run_id", int, "workflow_job")),
        workflow=str(job.get("workflow_name") or ""),
        status="job",
        conclusion="",
        html_url=str(job.get("run_url") or ""),
        head_sha=str(job.get("head_sha") or ""),
        head_branch=str(job.get("head_branch") or ""),
        title="",
        jobs=((str(job.get("name") or "job"), state),),
    )


PARSERS = {"workflow_run": parse_workflow_run, "workflow_job": parse_workflow_job}


class GitHubWebhookHandler:
    def __init__(self, *, pipeline: Pipeline, secret: str) -> None:
        if not secret:
            raise ValueError("GITHUB_WEBHOOK_SECRET is required")
        self._secret = secret.encode()
        self._pipeline = pipeline
        self._repository = pipeline.config.repository.lower()

    def _answer(self, status: int, text: str) -> web.Response:
        REQUESTS.labels(route="github", status=str(status)).inc()
        return web.json_response({"status" if status < 400 else "error": text}, status=status)

    async def handle(self, request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > MAX_BODY:
            return self._answer(413, "payload too large")
        body = await request.read()
        if not verify_signature(self._secret, body, request.headers.get("X-Hub-Signature-256", "")):
            return self._answer(401, "invalid or missing X-Hub-Signature-256")
        event = request.headers.get("X-GitHub-Event", "")
        delivery = request.headers.get("X-GitHub-Delivery", "")
        if not event or not delivery or len(delivery) > 100:
            return self._answer(400, "X-GitHub-Event and X-GitHub-Delivery headers are required")
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return self._answer(400, "body is not valid JSON")
        if not isinstance(payload, dict):
            return self._answer(400, "body must be a JSON object")
        if event == "ping":
            return self._answer(200, "pong")
        repo = str((payload.get("repository") or {}).get("full_name", "")).lower() if isinstance(
            payload.get("repository"), dict) else ""
        if repo != self._repository:
            IGNORED.labels(source="github", reason="other_repository").inc()
            return self._answer(202, "ignored: not the configured repository")
        parser = PARSERS.get(event)
        if parser is None:
            IGNORED.labels(source="github", reason="unhandled_event").inc()
            return self._answer(202, f"ignored: event {event[:40]} is not handled")
        try:
            update = parser(payload)
        except (BadPayload, TypeError, ValueError) as exc:
            return self._answer(400, f"payload missing fields we need: {exc}")
        if not await self._pipeline.record_run_update(update, delivery=delivery, event=event):
            return self._answer(200, "duplicate delivery: already processed")
        return self._answer(202, "accepted")
