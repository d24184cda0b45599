"""Apply GitHub webhooks (recorded in the inbox) to requests and cards, and run GitHub jobs
(protection-rule callbacks, re-runs) queued durably by the pipeline. Each item is processed once:
inbox rows are claimed under a lease, and every state change is a conditional write."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from bot.actions.github import RunInfo
from bot.config import Config
from bot.delivery.routing import route
from bot.deploys import cards
from bot.deploys.auto import AutoDeployer
from bot.deploys.delivery_metrics import record_outcome
from bot.deploys.gates import judge
from bot.deploys.messages import enqueue_callback, enqueue_card, notify_requester, thread_note
from bot.deploys.notes import post_annotation, post_notes, queue_notes
from bot.deploys.pipeline import Pipeline
from bot.deploys.repos import GitHubRepos
from bot.domain import (
    CheckUpdate,
    Deployment,
    DeploymentUpdate,
    DeployRequest,
    Destination,
    Event,
    GitHubUpdate,
    Op,
    OutboundMessage,
    Platform,
    ProtectionRuleRequest,
    PushUpdate,
    RequestKind,
    RequestState,
    ReviewRequest,
    RunUpdate,
    new_request_id,
)
from bot.errors import GitHubError
from bot.identity.links import resolve_github
from bot.metrics import CROSS_REPOSITORY, RUNS_NOT_BOUND
from bot.store.store import Unit

log = logging.getLogger(__name__)
_REQUEST_IN_TITLE = re.compile(r"\[(r-[a-z0-9]{8})\]")
_WAITING = [RequestState.DISPATCHING, RequestState.DISPATCHED, RequestState.RUNNING]
_RERUNNABLE = [RequestState.FAILED, RequestState.CANCELLED, RequestState.SUCCEEDED]
_ROLLBACK_TITLE = re.compile(r"^rollback (?P<service>\S+) in (?P<env>\S+) to (?P<version>\S+)")
_DEPLOY_TITLE = re.compile(r"^deploy (?P<service>\S+) to (?P<env>\S+)")  # the shipped workflows' run-name


_JOB_WAITING = {"queued", "waiting", "pending", "requested"}



def _job_rank(state: str) -> int:
    """Waiting, then running, then finished (any conclusion): a job only moves forward within one attempt."""
    return 0 if state in _JOB_WAITING else 1 if state == "in_progress" else 2


def _merged_jobs(r: DeployRequest, up: RunUpdate) -> tuple[tuple[str, ...], ...]:
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


def unchanged(r: DeployRequest, up: RunUpdate) -> bool:
    """True when applying ``up`` to ``r`` (the request already bound to its run) would change nothing: the
    state, attempt, link and jobs are already what ``up`` says, or ``up`` cannot move ``r`` any more. Mirrors
    ``GitHubEvents._run``, which writes only what changes, written apart from it so that a test can hold one
    against the other (tests/unit/test_github_unchanged.py). A repeat of the last state is the common webhook:
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


