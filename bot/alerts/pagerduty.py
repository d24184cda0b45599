"""PagerDuty Events API v2 for escalated security alerts: one trigger per escalated alert, one resolve when the alert
is resolved in chat, each exactly once (issue 25 item 5).

Contract (PagerDuty/developer-docs docs/events-API-v2/, PagerDuty/api-schema reference/events-v2/openapiv3.json):
``POST https://events.pagerduty.com/v2/enqueue`` with ``routing_key``, ``event_action`` (trigger | acknowledge |
resolve), ``dedup_key`` (<= 255 chars; correlates the resolve with its trigger) and, for a trigger, ``payload``
(``summary`` <= 1024, ``source``, ``severity`` in critical | error | warning | info). 202 = accepted; 400 = invalid,
never retried; 429 and 5xx / network errors = retry later.

Why plain aiohttp and not PyPI's ``pagerduty`` client: that client (the successor of ``pdpyras``) is built on
``requests``, so every call would block the event loop or need a thread; its retries would also live inside a call,
where ours must survive restarts. The Events API is one POST of one JSON object; aiohttp (already the bot's HTTP
client) sends it, and the durable ``pagerduty_events`` table provides ordering, retries and exactly-once.

Exactly once: rows are keyed ``pd:<alert id>:<action>`` (``INSERT ... ON CONFLICT DO NOTHING``) in the transaction
that escalates or resolves the alert; a sender takes a row with a conditional lease, so two replicas never send the
same row at once. A crash between PagerDuty's 202 and our ``state = 'sent'`` re-sends that row once; PagerDuty
applies a repeated trigger to the open alert with the same dedup key and drops a repeated resolve.

The routing key is a secret (anyone holding it can open and resolve incidents on that service, i.e. page or
silence the on-call), so it comes from the environment (``pagerduty.routing_key_env``), never from YAML, and is
never stored in the database or logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot import config_model as model
from bot.alerts.model import Severity
from bot.alerts.store_ops import Alert
from bot.config import Config
from bot.errors import ConfigError
from bot.store.db import Conn
from bot.store.store import Store

log = logging.getLogger(__name__)
DEFAULT_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
_KEYS = model.keys(model.PagerDuty)
_ENV_NAME = re.compile(model.ENV_VAR_NAME)
_PD_SEVERITY = {Severity.CRITICAL: "critical", Severity.HIGH: "error", Severity.MEDIUM: "warning",
                Severity.LOW: "info"}
MAX_BACKOFF_S = 300.0


@dataclass(frozen=True, slots=True)
class PagerDutySettings:
    routing_key: str  # secret, from the environment
    events_url: str = DEFAULT_EVENTS_URL

    def __repr__(self) -> str:
        return f"PagerDutySettings(<hidden>, events_url={self.events_url!r})"


def pagerduty_settings(config: Config, env: Mapping[str, str]) -> PagerDutySettings | None:
    """``pagerduty:`` in the config (None = no PagerDuty). Raises ConfigError naming every problem."""
    spec = config.raw.get("pagerduty")
    if spec is None:
        return None
    problems: list[str] = []
    if not isinstance(spec, dict):
        raise ConfigError(["pagerduty: must be a mapping with routing_key_env"])
    if "routing_key" in spec:
        problems.append("pagerduty.routing_key: is a secret and does not belong in the config file; set it in the "
                        "environment and name the variable in pagerduty.routing_key_env")
    problems += [f"pagerduty.{k}: unknown key (known: {', '.join(_KEYS)})" for k in spec
                 if k not in (*_KEYS, "routing_key")]
    name = spec.get("routing_key_env", "PAGERDUTY_ROUTING_KEY")
    key = ""
    if not isinstance(name, str) or not _ENV_NAME.match(name):
        problems.append("pagerduty.routing_key_env: must be an environment variable name like PAGERDUTY_ROUTING_KEY")
    else:
        key = env.get(name, "")
        if not key:
            problems.append(f"env {name}: is not set (pagerduty.routing_key_env)")
        elif len(key) != 32:  # "the 32 character Integration Key" (developer-docs 02-Trigger-Events.md)
            problems.append(f"env {name}: must be the 32-character Events API v2 integration key")
    url = env.get("PAGERDUTY_EVENTS_URL", "") or DEFAULT_EVENTS_URL
    if not url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        problems.append("env PAGERDUTY_EVENTS_URL: must be an https URL (only loopback may be http)")
    if problems:
        raise ConfigError(problems)
    return PagerDutySettings(routing_key=key, events_url=url)


def dedup_key(alert_id: str) -> str:
    return f"chatops-security-{alert_id}"


def trigger_body(alert: Alert, *, repository: str) -> dict[str, Any]:
    e = alert.sample
    summary = f"[{alert.severity.value}] {alert.title}: {e.summary or alert.principal}"
    return {
        "event_action": "trigger", "dedup_key": dedup_key(alert.id), "client": "chatops-bot",
        "payload": {
            "summary": summary[:1024], "source": (alert.account or e.event_source or "aws")[:255],
            "severity": _PD_SEVERITY[alert.severity], "component": e.event_source[:255], "class": alert.rule_id,
            "custom_details": {"alert": alert.id, "rule": alert.rule_id, "principal": alert.principal[:500],
                               "events": alert.event_count, "repository": repository},
        },
    }


async def enqueue_event(c: Conn, alert: Alert, *, action: str, now: float, repository: str = "") -> bool:
    """Record one PagerDuty event for ``alert`` (trigger | resolve). False if it was recorded before."""
    body = trigger_body(alert, repository=repository) if action == "trigger" else {
        "event_action": action, "dedup_key": dedup_key(alert.id)}
    n = await c.execute(
        "INSERT INTO pagerduty_events (key, alert_id, action, body, next_at, created_at) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (key) DO NOTHING", f"pd:{alert.id}:{action}", alert.id, action, json.dumps(body), now, now,
    )
    return n == 1


async def resolve_if_triggered(c: Conn, alert: Alert, *, now: float) -> bool:
    """Record the resolve of an alert that was triggered in PagerDuty (in the resolving transaction)."""
    if await c.fetchrow("SELECT 1 AS x FROM pagerduty_events WHERE key = ?", f"pd:{alert.id}:trigger") is None:
        return False
    return await enqueue_event(c, alert, action="resolve", now=now)


class PagerDutySender:
    """Owned background task: sends due ``pagerduty_events`` rows in order per alert (a resolve waits for its
    trigger). ``run_once()`` returns how many rows it finished (sent or failed)."""

    def __init__(self, store: Store, settings: PagerDutySettings, *, clock: Callable[[], float] = time.time,
                 idle_s: float = 0.25, timeout_s: float = 10.0) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.idle_s = idle_s
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def run(self, stop: asyncio.Event) -> None:
        async with aiohttp.ClientSession(timeout=self.timeout) as session:
            while not stop.is_set():
                try:
                    n = await self.run_once(session)
                except Exception:  # keep the task alive; rows stay pending and are retried
                    log.exception("pagerduty sender: pass failed")
                    n = 0
                if n == 0:
                    try:
                        await asyncio.wait_for(stop.wait(), timeout=self.idle_s)
                    except TimeoutError:
                        pass

    async def _claim(self) -> list[dict[str, Any]]:
        now = self.clock()
        async with self.store.unit() as u:
            rows = await u.c.fetch(
                "SELECT key, body, attempts FROM pagerduty_events p WHERE state = 'pending' AND next_at <= ? "
                "AND lease_until < ? AND NOT EXISTS (SELECT 1 FROM pagerduty_events q WHERE q.alert_id = p.alert_id "
                "AND q.state = 'pending' AND q.created_at < p.created_at) ORDER BY created_at LIMIT 20", now, now)
            won = []
            for r in rows:
                n = await u.c.execute("UPDATE pagerduty_events SET lease_until = ? WHERE key = ? AND "
                                      "state = 'pending' AND lease_until < ?", now + 60.0, r["key"], now)
                if n == 1:
                    won.append(dict(r))
        return won

    async def run_once(self, session: aiohttp.ClientSession) -> int:
        done = 0
        for row in await self._claim():
            body = {"routing_key": self.settings.routing_key, **json.loads(row["body"])}
            status, retry_after = await self._post(session, body)
            done += await self._record(row, status, retry_after)
        return done

    async def _post(self, session: aiohttp.ClientSession, body: dict[str, Any]) -> tuple[int, float | None]:
        try:
            async with session.post(self.settings.events_url, json=body) as resp:
                await resp.read()
                ra = resp.headers.get("Retry-After", "")
                return resp.status, float(ra) if ra.replace(".", "", 1).isdigit() else None
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("pagerduty event not sent: %s", type(exc).__name__)
            return 0, None

    async def _record(self, row: dict[str, Any], status: int, retry_after: float | None) -> int:
        now = self.clock()
        async with self.store.unit() as u:
            if status == 202:
                await u.c.execute("UPDATE pagerduty_events SET state = 'sent', attempts = attempts + 1, "
                                  "lease_until = 0 WHERE key = ?", row["key"])
                log.info("pagerduty event sent: key=%s", row["key"])
                return 1
            if 400 <= status < 500 and status != 429:  # invalid: retrying cannot help (rule 8: never on 4xx)
                await u.c.execute("UPDATE pagerduty_events SET state = 'failed', attempts = attempts + 1, "
                                  "last_error = ?, lease_until = 0 WHERE key = ?", f"HTTP {status}", row["key"])
                log.error("pagerduty refused event: key=%s status=%s", row["key"], status)
                return 1
            delay = retry_after if retry_after is not None else min(MAX_BACKOFF_S, 2.0 ** int(row["attempts"]))
            await u.c.execute("UPDATE pagerduty_events SET attempts = attempts + 1, next_at = ?, lease_until = 0, "
                              "last_error = ? WHERE key = ?", now + delay, f"HTTP {status or 'network'}",
                              row["key"])
            log.warning("pagerduty event deferred: key=%s status=%s retry_in=%.0fs", row["key"], status, delay)
            return 0
