"""Background work over durable state: resolve refs, dispatch, expire, apply workflow-run updates.

Every step starts with a conditional claim in the store, so a restart or a second replica resumes
exactly where the first stopped, without a second dispatch.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from datetime import datetime

from bot.actions.github import GitHubClient
from bot.config import Config
from bot.domain import Deployment, DeployRequest, RequestKind, RequestState, RunUpdate
from bot.errors import GitHubError
from bot.metrics import DISPATCHES
from bot.pipeline import enqueue_card, notify_requester, run_update_from_json, utcnow
from bot.store.store import Store

log = logging.getLogger(__name__)
_REQUEST_IN_TITLE = re.compile(r"\[(r-[a-z0-9]{8})\]")
DISPATCH_LEASE_S = 60.0


class Worker:
    def __init__(self, *, config: Config, store: Store, github: GitHubClient,
                 clock: Callable[[], datetime] = utcnow, wake_outbox: Callable[[], None] = lambda: None) -> None:
        self.config = config
        self.store = store
        self.github = github
        self.clock = clock
        self.wake_outbox = wake_outbox
        self._event = asyncio.Event()

    def wake(self) -> None:
        self._event.set()

    async def run(self, stop: asyncio.Event, *, interval: float = 1.0) -> None:
        while not stop.is_set():
            try:
                did = await self.run_once()
            except Exception:
                log.exception("worker pass failed")
                did = 0
            if did:
                self.wake_outbox()
                continue
            self._event.clear()
            waiters = [asyncio.ensure_future(self._event.wait()), asyncio.ensure_future(stop.wait())]
            await asyncio.wait(waiters, timeout=interval, return_when=asyncio.FIRST_COMPLETED)
            for w in waiters:
                w.cancel()

    async def run_once(self) -> int:
        done = 0
        async with self.store.unit() as u:
            received = await u.requests_in([RequestState.RECEIVED])
            approved = await u.requests_in([RequestState.APPROVED, RequestState.DISPATCHING])
            pending = await u.requests_in([RequestState.PENDING_APPROVAL])
        for r in received:
            done += await self._resolve(r)
        for r in pending:
            if r.expires_at and self.clock() >= r.expires_at:
                done += await self._expire(r)
        for r in approved:
            done += await self._dispatch(r.id)
        if received:  # resolved requests that need no approval are now APPROVED
            async with self.store.unit() as u:
                ready = await u.requests_in([RequestState.APPROVED])
            for r in ready:
                done += await self._dispatch(r.id)
        done += await self._apply_run_updates()
        return done

    async def _resolve(self, r: DeployRequest) -> int:
        sha = ""
        if r.kind is RequestKind.DEPLOY:
            try:
                sha = await self.github.resolve_sha(r.ref)
            except GitHubError as exc:
                if exc.transient:
                    log.warning("resolving %s for %s failed, will retry", r.ref, r.id)
                    return 0
                return await self._fail(r, [RequestState.RECEIVED],
                                        f"GitHub has no ref `{r.ref}` in {self.config.repository}")
        to = RequestState.PENDING_APPROVAL if r.approvals_required else RequestState.APPROVED
        async with self.store.unit() as u:
            new = await u.transition(r.id, from_states=[RequestState.RECEIVED], to=to, sha=sha)
            if new:
                await enqueue_card(u, self.config, new)
        return 1 if new else 0

    async def _expire(self, r: DeployRequest) -> int:
        async with self.store.unit() as u:
            new = await u.transition(r.id, from_states=[RequestState.PENDING_APPROVAL], to=RequestState.EXPIRED,
                                     detail="No decision before the approval window closed.")
            if new:
                await enqueue_card(u, self.config, new)
                await notify_requester(u, new, f"{new.id} expired without enough approvals.", tone="warning")
        return 1 if new else 0

    async def _fail(self, r: DeployRequest, from_states: list[RequestState], reason: str) -> int:
        async with self.store.unit() as u:
            new = await u.transition(r.id, from_states=from_states, to=RequestState.DISPATCH_FAILED, detail=reason)
            if new:
                await enqueue_card(u, self.config, new)
                await notify_requester(u, new, f"{new.id} could not start: {reason}", tone="danger")
        DISPATCHES.labels(result="failed").inc()
        return 1

    async def _dispatch(self, request_id: str) -> int:
        async with self.store.unit() as u:
            previous = await u.get_request(request_id)
            r = await u.claim_dispatch(request_id, lease_s=DISPATCH_LEASE_S)
        if r is None or previous is None:
            return 0  # someone else has it
        if previous.state is RequestState.DISPATCHING:
            # an earlier attempt's outcome is unknown: look for its run before dispatching again
            try:
                found = await self.github.find_run(workflow=r.workflow, request_id=r.id)
            except GitHubError:
                return 0
            if found:
                return await self._dispatched(r, found.run_id, found.html_url)
        if r.approvals_required and r.kind is RequestKind.DEPLOY:
            try:
                sha = await self.github.resolve_sha(r.ref)
            except GitHubError as exc:
                if exc.transient:
                    return 0
                sha = ""
            if sha != r.sha:
                return await self._fail(r, [RequestState.DISPATCHING],
                                        f"`{r.ref}` moved to {sha[:7] or 'nowhere'} after approval of "
                                        f"{r.sha[:7]}; the approval is void, request again")
        inputs = {"environment": r.environment, "request_id": r.id, "requested_by": r.requester}
        if r.kind is RequestKind.ROLLBACK:
            inputs = {"service": r.service, "environment": r.environment, "target_version": r.target_version,
                      "request_id": r.id}
        try:
            result = await self.github.dispatch(workflow=r.workflow, ref=r.ref, inputs=inputs)
        except GitHubError as exc:
            if exc.transient:
                DISPATCHES.labels(result="retry").inc()
                log.warning("dispatch of %s failed transiently (%s); will look it up and retry", r.id, exc.status)
                return 0
            return await self._fail(r, [RequestState.DISPATCHING], str(exc))
        DISPATCHES.labels(result="ok").inc()
        log.info("dispatched %s as %s run %s", r.id, r.workflow, result.run_id)
        return await self._dispatched(r, result.run_id, result.run_url)

    async def _dispatched(self, r: DeployRequest, run_id: int | None, run_url: str) -> int:
        async with self.store.unit() as u:
            new = await u.transition(r.id, from_states=[RequestState.DISPATCHING], to=RequestState.DISPATCHED,
                                     run_id=run_id, run_url=run_url, lease_until=None)
            if new:
                await enqueue_card(u, self.config, new)
        return 1

    async def _apply_run_updates(self) -> int:
        async with self.store.unit() as u:
            items = await u.inbox_claim(source="github", limit=100, lease_s=30)
        for item in items:
            try:
                await self.apply_run_update(run_update_from_json(item["body"]))
                state, error = "done", ""
            except Exception as exc:
                log.exception("applying github delivery %s failed", item["key"])
                state, error = ("pending" if item["attempts"] < 5 else "failed"), type(exc).__name__
            async with self.store.unit() as u:
                await u.inbox_done(int(item["id"]), state=state, error=error)
        return len(items)

    async def apply_run_update(self, up: RunUpdate) -> None:
        async with self.store.unit() as u:
            r = await u.request_by_run(up.run_id)
            if r is None:
                m = _REQUEST_IN_TITLE.search(up.title)
                r = await u.get_request(m.group(1)) if m else None
                if r is None or (r.run_id is not None and r.run_id != up.run_id):
                    return  # not started from chat (or a re-run we do not track)
                await u.update_request(r.id, run_id=up.run_id, run_url=up.html_url)
                r = await u.get_request(r.id)
                assert r is not None
            open_states = [s for s in RequestState if not s.final and s is not RequestState.PENDING_APPROVAL]
            if up.status == "completed":
                to = {"success": RequestState.SUCCEEDED, "cancelled": RequestState.CANCELLED,
                      "skipped": RequestState.CANCELLED}.get(up.conclusion, RequestState.FAILED)
                detail = "" if to is RequestState.SUCCEEDED else f"The workflow run ended: {up.conclusion}."
                new = await u.transition(r.id, from_states=open_states, to=to, detail=detail,
                                         run_url=up.html_url or r.run_url)
                if new and to is RequestState.SUCCEEDED:
                    version = r.target_version or "previous" if r.kind is RequestKind.ROLLBACK else r.ref
                    await u.record_deployment(Deployment(r.service, r.environment, version, up.head_sha or r.sha,
                                                         r.id, r.requester, self.clock()))
                if new and to is RequestState.FAILED:
                    await notify_requester(u, new, f"{new.id} failed: {up.html_url}", tone="danger")
            elif up.status == "in_progress":
                new = await u.transition(r.id, from_states=[RequestState.DISPATCHED, RequestState.DISPATCHING,
                                                            RequestState.RUNNING],
                                         to=RequestState.RUNNING, run_url=up.html_url or r.run_url)
            else:
                new = await u.get_request(r.id) if up.jobs else None
            if new:
                await enqueue_card(u, self.config, new, jobs=up.jobs)
