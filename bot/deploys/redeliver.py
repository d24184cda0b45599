"""Ask GitHub to redeliver what failed (issue 24 item 2). GitHub records a delivery that our endpoint did not answer
2xx (a deploy, a load balancer 502) as failed and never retries it by itself; its docs describe the remedy this module
is (docs.github.com/webhooks/using-webhooks/handling-failed-webhook-deliveries): on a schedule, fetch the deliveries
attempted since the last run, and redeliver those whose status is not OK.

Endpoints (docs.github.com/rest/apps/webhooks, App JWT only): ``GET /app/hook/deliveries`` lists the App's deliveries
newest first (``per_page`` up to 100; the next page is the ``Link: rel="next"`` URL, which carries a ``cursor``);
``POST /app/hook/deliveries/{delivery_id}/attempts`` asks for a redelivery (202). A redelivery keeps the event's
``guid`` (``X-GitHub-Delivery``), so ingress de-duplicates a copy that arrives after all.

On start and every ``github.redeliver_every`` (default 10 min), by the one replica holding the ``redeliver`` job
lease. Bounded: at most ``MAX_PAGES`` pages read and ``MAX_PER_PASS`` redeliveries asked per pass. Idempotent: an
event (guid) is redelivered at most once (an idempotency key, ``redeliver:<guid>``) and never when a later delivery
of it succeeded; the newest delivery id looked at is kept (the job's mark), so the next pass reads only what is new.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from typing import Any

from bot.config import Config
from bot.deploys.repos import GitHubRepos
from bot.errors import GitHubError
from bot.metrics import REDELIVERIES
from bot.store.leases import job_mark, set_job_mark, take_job
from bot.store.store import Store
from bot.tasks import idle

log = logging.getLogger(__name__)
JOB = "redeliver"
MAX_PAGES = 5
MAX_PER_PASS = 25
_CURSOR = re.compile(r"[?&]cursor=([^&>]+)[^>]*>;\s*rel=\"next\"")


def _ok(d: dict[str, Any]) -> bool:
    code = d.get("status_code")
    return isinstance(code, int) and 200 <= code < 300


class Redeliverer:
    def __init__(self, *, store: Store, github: GitHubRepos, config: Callable[[], Config]) -> None:
        self.store = store
        self.github = github
        self._config = config  # the config in force (reloads)

    @property
    def config(self) -> Config:
        return self._config()

    async def run(self, stop: asyncio.Event) -> None:
        if not self.github.uses_app:
            log.info("no GitHub App auth: failed webhook deliveries cannot be listed; reconcile covers runs")
            return
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:
                log.exception("redelivery pass failed")
            await idle(asyncio.Event(), stop, seconds=float(self.config.redeliver_every_s))

    async def run_once(self) -> int:
        """One pass; returns how many redeliveries were asked for. Nothing unless this replica holds the job
        (held for one period and renewed by its holder: one pass per period across replicas)."""
        async with self.store.unit() as u:
            if not await take_job(u.c, JOB, lease_s=max(1.0, self.config.redeliver_every_s - 0.5)):
                return 0
            mark = await job_mark(u.c, JOB)
        seen = int(mark) if mark.isdigit() else 0
        try:
            deliveries = await self._since(seen)
        except GitHubError as exc:
            REDELIVERIES.labels(result="list_failed").inc()
            log.warning("listing the app's hook deliveries failed (%s)", exc.status or "network")
            return 0
        asked, complete = await self._redeliver(deliveries)
        newest = max((int(d["id"]) for d in deliveries), default=seen)
        if complete and newest > seen:
            async with self.store.unit() as u:
                await set_job_mark(u.c, JOB, str(newest))
        return asked

    async def _since(self, seen: int) -> list[dict[str, Any]]:
        """The deliveries newer than ``seen``, newest first (at most ``MAX_PAGES`` pages)."""
        out: list[dict[str, Any]] = []
        params: dict[str, Any] = {"per_page": 100}
        for _ in range(MAX_PAGES):
            headers, page = await self.github.app_call("GET", "/app/hook/deliveries", params=params,
                                                       what="listing the app's hook deliveries")
            items = [d for d in page or [] if isinstance(d, dict) and isinstance(d.get("id"), int)]
            out.extend(d for d in items if int(d["id"]) > seen)
            nxt = _CURSOR.search(str(headers.get("link") or headers.get("Link") or ""))
            if not items or nxt is None or min(int(d["id"]) for d in items) <= seen:
                break
            params = {"per_page": 100, "cursor": nxt.group(1)}
        return out

    async def _redeliver(self, deliveries: list[dict[str, Any]]) -> tuple[int, bool]:
        """Redeliver each failed event once, oldest first; (asked, whether every failure was handled)."""
        succeeded = {str(d.get("guid")) for d in deliveries if _ok(d)}
        failed: dict[str, dict[str, Any]] = {}
        for d in sorted(deliveries, key=lambda d: int(d["id"])):
            guid = str(d.get("guid") or "")
            if guid and not _ok(d) and guid not in succeeded:
                failed.setdefault(guid, d)
        asked = 0
        for guid, d in failed.items():
            if asked >= MAX_PER_PASS:
                return asked, False
            async with self.store.unit() as u:
                if await u.has_key(f"redeliver:{guid}"):
                    continue
            try:
                await self.github.app_call("POST", f"/app/hook/deliveries/{int(d['id'])}/attempts",
                                           what="redelivering a hook delivery")
            except GitHubError as exc:
                REDELIVERIES.labels(result="failed").inc()
                log.warning("redelivery of delivery %s (%s) failed (%s)", d["id"], d.get("event"), exc.status)
                return asked, False
            async with self.store.unit() as u:
                await u.claim_key(f"redeliver:{guid}")
            REDELIVERIES.labels(result="requested").inc()
            log.info("asked github to redeliver delivery %s (%s, guid %s)", d["id"], d.get("event"), guid)
            asked += 1
        return asked, True
