"""A workflow run's webhooks applied to its request and card: which request a run belongs to (the bot's own
dispatch, or a run started in GitHub), its jobs, how it ended, and what a re-run started in GitHub may reuse."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import replace
from datetime import datetime

from bot.config import Config
from bot.delivery.routing import route
from bot.deploys import cards
from bot.deploys.auto import AutoDeployer
from bot.deploys.delivery_metrics import record_outcome
from bot.deploys.messages import enqueue_card, notify_requester, thread_note
from bot.deploys.notes import queue_notes
from bot.deploys.pipeline import Pipeline
from bot.deploys.repos import GitHubRepos
from bot.domain import (
    Deployment,
    DeployRequest,
    Event,
    Op,
    OutboundMessage,
    Platform,
    RequestKind,
    RequestState,
    RunHead,
    RunUpdate,
    new_request_id,
)
from bot.identity.links import resolve_github
from bot.metrics import RUNS_NOT_BOUND
from bot.store.pass_unit import NotInPass, PassUnit, webhook_unit
from bot.store.store import Unit

log = logging.getLogger(__name__)
_REQUEST_IN_TITLE = re.compile(r"\[(r-[a-z0-9]{8})\]")
# set while a webhook is applied again after GitHub was asked for the bot's login (``RunEvents._with_login``)
_LOGIN_ASKED: ContextVar[bool] = ContextVar("login_asked", default=False)
_WAITING = [RequestState.DISPATCHING, RequestState.DISPATCHED, RequestState.RUNNING]
_RERUNNABLE = [RequestState.FAILED, RequestState.CANCELLED, RequestState.SUCCEEDED]
_ROLLBACK_TITLE = re.compile(r"^rollback (?P<service>\S+) in (?P<env>\S+) to (?P<version>\S+)")
_DEPLOY_TITLE = re.compile(r"^deploy (?P<service>\S+) to (?P<env>\S+)")  # the shipped workflows' run-name


_JOB_WAITING = {"queued", "waiting", "pending", "requested"}


def _job_rank(state: str) -> int:
    """Waiting, then running, then finished (any conclusion): a job only moves forward within one attempt."""
    return 0 if state in _JOB_WAITING else 1 if state == "in_progress" else 2


def _merged_jobs(r: DeployRequest | RunHead, up: RunUpdate) -> tuple[tuple[str, ...], ...]:
    """The card's jobs with ``up``'s: a job event of the request's attempt never takes a job back (GitHub
    redelivers, and does not promise order); one of an older attempt is dropped; one of a newer attempt (a
    re-run whose run event has not arrived yet) replaces what was there."""
    if up.attempt < r.attempt:
        return r.jobs
    jobs = {j[0]: j for j in r.jobs}
    for j in up.jobs:
        old = jobs.get(j[0])
        if old is None or up.attempt > r.attempt or _job_rank(j[1]) >= _job_rank(old[1]):
            jobs[j[0]] = j
    return tuple(jobs.values())


def unchanged(r: DeployRequest | RunHead, up: RunUpdate) -> bool:
    """True when applying ``up`` to ``r`` (the request already bound to its run) would change nothing: the
    state, attempt, link and jobs are already what ``up`` says, or ``up`` cannot move ``r`` any more. Mirrors
    ``GitHubEvents._run``, which writes only what changes, written apart from it so that a test can hold one
    against the other (tests/unit/test_github_unchanged.py). Reads only ``RunHead``'s fields of ``r``: the worker
    passes the narrow read (``Unit.run_heads``). A repeat of the last state is the common webhook:
    redeliveries, in_progress again for each job."""
    if up.status == "job":
        return _merged_jobs(r, up) == r.jobs
    if up.status == "completed":
        return r.state.final  # a finished request is not moved again (a re-run starts with queued/requested)
    rerun = up.attempt > r.attempt
    if up.status == "in_progress" or (rerun and up.status in ("queued", "requested")):
        if r.state not in _WAITING and not (rerun and r.state in _RERUNNABLE):
            return True
        to = RequestState.RUNNING if up.status == "in_progress" else RequestState.DISPATCHED
        return r.state is to and not rerun and (up.html_url or r.run_url) == r.run_url
    return True


def _ended(r: DeployRequest, conclusion: str) -> str:
    """What the card says about how the run ended. A run the bot did not ask to cancel but that ended
    ``cancelled`` was cancelled by GitHub or someone there: a newer pending run of its concurrency group replaces
    an older pending one (docs.github.com, "Control the concurrency of workflows and jobs"), or a person cancelled
    it in GitHub; ``timed_out`` is GitHub stopping a job at its ``timeout-minutes``."""
    if conclusion == "success":
        return ""
    if conclusion == "cancelled":
        if r.cancel_requested_by:
            return f"Cancelled by {r.cancel_requested_by} (`/deploy cancel`)."
        return ("GitHub cancelled the run: a newer run of the same concurrency group superseded it while it was "
                "pending, or someone cancelled it in GitHub. Request it again if it is still wanted.")
    if conclusion == "timed_out":
        return "GitHub stopped the run: a job ran past its timeout."
    return f"The workflow run ended: {conclusion}."


class RunEvents:
    def __init__(self, *, pipeline: Pipeline, github: GitHubRepos, clock: Callable[[], datetime],
                 env: Mapping[str, str] | None = None) -> None:
        self.env: Mapping[str, str] = env or {}  # secrets of the deploy settings (grafana.token_env)
        self.pipeline = pipeline
        self.store = pipeline.store
        self.github = github
        self.clock = clock
        self.auto = AutoDeployer(pipeline=pipeline, github=github, clock=clock)  # issue 25 item 2

    @property
    def config(self) -> Config:  # read at each use: a reloaded config applies to the next item
        return self.pipeline.config

    async def _find(self, u: Unit, run_id: int, *, title: str = "", path: str = "", event: str = "",
                    repository: str = "", sha: str = "", actor: str = "") -> DeployRequest | None:
        """The request a run belongs to: by its run id, else by the ``[r-…]`` our workflows put in their run-name,
        but only for a run the bot itself started (see ``_correlates``)."""
        r = await u.request_by_run(run_id)
        if r is not None:
            return r
        m = _REQUEST_IN_TITLE.search(title)
        r = await u.get_request(m.group(1)) if m else None
        if r is None or (r.run_id is not None and r.run_id != run_id):
            return None
        bot = await self._bot_login(u)
        if not bot or actor.lower() != bot or r.state not in _WAITING:
            # a repository writer can dispatch our workflow with request_id=<an open request>: that run is
            # tracked as a run started outside chat (its own approval path), never as the request
            RUNS_NOT_BOUND.labels(reason="actor").inc()
            log.warning("run %s names request %s but was not dispatched by the bot; not bound", run_id, r.id)
            return None
        if not self._correlates(r, path=path, event=event, repository=repository, sha=sha):
            RUNS_NOT_BOUND.labels(reason="workflow").inc()
            log.warning("run %s names request %s but is not its workflow_dispatch run; not bound", run_id, r.id)
            return None
        await u.update_request(r.id, run_id=run_id)
        return await u.get_request(r.id)

    async def _bot_login(self, u: Unit) -> str:
        """The bot's own GitHub login (``GitHubRepos.dispatch_actor``) as known. Never asked of GitHub here, inside
        ``u``'s transaction: a call of up to 15 s would hold the webhooks' lock, and on SQLite its one writer (every
        Slack ack and ingest) meanwhile. Not known yet: ``NotInPass`` rolls the transaction back and
        ``_with_login`` asks GitHub, then applies the webhook again; "" then (GitHub could not say) binds no run
        by its title, fail closed, as ``dispatch_actor`` says. A pass hands such a webhook to its own path."""
        known = self.github.known_dispatch_actor
        if not known and (isinstance(u, PassUnit) or not _LOGIN_ASKED.get()):
            raise NotInPass("the bot's GitHub login is not known yet")
        return known

    async def _with_login(self, apply: Callable[[], Awaitable[None]]) -> None:
        """Run ``apply`` (it opens its own transaction). If it needed the bot's login before it was known, ask GitHub
        now, outside any transaction (``apply``'s rolled back), and run it again with the answer."""
        try:
            return await apply()
        except NotInPass:
            await self.github.dispatch_actor()
        asked = _LOGIN_ASKED.set(True)
        try:
            await apply()
        finally:
            _LOGIN_ASKED.reset(asked)

    def _correlates(self, r: DeployRequest, *, path: str, event: str, repository: str, sha: str) -> bool:
        """A title is text anyone who can push a branch controls: a run binds to a request only when it is a
        ``workflow_dispatch`` run of the workflow configured for the request's service, in that service's
        repository, at the request's commit when both are known."""
        service = self.config.services.get(r.service)
        if service is None:
            return False
        expected = service.rollback_workflow if r.kind is RequestKind.ROLLBACK else service.workflow
        file = path.rsplit("/", 1)[-1]
        return (event == "workflow_dispatch" and bool(expected) and file == expected
                and (path == file or path == f".github/workflows/{expected}")
                and (not repository or repository.lower() == self.config.repo_of(r.service).lower())
                and (not r.sha or not sha or r.sha == sha))

    async def _requester(self, u: Unit, *users: tuple[str, int]) -> tuple[str, tuple[str, ...]]:
        """The person who started a run in GitHub (its actor and triggering actor, resolved through the config
        and verified links: the same person as in chat) and every identity they hold, frozen on the request."""
        who = await resolve_github(u, self.config, *users)
        return who.person or "github:unknown", tuple(sorted(who.identities))

    async def _external(self, u: Unit, *, run_id: int, workflow: str, ref: str, sha: str, actor: str,
                        html_url: str, environment: str = "", state: RequestState = RequestState.DISPATCHED,
                        title: str = "", event: str = "", repository: str = "", actor_id: int = 0,
                        triggering: tuple[str, int] = ("", 0), attempt: int = 1) -> DeployRequest | None:
        """A run not started from chat gets the same card: track it as a request (once per run). Its
        environment comes from the protection rule, else from the run-name the shipped workflows set; its
        service is the one whose workflow it is in that repository."""
        if event.startswith("pull_request"):
            return None  # a pull request's run deploys nothing (and its run-name is the author's to choose)
        here = [s for s in self.config.services.values()
                if not repository or self.config.repo_of(s.name).lower() == repository.lower()]
        rollback = _ROLLBACK_TITLE.match(title)
        if rollback and rollback["service"] in {s.name for s in here} and any(
                s.rollback_workflow == workflow for s in here):
            return await self._external_rollback(u, run_id=run_id, workflow=workflow, ref=ref, actor=actor,
                                                 html_url=html_url, match=rollback,
                                                 users=((actor, actor_id), triggering))
        service = next((s for s in here if s.workflow == workflow), None)
        if service is None and environment:
            service = next((s for s in here if environment in s.environments), None)
        if service is None or not await u.claim_key(f"extrun:{run_id}"):
            return None
        named = _DEPLOY_TITLE.match(title)
        if not environment and named and named["env"] in service.environments:
            environment = named["env"]
        person, identities = await self._requester(u, (actor, actor_id), triggering)
        r = DeployRequest(
            id=new_request_id(), kind=RequestKind.DEPLOY, service=service.name, environment=environment, ref=ref,
            requester=person, requester_platform=Platform.GITHUB, requester_id=actor, channel="",
            state=state, created_at=self.clock(), workflow=workflow or service.workflow, sha=sha, run_id=run_id,
            run_url=html_url, requester_identities=identities, attempt=attempt,
        )
        await u.insert_request(r)
        return r

    async def _external_rollback(self, u: Unit, *, run_id: int, workflow: str, ref: str, actor: str,
                                 html_url: str, match: re.Match[str],
                                 users: tuple[tuple[str, int], ...]) -> DeployRequest | None:
        """The rollback workflow run from GitHub's UI: its own rollback card, like one from chat."""
        if not await u.claim_key(f"extrun:{run_id}"):
            return None
        person, identities = await self._requester(u, *users)
        version = "" if match["version"] == "previous" else match["version"]
        environment = match["env"] if match["env"] in self.config.environments else ""
        r = DeployRequest(
            id=new_request_id(), kind=RequestKind.ROLLBACK, service=match["service"], environment=environment,
            ref=ref, requester=person, requester_platform=Platform.GITHUB, requester_id=actor,
            channel="", state=RequestState.DISPATCHED, created_at=self.clock(), workflow=workflow,
            target_version=version, run_id=run_id, run_url=html_url, requester_identities=identities,
        )
        await u.insert_request(r)
        return r

    async def _run(self, up: RunUpdate) -> None:
        async def apply() -> None:
            async with webhook_unit(self.store) as u:
                await self._run_in(u, up)

        await self._with_login(apply)

    async def _run_in(self, u: Unit, up: RunUpdate) -> None:
        """Apply a workflow run's webhook in ``u``'s transaction."""
        r = await self._find(u, up.run_id, title=up.title, path=up.path, event=up.event,
                             repository=up.repository, sha=up.head_sha, actor=up.actor)
        if r is None:
            if up.status == "job":
                return
            # first seen in_progress (the common case): the request is made where the in_progress branch below
            # would move it (RUNNING, this attempt, no jobs yet): one write, not an insert and an update (issue 27
            # item 4). A rollback run is made DISPATCHED whatever it is asked (_external_rollback) and moves below.
            running = up.status == "in_progress"
            r = await self._external(u, run_id=up.run_id, workflow=up.workflow, ref=up.head_branch,
                                     sha=up.head_sha, actor=up.actor, html_url=up.html_url, title=up.title,
                                     event=up.event, repository=up.repository, actor_id=up.actor_id,
                                     triggering=(up.triggering_actor, up.triggering_actor_id),
                                     state=RequestState.RUNNING if running else RequestState.DISPATCHED,
                                     attempt=max(up.attempt, 1) if running else 1)
            if r is None:
                return  # not a configured service's workflow
            if running and r.state is RequestState.RUNNING:
                await enqueue_card(u, self.config, r)
                return
        if up.status == "job":
            jobs = _merged_jobs(r, up)
            if jobs == r.jobs:
                return  # a redelivery, or a job event that changes nothing on the card: no write, no card
            await u.update_request(r.id, jobs=jobs)
            new = await u.get_request(r.id)
        elif up.status == "completed":
            new = await self._completed(u, r, up)
            await record_outcome(u, new, at=self.clock())  # delivery figures (issue 16)
        elif (up.attempt > r.attempt and r.state in _RERUNNABLE
              and await self._outside_rerun(u, r, up.triggering_actor, attempt=up.attempt)):
            return  # a re-run started in GitHub of a finished, approved request: the card stays as it ended
        elif up.status == "in_progress" or (up.attempt > r.attempt and up.status in ("queued", "requested")):
            froms = list(_WAITING)
            if up.attempt > r.attempt:  # a re-run of a finished run
                froms += _RERUNNABLE
            to = RequestState.RUNNING if up.status == "in_progress" else RequestState.DISPATCHED
            run_url, attempt = up.html_url or r.run_url, max(up.attempt, r.attempt)
            if r.state is to and attempt == r.attempt and run_url == r.run_url:
                return  # already so (a redelivery, or in_progress again for another job): no write, no card
            # a re-run starts its jobs afresh: the last attempt's lines (a failure) would hide it otherwise
            jobs = () if attempt > r.attempt else r.jobs
            new = await u.transition(r.id, from_states=froms, to=to, run_url=run_url, attempt=attempt,
                                     jobs=jobs)
        else:
            new = None
        if new:
            await enqueue_card(u, self.config, new)

    async def _completed(self, u: Unit, r: DeployRequest, up: RunUpdate) -> DeployRequest | None:
        to = {"success": RequestState.SUCCEEDED, "cancelled": RequestState.CANCELLED,
              "skipped": RequestState.CANCELLED}.get(up.conclusion, RequestState.FAILED)
        detail = _ended(r, up.conclusion)
        if to is RequestState.CANCELLED and r.state is RequestState.REJECTED:
            return None
        froms = [s for s in RequestState if not s.final]
        new = await u.transition(r.id, from_states=froms, to=to, detail=detail, run_url=up.html_url or r.run_url)
        if new is None:
            return None
        if to is RequestState.SUCCEEDED:
            version, sha = r.ref, up.head_sha or r.sha
            if r.kind is RequestKind.ROLLBACK:  # the run is at main: what is live now is the release rolled back to
                version, sha = await self._rolled_back_to(u, r)
            previous = await u.deployments(r.service, r.environment, limit=1)
            await u.record_deployment(Deployment(r.service, r.environment, version, sha, r.id, r.requester,
                                                 self.clock()))
            await queue_notes(u, self.config, new, base=previous[0].sha if previous else "", head=sha)
        elif to is RequestState.FAILED:
            await notify_requester(u, new, f"{new.id} failed: {up.html_url}", tone="danger")
            await self._failure_alert(u, new)
        return new

    async def _rolled_back_to(self, u: Unit, r: DeployRequest) -> tuple[str, str]:
        """The release (and its commit) a successful rollback put live, from this bot's deployment history:
        the newest deployment of that release, or for ``previous`` the deployment before the current one.
        Unknown history: the release name and no commit (better than the rollback run's own commit)."""
        history = [d for d in await u.deployments(r.service, r.environment, limit=50) if d.request_id != r.id]
        if r.target_version:
            match = next((d for d in history if d.version == r.target_version
                          or d.version.startswith(f"{r.target_version}-run")), None)
            return (match.version, match.sha) if match else (r.target_version, "")
        return (history[1].version, history[1].sha) if len(history) > 1 else ("previous", "")

    async def _failure_alert(self, u: Unit, r: DeployRequest) -> None:
        event = Event(kind="failure", service=r.service, environment=r.environment, branch=r.ref, outcome="failure")
        card = cards.failure_card(r, repository=self.config.repo_of(r.service))
        key = f"fail:{r.id}:{r.attempt}"
        for target in route(self.config, event):
            mention = target.mention
            await u.enqueue(OutboundMessage(f"{key}|{target.destination.address}", target.destination, Op.CARD,
                                            replace(card, mention=mention) if mention else card, card_key=key))
        failed = [j for j in r.jobs if len(j) > 1 and j[1] == "failure"]
        if failed:
            await thread_note(u, self.config, r, "Failed: " + "; ".join(
                j[0] + (f" at step “{j[2]}”" if len(j) > 2 and j[2] else "") for j in failed))

    async def _outside_rerun(self, u: Unit, r: DeployRequest, actor: str, *, attempt: int) -> bool:
        """Is this a re-run, started in GitHub by someone other than the bot, of a finished request whose
        environment needs approvals? Its old approvals never carry over (a repository writer can press "Re-run"):
        the card says so once, and the protection rule refuses it (``_judge``). The card's own Re-run button
        re-runs through the bot's identity and is policy-checked in chat (``RequestCommands._rerun``,
        bot.deploys.verbs.requests)."""
        env = self.config.environments.get(r.environment)
        if not actor or env is None or not (env.rollback_needs_approval if r.kind is RequestKind.ROLLBACK
                                            else env.needs_approval):
            return False
        bot = await self._bot_login(u)
        if bot and actor.lower() == bot:
            return False
        if await u.claim_key(f"outside-rerun:{r.id}:{attempt}"):
            RUNS_NOT_BOUND.labels(reason="rerun").inc()
            await thread_note(u, self.config, r, f":no_entry: {actor} re-ran this run in GitHub (attempt {attempt}); "
                                                 "its approvals do not carry over, so the bot refuses it. Use the "
                                                 "card's Re-run button or request it again in chat.")
        return True