class GitHubEvents:
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

    # ------------------------------------------------------------------ webhooks
    async def apply(self, update: GitHubUpdate) -> None:
        if isinstance(update, RunUpdate):
            await self._run(update)
        elif isinstance(update, ProtectionRuleRequest):
            await self._protection(update)
        elif isinstance(update, ReviewRequest):
            await self._review(update)
        elif isinstance(update, PushUpdate):
            await self.auto.push(update)
        elif isinstance(update, CheckUpdate):
            await self.auto.checks(update)
        else:
            await self._deployment(update)

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
        bot = await self.github.dispatch_actor()
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
                        triggering: tuple[str, int] = ("", 0)) -> DeployRequest | None:
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
            run_url=html_url, requester_identities=identities,
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
        async with self.store.unit() as u:
            r = await self._find(u, up.run_id, title=up.title, path=up.path, event=up.event,
                                 repository=up.repository, sha=up.head_sha, actor=up.actor)
            if r is None:
                if up.status == "job":
                    return
                r = await self._external(u, run_id=up.run_id, workflow=up.workflow, ref=up.head_branch,
                                         sha=up.head_sha, actor=up.actor, html_url=up.html_url, title=up.title,
                                         event=up.event, repository=up.repository, actor_id=up.actor_id,
                                         triggering=(up.triggering_actor, up.triggering_actor_id))
                if r is None:
                    return  # not a configured service's workflow
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

    async def _protection(self, pr: ProtectionRuleRequest) -> None:
        """GitHub asks whether a run may deploy into ``pr.environment``: answered for every gate (docs/configuration.md,
        "Gates"). A run the bot dispatched after a chat decision is approved; a run started elsewhere gets the chat
        policy (approvals in chat when the environment needs them); the environment judged is the one asked for."""
        repository = self.github.callback_repository(pr.callback_url)
        if not repository:
            log.warning("protection rule for run %s names a callback outside the configured repositories", pr.run_id)
            return
        async with self.store.unit() as u:
            r = await u.request_by_run(pr.run_id)
        run: RunInfo | None = None
        if r is None:  # the webhook can beat our own dispatch's answer: read the run's title
            try:
                run = await (await self.github.client(repository)).get_run(pr.run_id)
            except GitHubError:
                log.warning("could not read run %s for its protection rule", pr.run_id)
        async with self.store.unit() as u:
            r = await self._find(u, pr.run_id, title=run.title if run else "", path=run.workflow if run else "",
                                 event=run.event if run else "", sha=run.head_sha if run else "",
                                 repository=repository, actor=run.actor if run else "")
            if r is None:
                r = await self._external(u, run_id=pr.run_id, workflow=run.workflow if run else "", ref=pr.ref,
                                         sha=pr.sha, actor=pr.actor, html_url=run.html_url if run else "",
                                         environment=pr.environment, title=run.title if run else "",
                                         event=run.event if run else pr.event, repository=repository,
                                         actor_id=pr.actor_id)
            if r is None:
                person, identities = await self._requester(u, (pr.actor, pr.actor_id))
                r = DeployRequest(  # unknown workflow: still answered, fail closed
                    id=new_request_id(), kind=RequestKind.DEPLOY, service="?", environment=pr.environment,
                    ref=pr.ref, requester=person, requester_platform=Platform.GITHUB,
                    requester_id=pr.actor, channel="", state=RequestState.DISPATCHED, created_at=self.clock(),
                    workflow="?", sha=pr.sha, run_id=pr.run_id, callback_url=pr.callback_url,
                    requester_identities=identities)
                await u.insert_request(r)
                await self._refuse(u, r, pr, "this workflow is not a configured service")
            else:
                await self._judge(u, r, pr)
        self.pipeline.wake()

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
        bot = await self.github.dispatch_actor()
        if bot and actor.lower() == bot:
            return False
        if await u.claim_key(f"outside-rerun:{r.id}:{attempt}"):
            RUNS_NOT_BOUND.labels(reason="rerun").inc()
            await thread_note(u, self.config, r, f":no_entry: {actor} re-ran this run in GitHub (attempt {attempt}); "
                                                 "its approvals do not carry over, so the bot refuses it. Use the "
                                                 "card's Re-run button or request it again in chat.")
        return True

    async def _judge(self, u: Unit, r: DeployRequest, pr: ProtectionRuleRequest) -> None:
        now = self.clock()
        if r.state.final and await self._outside_rerun(u, r, pr.actor, attempt=0):
            return await self._refuse(u, r, pr, f"{r.id} already ended ({r.state.value.replace('_', ' ')}); a "
                                                f"re-run started in GitHub by {pr.actor} does not reuse its approvals",
                                      keep_request=True)
        approved = [a.person for a in await u.approvals(r.id) if a.decision == "approve"]
        verdict = judge(self.config, r, environment=pr.environment, sha=pr.sha, approvals=len(approved),
                        blocked=await self.pipeline.blocked(u, pr.environment, now))
        if verdict.answer == "refuse":
            return await self._refuse(u, r, pr, verdict.reason, keep_request=verdict.keep_request)
        await u.update_request(r.id, callback_url=pr.callback_url, environment=pr.environment,
                               approvals_required=verdict.required, sha=r.sha or pr.sha)
        fresh = await u.get_request(r.id)
        assert fresh is not None
        if verdict.answer == "approve":
            key = f"callback:{r.id}:{pr.callback_url}:{pr.deployment_id}"
            comment = f"Approved in chat by {', '.join(approved)}" if approved else "No approval needed"
            new = await u.transition(r.id, from_states=_WAITING, to=RequestState.DISPATCHED)
            await enqueue_callback(u, new or fresh, approved=True, comment=comment, environment=pr.environment,
                                   url=pr.callback_url, key=key)
            if new:
                await enqueue_card(u, self.config, new)
            return None
        env = self.config.environments[pr.environment]
        new = await u.transition(r.id, from_states=_WAITING, to=RequestState.PENDING_APPROVAL,
                                 expires_at=now + timedelta(seconds=env.approval_ttl_s))
        if new:
            await enqueue_card(u, self.config, new)
        elif fresh.state is not RequestState.PENDING_APPROVAL:  # never leave GitHub without an answer
            await self._refuse(u, fresh, pr, f"{r.id} is {fresh.state.value.replace('_', ' ')} without the "
                                             f"{verdict.required} approval(s) {pr.environment} needs",
                               keep_request=True)
        return None

    async def _refuse(self, u: Unit, r: DeployRequest, pr: ProtectionRuleRequest, reason: str, *,
                      keep_request: bool = False) -> None:
        """Answer this protection-rule request "rejected" for the environment it names. The request is rejected
        too, unless the refusal is about another environment's (or commit's) request of the same run."""
        comment = f"Refused by the ChatOps bot: {reason}"
        key = f"callback:{r.id}:{pr.callback_url}:{pr.deployment_id}:refused"
        if keep_request:
            await enqueue_callback(u, r, approved=False, comment=comment, environment=pr.environment,
                                   url=pr.callback_url, key=key)
            await thread_note(u, self.config, r, f":no_entry: {comment}")
            return
        new = await u.transition(r.id, from_states=[s for s in RequestState if not s.final],
                                 to=RequestState.REJECTED, detail=f"Refused at the protection rule: {reason}",
                                 callback_url=pr.callback_url)
        await enqueue_callback(u, new or r, approved=False, comment=comment, environment=pr.environment,
                               url=pr.callback_url, key=key)
        if new and new.service != "?":
            await enqueue_card(u, self.config, new)

    async def _review(self, rr: ReviewRequest) -> None:
        names = []
        for who in rr.reviewers:
            kind, _, name = who.partition(":")
            person = self.config.person_by("github", name) if kind == "user" else None
            names.append(f"<@{person.slack}>" if person and person.slack else (f"team {name}" if kind == "team"
                                                                               else name))
        card = cards.review_card(run_id=rr.run_id, environment=rr.environment, reviewers=names,
                                 html_url=rr.html_url, title=rr.title, head_sha=rr.head_sha, requestor=rr.requestor)
        key = f"review:{rr.run_id}"
        dests = [t.destination for t in route(self.config, Event(kind="approval", environment=rr.environment,
                                                                 branch=rr.head_branch))]
        approvals = self.config.approvals_channel()
        if approvals and Destination(Platform.SLACK, approvals) not in dests:
            dests.insert(0, Destination(Platform.SLACK, approvals))
        async with self.store.unit() as u:
            for d in dests:
                await u.enqueue(OutboundMessage(f"{key}|{d.platform}:{d.address}", d, Op.CARD, card, card_key=key))

    def _ours(self, du: DeploymentUpdate, service: str) -> bool:
        """Is ``service`` a service of the repository the webhook came from? Every effect of a webhook belongs to
        ``payload.repository``: a signed event of one repository cannot speak for another's services."""
        return bool(du.repository) and service in self.config.services and (
            self.config.repo_of(service).lower() == du.repository)

    async def _deployment(self, du: DeploymentUpdate) -> None:
        if du.run_repository and du.run_repository != du.repository:
            CROSS_REPOSITORY.inc()  # a status of repository A pointing at a run of repository B: ignored
            log.warning("deployment status of %s names a run of another repository; ignored", du.repository)
            return
        async with self.store.unit() as u:
            r = await u.request_by_run(du.run_id) if du.run_id else None
            if r is None and du.request_id:
                r = await u.get_request(du.request_id)
            if r is not None and not self._ours(du, r.service):
                CROSS_REPOSITORY.inc()
                log.warning("deployment event of %s names request %s of another repository; ignored",
                            du.repository, r.id)
                r = None
            if r is not None and not r.environment and du.environment in self.config.environments:
                await u.update_request(r.id, environment=du.environment)
                new = await u.get_request(r.id)
                if new:
                    await enqueue_card(u, self.config, new)
            if du.state in ("failure", "error") and "roll" in du.description.lower():
                service = du.service or (r.service if r else "")
                if service and not self._ours(du, service):
                    CROSS_REPOSITORY.inc()
                    log.warning("rollback status of %s names a service of another repository; ignored",
                                du.repository)
                    return
                card = cards.rollback_alert_card(service=service, environment=du.environment,
                                                 description=du.description, sha=du.sha, creator=du.creator,
                                                 log_url=du.log_url, state=du.state)
                key = f"autorollback:{du.deployment_id}"
                event = Event(kind="rollback", service=service, environment=du.environment, outcome="failure")
                for t in route(self.config, event):
                    await u.enqueue(OutboundMessage(f"{key}|{t.destination.address}", t.destination, Op.CARD,
                                                    card, card_key=key))

    # ------------------------------------------------------------------ durable GitHub jobs
    async def run_job(self, body: dict[str, Any]) -> None:
        """Raises GitHubError(transient=True) to be retried later."""
        if body["op"] == "notes":
            gh = await self.github.client(body.get("repository") or self.config.repository)
            await post_notes(store=self.store, config=self.config, github=gh, body=body)
            self.pipeline.wake()
            return
        if body["op"] == "annotate":
            await post_annotation(store=self.store, config=self.config, env=self.env, body=body)
            return
        if body["op"] == "rerun":
            gh = await self.github.client(body.get("repository") or self.config.repository)
            await gh.rerun_failed_jobs(int(body["run_id"]))
            return
        if body["op"] == "cancel":
            repository = body.get("repository") or self.config.repository
            gh = await self.github.client(repository)
            if not await gh.cancel_run(int(body["run_id"])):  # 409: the run has completed; apply how it ended
                run = await gh.get_run(int(body["run_id"]))
                if run.status == "completed":
                    await self._run(RunUpdate(run_id=run.run_id, workflow=run.workflow, status="completed",
                                              conclusion=run.conclusion, html_url=run.html_url,
                                              head_sha=run.head_sha, head_branch="", title=run.title,
                                              event=run.event, actor=run.actor, repository=repository))
            return
        repository = self.github.callback_repository(body["url"])
        if not repository:
            raise GitHubError("refusing a callback URL outside the configured repositories", transient=False)
        gh = await self.github.client(repository)
        state, comment = body["state"], body["comment"]
        if state == "approved" and body.get("sha"):
            run = await gh.get_run(int(re.findall(r"/runs/(\d+)/", body["url"])[0]))
            if run.head_sha and run.head_sha != body["sha"]:  # approval bound to the commit
                state, comment = "rejected", (f"Approval void: the run deploys {run.head_sha[:7]}, "
                                              f"but {body['sha'][:7]} was approved")
                async with self.store.unit() as u:
                    new = await u.transition(body["request_id"], from_states=[RequestState.DISPATCHED],
                                             to=RequestState.REJECTED, detail=comment)
                    if new:
                        await enqueue_card(u, self.config, new)
        await gh.protection_callback(url=body["url"], environment=body["environment"], state=state,
                                              comment=comment)

