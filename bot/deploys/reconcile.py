"""Reconcile GitHub runs (issue 24 item 1): GitHub never redelivers a webhook by itself (docs.github.com/webhooks/
using-webhooks/handling-failed-webhook-deliveries: "GitHub does not automatically redeliver failed deliveries"), so one
``workflow_run completed`` lost while no replica listened would leave a card at "running" for ever.

A request waiting on its run (dispatched or running) that nothing has moved for ``github.reconcile_after`` has its run
and jobs read through the REST API, parsed by the webhook's own parsers (``bot/deploys/run_payloads.py``: the API
answers the objects the webhooks carry) and applied through ``GitHubEvents.apply``, the webhook path, with its
conditional writes: what a webhook already applied changes nothing, and a webhook arriving afterwards changes nothing
either. A request whose run GitHub does not have (404, or no run of the bot names it) is marked lost, with the reason
on its card. One replica does this at a time: it holds the ``reconcile`` job lease (``bot/store/leases.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from bot.config import Config
from bot.deploys.github_events import GitHubEvents
from bot.deploys.messages import enqueue_card, notify_requester
from bot.deploys.run_payloads import parse_workflow_job, parse_workflow_run
from bot.domain import AuditEntry, DeployRequest, RequestState, RunUpdate
from bot.errors import GitHubError
from bot.metrics import RECONCILED
from bot.store.leases import take_job
from bot.tasks import idle

log = logging.getLogger(__name__)
JOB = "reconcile"
# The job lease is renewed every pass and lasts four pass periods, at least MIN_LEASE_S (a pass reads up to BATCH runs):
# another replica takes the job over that long after a crash (2 min at the default window, 5 min). A fixed 2 min
# would hold a short window's reconciliation (and the deploy lanes waiting on a lost webhook) for 2 min after a crash.
PASSES_PER_LEASE, MIN_LEASE_S = 4, 15.0
BATCH = 20  # requests read per pass (two API calls each): a backlog is worked off over a few passes
_WAITING = (RequestState.DISPATCHED, RequestState.RUNNING)


class Reconciler:
    def __init__(self, *, events: GitHubEvents, clock: Callable[[], datetime]) -> None:
        self.events = events
        self.store = events.store
        self.clock = clock
        self._checked: dict[str, datetime] = {}  # request id -> when this replica last read its run

    @property
    def config(self) -> Config:
        return self.events.config

    @property
    def period_s(self) -> float:
        """A fifth of the window (between 0.2 s and 30 s): a lost webhook is noticed soon after the window."""
        return min(30.0, max(0.2, self.config.reconcile_after_s / 5))

    @property
    def lease_s(self) -> float:
        return max(MIN_LEASE_S, PASSES_PER_LEASE * self.period_s)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:
                log.exception("reconcile pass failed")
            await idle(asyncio.Event(), stop, seconds=self.period_s)

    def _quiet(self, r: DeployRequest, now: datetime) -> bool:
        """Nothing moved ``r`` (and this replica did not read its run) for ``github.reconcile_after``."""
        last = max(r.updated_at or r.created_at, self._checked.get(r.id, r.created_at))
        return (now - last).total_seconds() >= self.config.reconcile_after_s

    async def run_once(self) -> int:
        """One pass; returns how many requests were read. Nothing unless this replica holds the job."""
        async with self.store.unit() as u:
            if not await take_job(u.c, JOB, lease_s=self.lease_s):
                return 0
            waiting = await u.requests_in(list(_WAITING), limit=500)
        now = self.clock()
        self._checked = {k: v for k, v in self._checked.items() if k in {r.id for r in waiting}}
        stale = sorted((r for r in waiting if self._quiet(r, now)), key=lambda r: r.updated_at or r.created_at)
        for r in stale[:BATCH]:
            self._checked[r.id] = now
            await self._reconcile(r)
        return min(len(stale), BATCH)

    async def _reconcile(self, r: DeployRequest) -> None:
        repository = self.config.repo_of(r.service)
        try:
            gh = await self.events.github.client(repository)
            run_id = r.run_id
            if run_id is None:  # the dispatch answered no run id and no run was found since: look once more
                found = await gh.find_run(workflow=r.workflow, request_id=r.id,
                                          actor=await self.events.github.dispatch_actor())
                if found is None:
                    return await self._lost(r, f"no run of {r.workflow} in {repository} names {r.id}")
                run_id = found.run_id
            run = await gh.get_json("reading the run", f"/actions/runs/{run_id}")
            jobs = await gh.get_json("reading the run's jobs", f"/actions/runs/{run_id}/jobs",
                                     {"filter": "latest", "per_page": 100})
        except GitHubError as exc:
            if exc.status == 404:
                return await self._lost(r, f"GitHub has no workflow run {r.run_id} in {repository} (404)")
            RECONCILED.labels(result="error").inc()
            log.warning("reconciling %s: could not read its run (%s); will try again", r.id, exc.status or "network")
            return None
        try:
            updates = _updates(run, jobs, repository)
        except ValueError:
            RECONCILED.labels(result="error").inc()
            log.warning("reconciling %s: GitHub's answer for run %s could not be read", r.id, run_id)
            return None
        for up in updates:  # jobs first: a failure's alert names the failed steps, as after the webhooks
            await self.events.apply(up)
        RECONCILED.labels(result="read").inc()
        log.info("reconciled %s with run %s (%s)", r.id, run_id, updates[-1].status)
        return None

    async def _lost(self, r: DeployRequest, reason: str) -> None:
        detail = f"Lost: {reason}. The bot stopped tracking it; check the workflow in GitHub."
        async with self.store.unit() as u:
            new = await u.transition(r.id, from_states=list(_WAITING), to=RequestState.LOST, detail=detail)
            if new:
                await u.audit(AuditEntry(self.clock(), "bot", "reconcile", r.id, r.channel, "lost", reason[:500]))
                await enqueue_card(u, self.config, new)
                await notify_requester(u, new, f"{new.id} is lost: {reason}", tone="danger")
        if new:
            RECONCILED.labels(result="lost").inc()
            log.warning("request %s marked lost: %s", r.id, reason)
        self.events.pipeline.wake()


def _updates(run: Any, jobs: Any, repository: str) -> list[RunUpdate]:
    """The webhooks a run and its jobs would have sent, read from the REST answers (``/actions/runs/{id}`` is the
    ``workflow_run`` webhook's object, each of ``/jobs``'s ``jobs`` the ``workflow_job``'s)."""
    listed = jobs.get("jobs") if isinstance(jobs, dict) else None  # BadPayload (a ValueError) when unreadable
    out = [parse_workflow_job({"workflow_job": j}) for j in listed or [] if isinstance(j, dict)]
    out.append(parse_workflow_run({"workflow_run": run, "repository": {"full_name": repository}}))
    return out
