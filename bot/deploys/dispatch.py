"""Resolve a request's ref (and what it changes), expire what waited too long, and dispatch its workflow once:
one run per service and environment at a time, the run found again after an unknown outcome."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from bot.actions.changes import deployed_sha, fetch_changes
from bot.actions.github import GitHubClient
from bot.config import Config
from bot.contract import DEPLOY_INPUTS, ROLLBACK_INPUTS
from bot.deploys.messages import enqueue_callback, enqueue_card, notify_requester
from bot.deploys.pipeline import Pipeline
from bot.deploys.promotion import promotion_refusal
from bot.deploys.repos import GitHubRepos
from bot.domain import AuditEntry, DeployRequest, RequestKind, RequestState
from bot.errors import GitHubError
from bot.metrics import DISPATCHES
from bot.previews import Changes
from bot.store.delivery_ops import save_changes
from bot.store.store import Store

log = logging.getLogger(__name__)
DISPATCH_LEASE_S = 60.0


class DispatchSteps:
    """A request's background steps up to its run, each started by a conditional claim (a restart or a second
    replica resumes exactly where the first stopped, without a second dispatch). ``bot.runtime.worker.Worker``
    runs them from its loop."""

    pipeline: Pipeline
    store: Store
    github: GitHubRepos
    clock: Callable[[], datetime]

    @property
    def config(self) -> Config:  # read at each use: a reloaded config applies to the next step
        return self.pipeline.config

    async def _client(self, r: DeployRequest) -> GitHubClient:
        """The GitHub client of the request's service's repository."""
        return await self.github.client(self.config.repo_of(r.service))

    async def _resolve(self, r: DeployRequest) -> int:
        sha, ref = "", r.ref
        repository = self.config.repo_of(r.service)
        try:
            gh = await self._client(r)
        except GitHubError as exc:  # the App is not installed there: say so
            return 0 if exc.transient else await self._fail(r, [RequestState.RECEIVED], str(exc))
        try:
            if r.kind is RequestKind.DEPLOY:
                sha = await gh.resolve_sha(r.ref)
            elif not ref:  # a rollback runs at its repository's default branch
                ref = await gh.default_branch()
        except GitHubError as exc:
            if exc.transient:
                log.warning("resolving %s for %s failed, will retry", r.ref or "the default branch", r.id)
                return 0
            what = f"no ref `{r.ref}`" if r.kind is RequestKind.DEPLOY else "no default branch"
            return await self._fail(r, [RequestState.RECEIVED], f"GitHub has {what} in {repository}")
        if sha:
            try:
                refusal = await promotion_refusal(self.store, gh, self.config, r, sha)
            except GitHubError as exc:
                if exc.transient:
                    log.warning("checking the promotion order for %s failed, will retry", r.id)
                    return 0
                refusal = f"GitHub could not say whether {sha[:7]} succeeded where {r.environment} promotes from"
            if refusal:  # the card shows the reason, the requester is told privately
                return await self._fail(r, [RequestState.RECEIVED], refusal, action="promotion", result="denied",
                                        sha=sha)
        env = self.config.environments.get(r.environment)
        held_by_bot = r.approvals_required and (env is None or env.gate != "github")  # github: asked at the rule
        to = RequestState.PENDING_APPROVAL if held_by_bot else RequestState.APPROVED
        changes = await self._changes(r, sha) if sha else None
        async with self.store.unit() as u:
            new = await u.transition(r.id, from_states=[RequestState.RECEIVED], to=to, sha=sha, ref=ref)
            if new and changes:
                await save_changes(u, r.id, changes, at=self.clock())
            if new:
                await enqueue_card(u, self.config, new)
        return 1 if new else 0

    async def _changes(self, r: DeployRequest, sha: str) -> Changes:
        """What the deploy changes against what runs there: the bot's own record, else GitHub's Deployments."""
        async with self.store.unit() as u:
            last = await u.deployments(r.service, r.environment, limit=1)
        gh = await self._client(r)  # the service's repository
        base = last[0].sha if last and last[0].sha else await deployed_sha(gh, r.environment)
        return await fetch_changes(gh, base=base, head=sha)

    async def _expire(self, r: DeployRequest) -> int:
        async with self.store.unit() as u:
            new = await u.transition(r.id, from_states=[RequestState.PENDING_APPROVAL], to=RequestState.EXPIRED,
                                     detail="No decision before the approval window closed.")
            if new and new.callback_url:
                await enqueue_callback(u, new, approved=False, comment="Expired without enough approvals in chat")
            if new:
                await enqueue_card(u, self.config, new)
                await notify_requester(u, new, f"{new.id} expired without enough approvals.", tone="warning")
        return 1 if new else 0

    async def _fail(self, r: DeployRequest, from_states: list[RequestState], reason: str, *,
                    action: str = "dispatch", result: str = "failed", sha: str = "") -> int:
        async with self.store.unit() as u:
            new = await u.transition(r.id, from_states=from_states, to=RequestState.DISPATCH_FAILED, detail=reason,
                                     **({"sha": sha} if sha else {}))
            if new:
                await u.audit(AuditEntry(self.clock(), "bot", action, r.id, r.channel, result, reason[:500]))
                await enqueue_card(u, self.config, new)
                await notify_requester(u, new, f"{new.id} could not start: {reason}", tone="danger")
        DISPATCHES.labels(result="failed").inc()
        return 1

    async def _dispatch(self, request_id: str) -> int:
        async with self.store.unit() as u:
            previous = await u.get_request(request_id)
            r = await u.claim_dispatch(request_id, lease_s=DISPATCH_LEASE_S)
        if previous is not None and r is None and previous.state is RequestState.APPROVED:
            return await self._queued(previous)
        if r is None or previous is None:
            return 0  # someone else has it
        if previous.state is RequestState.DISPATCHING and r.run_id:  # a webhook bound its run: it started
            return await self._dispatched(r, r.run_id, r.run_url)
        try:
            gh = await self._client(r)
        except GitHubError as exc:
            return await self._refused(r, exc, str(exc))
        if previous.state is RequestState.DISPATCHING:
            looked = await self._look_again(r, gh)
            if looked is not None:
                return looked
        if r.approvals_required and r.kind is RequestKind.DEPLOY:
            try:
                sha = await gh.resolve_sha(r.ref)
            except GitHubError as exc:
                if exc.transient:
                    return 0
                sha = ""
            if sha != r.sha:
                return await self._fail(r, [RequestState.DISPATCHING],
                                        f"`{r.ref}` moved to {sha[:7] or 'nowhere'} after approval of "
                                        f"{r.sha[:7]}; the approval is void, request again")
        inputs = dict(zip(DEPLOY_INPUTS, (r.environment, r.id, r.requester), strict=True))
        if r.kind is RequestKind.ROLLBACK:
            inputs = dict(zip(ROLLBACK_INPUTS, (r.service, r.environment, r.target_version, r.id), strict=True))
        async with self.store.unit() as u:  # the calls above may have outlasted the claim: still ours?
            if not await u.renew_claim(r.id, lease_s=DISPATCH_LEASE_S):
                log.warning("%s: its claim ran out or was taken over while GitHub answered; not dispatching", r.id)
                return 0
        try:
            result = await gh.dispatch(workflow=r.workflow, ref=r.ref, inputs=inputs)
        except GitHubError as exc:
            if exc.transient:
                DISPATCHES.labels(result="retry").inc()
                log.warning("dispatch of %s failed transiently (%s); will look it up and retry", r.id, exc.status)
            return await self._refused(r, exc, str(exc))
        DISPATCHES.labels(result="ok").inc()
        log.info("dispatched %s as %s run %s", r.id, r.workflow, result.run_id)
        return await self._dispatched(r, result.run_id, result.run_url)

    async def _look_again(self, r: DeployRequest, gh: GitHubClient) -> int | None:
        """An earlier attempt's outcome is unknown: look for its run before dispatching again. None: not found,
        dispatch; else the step's result (found, failed, or wait)."""
        actor = await self.github.dispatch_actor()
        if not actor and self.github.dispatch_actor_refused:  # for good (401, 403, 404): say so, free the lane
            return await self._fail(r, [RequestState.DISPATCHING], "GitHub refuses to tell the bot its own login, "
                                    "so it cannot tell whether an earlier attempt started a run; not dispatching "
                                    "again (if one started, it runs on)")
        if not actor:  # no run can be told to be ours (find_run finds none): dispatching could start a second
            log.warning("%s: the bot's GitHub login is unknown; not dispatching again until it is", r.id)
            return 0
        try:
            found = await gh.find_run(workflow=r.workflow, request_id=r.id, actor=actor)
        except GitHubError as exc:
            return await self._refused(r, exc, f"could not look for the run an earlier attempt may have started "
                                                f"({exc}); if one started, it runs on")
        return await self._dispatched(r, found.run_id, found.html_url) if found else None

    async def _refused(self, r: DeployRequest, exc: GitHubError, reason: str) -> int:
        """A GitHub error on a claimed request's way to its run: a passing one waits for the next claim (0), a
        lasting one fails the request with ``reason``."""
        return 0 if exc.transient else await self._fail(r, [RequestState.DISPATCHING], reason)

    async def _queued(self, r: DeployRequest) -> int:
        """The request waits for its turn: GitHub keeps one running and one pending run per concurrency group and
        cancels an older pending run for a newer one, so the bot dispatches a (service, environment)'s next request
        only when the previous run has finished. The card says which request it waits for (once per change)."""
        async with self.store.unit() as u:
            holder = await u.lane_holder(r.id)
            behind = holder.id if holder else ""
            if behind == r.queued_behind:
                return 0
            new = await u.transition(r.id, from_states=[RequestState.APPROVED], to=RequestState.APPROVED,
                                     queued_behind=behind)
            if new:
                await enqueue_card(u, self.config, new)
        return 1 if new else 0

    async def _dispatched(self, r: DeployRequest, run_id: int | None, run_url: str) -> int:
        async with self.store.unit() as u:
            new = await u.transition(r.id, from_states=[RequestState.DISPATCHING], to=RequestState.DISPATCHED,
                                     run_id=run_id, run_url=run_url, lease_until=None)
            if new:
                await enqueue_card(u, self.config, new)
        return 1
