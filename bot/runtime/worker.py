"""Background work over durable state: resolve refs, dispatch, expire, apply workflow-run updates.

Every step starts with a conditional claim in the store, so a restart or a second replica resumes
exactly where the first stopped, without a second dispatch.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from bot.delivery.pending import PendingCards
from bot.delivery.settings import cached_settings
from bot.deploys.digest import Schedules
from bot.deploys.dispatch import DispatchSteps
from bot.deploys.github_events import GitHubEvents
from bot.deploys.github_runs import unchanged
from bot.deploys.messages import enqueue_card
from bot.deploys.pipeline import Pipeline, utcnow
from bot.deploys.repos import GitHubRepos
from bot.deploys.update_codec import github_update_from_json
from bot.domain import GitHubUpdate, RequestState, RunUpdate
from bot.errors import GitHubError
from bot.runtime.webhook_pass import Outcome, WebhookPass, failed, write_outcomes
from bot.store.store import Store, Unit
from bot.tasks import idle

log = logging.getLogger(__name__)
GATHER_S = 0.05  # after a part batch of webhooks, the next pass waits this long (at most ~20 such passes/s)
WEBHOOK_GATHER_S = 0.01  # meanwhile, webhook-only passes at most this often
GITHUB_BATCH = 100  # webhooks claimed per pass: most are a few reads (a repeat, or a run no service owns)


class Worker(DispatchSteps):
    """The background loop: requests' steps (bot.deploys.dispatch), GitHub updates (bot.deploys.github_events),
    auto-deploys, run correlation, schedules and pruning."""

    def __init__(self, *, pipeline: Pipeline, github: GitHubRepos,
                 clock: Callable[[], datetime] = utcnow, wake_outbox: Callable[[], None] = lambda: None,
                 retention_days: int = 30, audit_retention_days: int = 365,
                 env: Mapping[str, str] | None = None, pending: PendingCards | None = None) -> None:
        self.pipeline = pipeline
        self.store: Store = pipeline.store
        self.events = GitHubEvents(pipeline=pipeline, github=github, clock=clock, env=env)
        self.pending = pending  # webhooks recorded and not applied yet, by card (bot.delivery.pending)
        self.webhooks = WebhookPass(events=self.events, store=self.store, wake_outbox=wake_outbox, pending=pending)
        self.retention_s = retention_days * 86400
        self.audit_retention_s = max(1, audit_retention_days) * 86400  # docs/security.md, "Audit log"
        self._pruned_at: datetime | None = None
        self.github = github
        self.clock = clock
        self.wake_outbox = wake_outbox
        self._event = asyncio.Event()
        self._webhooks_partial = False  # the last pass took fewer webhooks than a batch
        self._repeats_done = 0  # webhooks marked done as repeats (nothing queued) since the pass began
        self.schedules = Schedules(store=self.store, config=self.config, settings=cached_settings(self.config),
                                   clock=clock)  # digests and quiet-hours summaries (issue 16)

    def wake(self) -> None:
        self._event.set()

    async def run(self, stop: asyncio.Event, *, interval: float = 1.0) -> None:
        while not stop.is_set():
            self._event.clear()  # a wake from here on (a webhook recorded during the pass) starts the next pass
            self._repeats_done = 0
            try:
                did = await self.run_once()
            except Exception:
                log.exception("worker pass failed")
                did = 0
            if did:
                if did > self._repeats_done:  # a pass that only marked repeats done queued nothing to send
                    self.wake_outbox()
                if self._webhooks_partial:
                    await self._gather(stop)
                continue
            await idle(self._event, stop, seconds=interval, clear=False)

    async def _gather(self, stop: asyncio.Event) -> None:
        """After a part batch of webhooks, wait ``GATHER_S`` before the next whole pass (each reads the request
        tables whatever its size; back-to-back passes of a few webhooks took the CPU ingest needs), applying the
        webhooks that arrive meanwhile in webhook-only passes at most every ``WEBHOOK_GATHER_S``: a card update
        waits ~10 ms for its pass instead of up to 50 (a webhook missed its card's channel slot while it waited:
        issue 27 item 2)."""
        deadline = time.monotonic() + GATHER_S
        # bounded: under a steady stream a webhook arrives during every webhook-only pass, and the whole pass
        # (dispatches, expiries, GitHub jobs, schedules) must still come every GATHER_S
        while not stop.is_set() and time.monotonic() < deadline:
            await idle(self._event, stop, seconds=deadline - time.monotonic(), clear=False)
            if stop.is_set() or not self._event.is_set():
                return
            await idle(asyncio.Event(), stop, seconds=WEBHOOK_GATHER_S)  # a few more arrive meanwhile
            self._event.clear()
            self._repeats_done = 0
            try:
                applied = await self._apply_webhooks()
            except Exception:
                log.exception("webhook pass failed")
                return
            # repeats queue nothing: waking the outbox for them made it re-read its backlog up to 20 times a second
            # (QUIET_GAP_S) under a stream of repeats, ~5 % of the process (issue 27 item 4)
            if applied > self._repeats_done:
                self.wake_outbox()

    async def run_once(self) -> int:
        done = 0
        async with self.store.unit() as u:
            received = await u.requests_in([RequestState.RECEIVED])
            turns = await u.lane_turns()  # first: a long queue in one lane must not hide another lane's turn
            approved = await u.requests_in([RequestState.APPROVED])  # the rest: their cards say what they wait for
            pending = await u.requests_in([RequestState.PENDING_APPROVAL])
        for r in received:
            done += await self._resolve(r)
        for r in pending:
            if r.expires_at and self.clock() >= r.expires_at:
                done += await self._expire(r)
        for request_id in dict.fromkeys([*turns, *(r.id for r in approved)]):
            done += await self._dispatch(request_id)
        if received:  # resolved requests that need no approval are now APPROVED
            async with self.store.unit() as u:
                ready = await u.requests_in([RequestState.APPROVED])
            for r in ready:
                done += await self._dispatch(r.id)
        done += await self._apply_github()
        done += await self.events.auto.resume()  # auto-deploys paused by a lock or freeze (bot.deploys.auto)
        done += await self._correlate()
        done += await self.schedules.run_once()
        await self._prune()
        return done

    async def _prune(self) -> None:
        """Once an hour, drop finished bookkeeping older than the retention window, and audit rows older than the
        audit retention."""
        now = self.clock()
        if self._pruned_at and (now - self._pruned_at).total_seconds() < 3600:
            return
        self._pruned_at = now
        removed, more = 0, True
        while more:  # short transactions: the loop and the other writers go on between them
            async with self.store.unit() as u:
                n, more = await u.prune(older_than_s=self.retention_s)
            removed += n
        if removed:
            log.info("pruned %d finished rows older than %d days", removed, self.retention_s // 86400)
        audited, more = 0, True
        while more:
            async with self.store.unit() as u:
                n, more = await u.prune_audit(older_than_s=self.audit_retention_s)
            audited += n
        if audited:
            log.info("pruned %d audit rows older than %d days", audited, self.audit_retention_s // 86400)

    async def _correlate(self) -> int:
        """A server that did not return the run id (older GHES): find the run by the request id our workflows
        put in their run-name, a few seconds after the dispatch."""
        async with self.store.unit() as u:
            blind = [r for r in await u.requests_in([RequestState.DISPATCHED])
                     if r.run_id is None and r.updated_at and 2 < (self.clock() - r.updated_at).total_seconds() < 600]
        found = 0
        for r in blind[:10]:
            try:
                run = await (await self._client(r)).find_run(workflow=r.workflow, request_id=r.id,
                                                             actor=await self.github.dispatch_actor())
            except GitHubError:
                continue
            if run is None or (r.sha and run.head_sha and run.head_sha != r.sha):
                continue  # a run at another commit is not this request's, whatever its title says
            async with self.store.unit() as u:
                await u.update_request(r.id, run_id=run.run_id, run_url=run.html_url)
                new = await u.get_request(r.id)
                if new:
                    await enqueue_card(u, self.config, new)
            found += 1
        return found

    def _parsed(self, items: list[dict[str, Any]]) -> dict[int, GitHubUpdate]:
        """Claimed webhooks by inbox id, parsed: handed over by this process's ingest when it recorded them
        (``Pipeline.handoff``), else decoded from the inbox; an unreadable one is left out here and fails where
        it is applied."""
        out = {}
        take = self.pipeline.handoff.take
        for item in items:
            up = take(item["key"], item["body"])
            if up is None:
                with contextlib.suppress(Exception):  # reported by the apply loop, which parses it again
                    up = github_update_from_json(item["body"])
            if up is not None:
                out[int(item["id"])] = up
        return out

    @staticmethod
    async def _repeats(u: Unit, items: list[dict[str, Any]], updates: dict[int, GitHubUpdate]) -> set[int]:
        """The inbox ids of the webhooks that would change nothing, judged in order against one read of their
        runs' requests: a workflow-run update that ``unchanged`` says repeats its request, before any item of
        the same run that is applied (an item applied first could change what the later ones find)."""
        runs = {up.run_id for up in updates.values() if isinstance(up, RunUpdate)}
        known = await u.run_heads(runs) if runs else {}
        skipped: set[int] = set()
        for item in items:
            up = updates.get(int(item["id"]))
            run_id = getattr(up, "run_id", None)
            r = known.get(run_id) if isinstance(run_id, int) else None
            if isinstance(up, RunUpdate) and r is not None and unchanged(r, up):
                skipped.add(int(item["id"]))
            elif isinstance(run_id, int):
                known.pop(run_id, None)  # this item is applied: the run's later items are judged when applied
        return skipped

    async def _apply_github(self) -> int:
        """Drain recorded webhooks (bot.runtime.webhook_pass: few transactions per pass) and queued GitHub jobs; a
        failing item is retried, then parked (applying is idempotent: conditional writes)."""
        done = await self._apply_webhooks()
        # GitHub jobs make API calls with a 15 s timeout each (fewer items, longer lease)
        async with self.store.unit() as u:
            jobs = await u.inbox_claim(source="ghjob", limit=5, lease_s=90.0)
        outcomes: list[Outcome] = []
        for item in jobs:
            try:
                await self.events.run_job(json.loads(item["body"]))
            except Exception as exc:
                outcomes.append(failed(item, exc))
            else:
                outcomes.append((int(item["id"]), "done", ""))
        if outcomes:
            async with self.store.unit() as u:
                await write_outcomes(u, outcomes)
        return done + len(outcomes)

    async def _apply_webhooks(self) -> int:
        """Claim waiting webhooks and apply them (bot.runtime.webhook_pass); returns how many were done."""
        # Leases bound how long a crashed process holds items back: webhooks are mostly database work, but a
        # protection rule may read its run from GitHub (15 s timeout), so a batch's lease covers a few of those
        async with self.store.unit() as u:
            items = await u.inbox_claimable(source="github", limit=GITHUB_BATCH)
            updates = self._parsed(items)
            self._webhooks_partial = 0 < len(items) < GITHUB_BATCH
            # most webhooks repeat what a run's request already shows (redeliveries, in_progress for each job): one
            # read finds them, and they are done in this transaction, against what it read; only the others are
            # leased (a repeat's row is updated once, not leased and then done: issue 27 item 4)
            skipped = await self._repeats(u, items, updates)
            await u.inbox_done_many(sorted(skipped))
            await u.inbox_lease([int(i["id"]) for i in items if int(i["id"]) not in skipped], lease_s=60.0)
        self._repeats_done += len(skipped)
        self.webhooks.applied([i for i in items if int(i["id"]) in skipped])  # repeats change no card
        return len(skipped) + await self.webhooks.apply([i for i in items if int(i["id"]) not in skipped], updates)
