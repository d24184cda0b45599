"""Continuous delivery to lower environments (issue 25 item 2): ``services.<svc>.auto_deploy: {environment, branch}``.

A ``push`` to the branch records its new head and who pushed it (``sender``); older commits of the service still
waiting are superseded, and an auto-deploy request of an older commit that has not started is cancelled. A
``check_suite`` ``completed`` with conclusion ``success``, or a ``status`` ``success``, for the head commit makes the
bot confirm through the REST API that every check of the commit is green (docs.github.com/en/rest/commits/statuses
#get-the-combined-status-for-a-specific-reference: ``state`` is ``pending`` when there are no statuses, so
``total_count`` 0 means "no statuses"; docs.github.com/en/rest/checks/suites#list-check-suites-for-a-git-reference:
every suite with check runs must be ``completed`` with a ``success``, ``neutral`` or ``skipped`` conclusion; a
suite of an App that created no run stays ``queued`` and is not counted) and that the commit is still the branch's
head (docs.github.com/en/rest/branches/branches#get-a-branch). Then it makes one request on behalf of the pusher:
the environment's policy applies to that person (deployers, owners, four eyes), a lock or a freeze pauses it (said
once, resumed by the worker when the environment is free), and a refusal is said and audited, never deployed."""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.actions.github import GitHubClient
from bot.config import Config
from bot.delivery.routing import route
from bot.delivery.settings import teams_deploys_conversation
from bot.deploys.auto_settings import AutoDeploy, configured
from bot.deploys.messages import enqueue_card
from bot.deploys.pipeline import Pipeline
from bot.deploys.repos import GitHubRepos
from bot.domain import (
    TEAMS_BOT_PREFIX,
    Actor,
    AuditEntry,
    Card,
    CheckUpdate,
    DeployRequest,
    Destination,
    Event,
    Fact,
    Op,
    OutboundMessage,
    Platform,
    PushUpdate,
    RequestKind,
    RequestState,
    new_request_id,
)
from bot.identity import rbac
from bot.identity.links import resolve_github
from bot.identity.teams import TeamView, policy_teams
from bot.store import auto_ops as ops
from bot.store.store import Unit

log = logging.getLogger(__name__)
_GREEN = {"success", "neutral", "skipped"}
_NOT_STARTED = [RequestState.RECEIVED, RequestState.PENDING_APPROVAL, RequestState.APPROVED]


def _notice_targets(config: Config, a: AutoDeploy) -> list[Destination]:
    """Where the service's deploy cards to the environment go (routes, and the Teams deploys conversation)."""
    dests = [t.destination for t in route(config, Event(kind="deployment", service=a.service,
                                                        environment=a.environment, branch=a.branch))]
    deploys = teams_deploys_conversation(config)
    if deploys:
        dests.append(Destination(Platform.TEAMS, TEAMS_BOT_PREFIX + deploys))
    return list(dict.fromkeys(dests))


async def _notice(u: Unit, config: Config, a: AutoDeploy, sha: str, what: str, text: str, *, tone: str,
                  pusher: str) -> None:
    """Plain text fields (a lock's reason is untrusted): each surface escapes them where it renders them."""
    card = Card(kind="deployment", title=f"Auto-deploy of {a.service} {a.branch} ({sha[:7]}) to {a.environment}",
                status=what, tone=tone, text=text,
                facts=(Fact("Service", a.service), Fact("Environment", a.environment),
                       Fact("Commit", f"{a.branch} @ {sha[:7]}"), Fact("Pushed by", pusher)))
    for dest in _notice_targets(config, a):
        await u.enqueue(OutboundMessage(f"auto:{a.service}:{sha}:{what}|{dest.platform}:{dest.address}", dest,
                                        Op.POST, card))


class AutoDeployer:
    def __init__(self, *, pipeline: Pipeline, github: GitHubRepos, clock: Callable[[], datetime]) -> None:
        self.pipeline = pipeline
        self.store = pipeline.store
        self.github = github
        self.clock = clock

    @property
    def config(self) -> Config:  # read at each use: a reloaded config applies to the next webhook
        return self.pipeline.config

    def _autos(self, repository: str) -> list[AutoDeploy]:
        return [a for a in configured(self.config).values()
                if self.config.repo_of(a.service).lower() == repository.lower()]

    # ------------------------------------------------------------------ webhooks
    async def push(self, up: PushUpdate) -> None:
        """Raises GitHubError (transient: the webhook is retried)."""
        for a in self._autos(up.repository):
            if a.branch != up.branch:
                continue
            # GitHub does not promise that webhooks arrive in order: a late push of an older commit must not
            # supersede the newer head, so the branch's head is read first
            head = await self._head(await self.github.client(self.config.repo_of(a.service)), a.branch)
            async with self.store.unit() as u:
                await ops.add_commit(u, service=a.service, sha=up.sha, branch=a.branch, environment=a.environment,
                                     pusher=up.pusher, pusher_id=up.pusher_id)
                if head != up.sha:
                    await ops.move(u, a.service, up.sha, from_states=ops.OPEN, to=ops.SUPERSEDED,
                                   detail=f"superseded by {head[:7]}")
                    continue
                # the head again (a branch reset to it): it may be deployed again once its checks are green
                await ops.move(u, a.service, up.sha, from_states=[ops.SUPERSEDED], to=ops.WAITING)
                await ops.supersede_older(u, a.service, up.sha)
                await self._cancel_older(u, a, up.sha)
                await ops.prune(u, a.service)

    async def _cancel_older(self, u: Unit, a: AutoDeploy, sha: str) -> None:
        """An auto-deploy request of an older commit that has not started yet is cancelled: the newer one wins."""
        for r in await u.requests_in(_NOT_STARTED, limit=500):
            if r.auto_deploy and r.service == a.service and r.environment == a.environment and r.sha != sha:
                new = await u.transition(r.id, from_states=_NOT_STARTED, to=RequestState.CANCELLED,
                                         detail=f"Superseded: {a.branch} moved on to {sha[:7]}; auto-deploy takes "
                                                "the newest commit whose checks are green.")
                if new is not None:
                    await u.audit(AuditEntry(self.clock(), "bot", "auto-deploy", r.id, "", "superseded",
                                             f"{a.branch} moved on to {sha[:7]}"))
                    await enqueue_card(u, self.config, new)

    async def checks(self, up: CheckUpdate) -> None:
        for a in self._autos(up.repository):
            async with self.store.unit() as u:
                row = await ops.get_commit(u, a.service, up.sha)
            if row is None and a.branch not in up.branches:
                continue  # not a commit of the auto-deploy branch (a pull request's, another branch's)
            if row is not None and row.state not in ops.OPEN:
                continue  # requested, refused or superseded already: once per commit
            await self._judge(a, up.sha, row)

    async def _judge(self, a: AutoDeploy, sha: str, row: ops.AutoRow | None) -> None:
        """Raises GitHubError (transient: the webhook is retried)."""
        gh = await self.github.client(self.config.repo_of(a.service))
        head = await self._head(gh, a.branch)
        if head != sha:  # a newer commit was pushed (its own checks decide), or the push was never recorded
            if row is not None:
                async with self.store.unit() as u:
                    await ops.move(u, a.service, sha, from_states=ops.OPEN, to=ops.SUPERSEDED,
                                   detail=f"superseded by {head[:7]}")
            return
        why = await self._not_green(gh, sha)
        if why:
            log.info("auto-deploy of %s at %s waits: %s", a.service, sha[:7], why)
            return
        pusher, pusher_id = (row.pusher, row.pusher_id) if row is not None and row.pusher else await self._author(
            gh, sha)
        if row is None:  # the push webhook was missed or is late: the head commit's author stands for the pusher
            async with self.store.unit() as u:
                await ops.add_commit(u, service=a.service, sha=sha, branch=a.branch, environment=a.environment,
                                     pusher=pusher, pusher_id=pusher_id)
        await self._decide(a, sha, pusher, pusher_id)

    # ------------------------------------------------------------------ GitHub reads
    @staticmethod
    async def _head(gh: GitHubClient, branch: str) -> str:
        data = await gh.get_json("reading the branch", f"/branches/{urllib.parse.quote(branch, safe='')}")
        return str(((data or {}).get("commit") or {}).get("sha") or "")

    @staticmethod
    async def _not_green(gh: GitHubClient, sha: str) -> str:
        """Why the commit's checks are not all green ("" = they are)."""
        status = await gh.get_json("reading the combined status", f"/commits/{sha}/status")
        if int(status.get("total_count") or 0) and status.get("state") != "success":
            return f"commit statuses are {status.get('state')}"
        data = await gh.get_json("reading the check suites", f"/commits/{sha}/check-suites", {"per_page": 100})
        suites = [s for s in data.get("check_suites") or [] if isinstance(s, dict)]
        if int(data.get("total_count") or 0) > len(suites):
            return "more check suites than one page holds"
        counted = [s for s in suites if int(s.get("latest_check_runs_count") or 0) > 0]
        for s in counted:
            if s.get("status") != "completed" or s.get("conclusion") not in _GREEN:
                app = str((s.get("app") or {}).get("slug") or "an app")
                return f"check suite of {app} is {s.get('conclusion') or s.get('status')}"
        if not counted and not int(status.get("total_count") or 0):
            return "no checks reported"
        return ""

    @staticmethod
    async def _author(gh: GitHubClient, sha: str) -> tuple[str, int]:
        data = await gh.get_json("reading the commit", f"/commits/{sha}")
        author = data.get("author") if isinstance(data, dict) else None  # the GitHub account (null: none matched)
        if not isinstance(author, dict):
            return "", 0
        uid = author.get("id")
        return str(author.get("login") or "")[:100], uid if isinstance(uid, int) and not isinstance(uid, bool) else 0

    # ------------------------------------------------------------------ the decision
    async def _actor(self, a: AutoDeploy, pusher: str, pusher_id: int) -> tuple[Actor, TeamView]:
        async with self.store.unit() as u:
            who = await resolve_github(u, self.config, (pusher, pusher_id))
        actor = Actor(Platform.GITHUB, pusher or str(pusher_id), who.person, identities=who.identities)
        teams = policy_teams(self.config, environment=a.environment, service=a.service)
        directory = self.pipeline.directory
        view = await directory.view(who.login, teams) if teams and directory is not None else TeamView(who.login)
        return actor, view

    async def _decide(self, a: AutoDeploy, sha: str, pusher: str, pusher_id: int) -> int:
        """Request the commit on behalf of its pusher, pause it behind a lock or freeze, or refuse it: 1 when the
        commit's row moved."""
        actor, teams = await self._actor(a, pusher, pusher_id)
        if not pusher and not pusher_id:
            decision = rbac.deny("nobody is known to have pushed it (no push webhook, and the commit's author has "
                                 "no GitHub account)")
        else:
            decision = rbac.can_deploy(self.config, actor, a.environment, service=a.service, teams=teams)
        now = self.clock()
        async with self.store.unit() as u:
            if not decision.allowed:
                if not await ops.move(u, a.service, sha, from_states=ops.OPEN, to=ops.REFUSED, detail=decision.reason):
                    return 0
                await u.audit(AuditEntry(now, actor.label, "auto-deploy", f"{a.service}/{a.environment}", "",
                                         "denied", f"{sha[:7]}: {decision.reason}"[:500]))
                await _notice(u, self.config, a, sha, "refused", f"Pushed by {actor.label}, who may not deploy "
                              f"there: {decision.reason}. Nothing was deployed.", tone="danger",
                              pusher=actor.label)
                return 1
            blocked = await self.pipeline.blocked(u, a.environment, now)
            if blocked:
                if not await ops.move(u, a.service, sha, from_states=[ops.WAITING], to=ops.PAUSED, detail=blocked):
                    return 0  # paused already (said once)
                await _notice(u, self.config, a, sha, "paused", f"Its checks are green, but {blocked}. It starts "
                              f"when {a.environment} is free again, unless a newer commit is pushed first.",
                              tone="warning", pusher=actor.label)
                return 1
            r = self._new_request(a, sha, actor, now)
            if not await ops.move(u, a.service, sha, from_states=ops.OPEN, to=ops.REQUESTED, request_id=r.id):
                return 0  # another delivery or replica made it
            await u.insert_request(r)
            await u.audit(AuditEntry(now, actor.label, "auto-deploy", r.id, "", "ok",
                                     f"{a.service}/{a.environment} {a.branch} at {sha[:7]} pushed by {actor.label}"))
            await enqueue_card(u, self.config, r)
        self.pipeline.wake()
        log.info("auto-deploy of %s at %s to %s requested as %s", a.service, sha[:7], a.environment, r.id)
        return 1

    def _new_request(self, a: AutoDeploy, sha: str, actor: Actor, now: datetime) -> DeployRequest:
        """As ``RequestCommands._request`` (bot.deploys.verbs.requests) makes a deploy request: the environment's
        approvals and gate apply."""
        env = self.config.environments[a.environment]
        needs_approval = env.needs_approval and env.gate == "bot"
        return DeployRequest(
            id=new_request_id(), kind=RequestKind.DEPLOY, service=a.service, environment=a.environment, ref=a.branch,
            requester=actor.person or "", requester_platform=Platform.GITHUB, requester_id=actor.platform_id,
            channel="", state=RequestState.RECEIVED, created_at=now,
            workflow=self.config.services[a.service].workflow,
            approvals_required=env.approvals if env.needs_approval else 0,
            expires_at=now + timedelta(seconds=env.approval_ttl_s) if needs_approval else None,
            requester_identities=tuple(sorted(actor.identities)), sha=sha, auto_deploy=a.branch,
        )

    # ------------------------------------------------------------------ the worker's pass
    async def resume(self) -> int:
        """Paused commits whose environment is free again are requested (the policy is asked again)."""
        async with self.store.unit() as u:
            rows = await ops.paused(u)
        if not rows:
            return 0
        done = 0
        autos = configured(self.config)
        for row in rows:
            a = autos.get(row.service)
            if a is None or a.environment != row.environment:
                async with self.store.unit() as u:  # auto-deploy was switched off or moved: nothing to resume
                    await ops.move(u, row.service, row.sha, from_states=[ops.PAUSED], to=ops.SUPERSEDED,
                                   detail="auto-deploy is no longer configured for this environment")
                continue
            async with self.store.unit() as u:
                if await self.pipeline.blocked(u, a.environment, self.clock()):
                    continue
            done += await self._decide(a, row.sha, row.pusher, row.pusher_id)
        return done
