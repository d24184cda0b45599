"""The one place that sequences: dedup -> policy -> state change + audit + outbox, in one transaction.

Commands and decisions are decided in-request (a few milliseconds of database work) so the answer to
the user is final; everything slow (resolving refs, dispatching, delivering chat messages) happens in
background workers that read the durable state (bot.runtime.worker, bot.delivery.outbox).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import orjson

from bot.config import Config
from bot.delivery.quiet import held
from bot.delivery.routing import route
from bot.delivery.settings import teams_deploys_conversation, webhook_wants
from bot.deploys import cards
from bot.deploys.commands import validate_ref
from bot.deploys.delivery_metrics import stats_text
from bot.deploys.emergency import announce_emergency
from bot.deploys.freeze import active_freeze, describe
from bot.deploys.settings import promotion_target, skips_approval
from bot.domain import (
    TEAMS_BOT_PREFIX,
    Actor,
    Approval,
    ApproveCommand,
    ApproveListCommand,
    AuditEntry,
    CancelCommand,
    Card,
    CheckUpdate,
    Command,
    DeployCommand,
    DeploymentUpdate,
    DeployRequest,
    Destination,
    Event,
    GitHubUpdate,
    Lock,
    LockCommand,
    Op,
    OutboundMessage,
    Platform,
    PromoteCommand,
    ProtectionRuleRequest,
    PushUpdate,
    RejectCommand,
    Reply,
    RequestKind,
    RequestState,
    ReviewRequest,
    RollbackCommand,
    RunUpdate,
    StatsCommand,
    StatusCommand,
    UnlockCommand,
    new_request_id,
)
from bot.errors import StoreUnavailable
from bot.identity import rbac
from bot.identity.links import resolve_actor
from bot.identity.teams import TeamDirectory, TeamView, policy_teams
from bot.store.delivery_ops import get_changes
from bot.store.store import Store, Unit

log = logging.getLogger(__name__)


_GITHUB_TYPES: dict[str, type[GitHubUpdate]] = {
    t.__name__: t for t in (RunUpdate, ProtectionRuleRequest, ReviewRequest, DeploymentUpdate, PushUpdate,
                            CheckUpdate)
}


def github_update_to_json(update: GitHubUpdate) -> str:
    # fields are flat values and tuples: no need for asdict's deep copy on the ingest path
    data = {f.name: getattr(update, f.name) for f in fields(update)}
    try:  # orjson: the same JSON text for these values (compact; non-ASCII as UTF-8, which json.loads reads alike)
        return orjson.dumps({"t": type(update).__name__, "d": data}).decode()
    except TypeError:  # an int wider than 64 bits (orjson refuses it): json writes it exactly
        return json.dumps({"t": type(update).__name__, "d": data}, separators=(",", ":"))


def github_update_from_json(body: str) -> GitHubUpdate:
    data = json.loads(body)
    cls = _GITHUB_TYPES[data["t"]]
    values: dict[str, Any] = {
        k: tuple(tuple(x) if isinstance(x, list) else x for x in v) if isinstance(v, list) else v
        for k, v in data["d"].items()
    }
    return cls(**values)


async def thread_note(u: Unit, config: Config, r: DeployRequest, text: str) -> None:
    """A follow-up detail in the request card's thread, wherever the card lives."""
    key = cards.card_key(r.id)
    token = uuid.uuid4().hex
    for dest in request_targets(config, r):
        if dest.platform is Platform.SLACK:
            await u.enqueue(OutboundMessage(f"{key}|note|{dest.address}|{token}", dest, Op.POST,
                                            cards.notice(text), card_key=key))


async def enqueue_callback(u: Unit, r: DeployRequest, *, approved: bool, comment: str, environment: str = "",
                           url: str = "", key: str = "") -> None:
    """Durably queue the answer to GitHub's protection rule (sent once by the worker). ``environment``, ``url``
    and ``key`` name one protection-rule request when a run asks more than once (one per job)."""
    url = url or r.callback_url
    body = json.dumps({"op": "callback", "request_id": r.id, "url": url, "environment": environment or r.environment,
                       "state": "approved" if approved else "rejected", "comment": comment[:1000], "sha": r.sha})
    await u.inbox_add(source="ghjob", key=key or f"callback:{r.id}:{url}", kind="callback", body=body)


def utcnow() -> datetime:
    return datetime.now(UTC)


def request_targets(config: Config, r: DeployRequest) -> list[Destination]:
    """Where a request's card lives: the approvals channel when it needs approval, plus routed channels."""
    kind = "rollback" if r.kind is RequestKind.ROLLBACK else "deployment"
    dests = [t.destination for t in route(config, Event(kind=kind, service=r.service, environment=r.environment,
                                                        branch=r.ref))]
    if r.approvals_required and config.approvals_channel():
        approvals = Destination(Platform.SLACK, config.approvals_channel())
        if approvals not in dests:
            dests.insert(0, approvals)
    if r.approvals_required and config.teams_approvals_conversation:
        dests.append(Destination(Platform.TEAMS, TEAMS_BOT_PREFIX + config.teams_approvals_conversation))
    deploys = teams_deploys_conversation(config)
    if deploys and Destination(Platform.TEAMS, TEAMS_BOT_PREFIX + deploys) not in dests:
        dests.append(Destination(Platform.TEAMS, TEAMS_BOT_PREFIX + deploys))
    return dests


async def enqueue_card(u: Unit, config: Config, r: DeployRequest) -> None:
    """Queue an in-place update of the request's card everywhere it lives (posted the first time)."""
    approvals = await u.approvals(r.id)
    # the compare link is against the deployment before this one (this one is the latest once it succeeded)
    previous = [d for d in await u.deployments(r.service, r.environment, limit=2) if d.request_id != r.id]
    preview = r.kind is RequestKind.DEPLOY and bool(r.approvals_required)  # what the approver needs to see
    card = cards.request_card(r, approvals, repository=config.repo_of(r.service),
                              promote_to=promotion_target(config, r.service, r.environment),
                              previous_sha=previous[0].sha if previous else "",
                              changes=await get_changes(u, r.id) if preview else None, preview=preview)
    key = cards.card_key(r.id)
    token = uuid.uuid4().hex
    event = Event(kind="rollback" if r.kind is RequestKind.ROLLBACK else "deployment", service=r.service,
                  environment=r.environment, branch=r.ref)
    line = f"{card.title}: {card.status} ({r.id})"
    for dest in request_targets(config, r):
        webhook = dest.platform is Platform.TEAMS and not dest.address.startswith(TEAMS_BOT_PREFIX)
        if webhook and not webhook_wants(config, dest.address, r.state):
            continue  # a webhook cannot edit its card: post only what people need (teams.webhooks.*.updates)
        if await held(u, config, event=event, dest=dest, state=r.state, line=line, card_key=key, at=r.updated_at):
            continue  # the route's quiet hours (bot.delivery.quiet)
        await u.enqueue(OutboundMessage(f"{key}|{dest.platform}:{dest.address}|{token}", dest, Op.CARD, card,
                                        card_key=key))


async def notify_requester(u: Unit, r: DeployRequest, text: str, *, tone: str = "neutral") -> None:
    """Tell the requester privately (through the command's response_url when we have one)."""
    if r.requester_platform is not Platform.SLACK:
        return
    card = cards.notice(text, tone=tone)
    key = f"note:{r.id}:{uuid.uuid4().hex}"
    if r.response_url:
        await u.enqueue(OutboundMessage(key, Destination(Platform.SLACK, r.response_url), Op.RESPOND, card))
    elif r.channel:
        await u.enqueue(OutboundMessage(key, Destination(Platform.SLACK, r.channel, r.requester_id),
                                        Op.EPHEMERAL, card))


class ExtraCommands(Protocol):
    def handles(self, cmd: Command) -> bool: ...
    async def run(self, cmd: Command, actor: Actor, *, idem_key: str, response_url: str = "") -> Reply: ...


class Pipeline:
    def __init__(self, *, config: Config, store: Store, wake: Callable[[], None] = lambda: None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.config = config
        self.store = store
        self.wake = wake
        self.clock = clock
        self.directory: TeamDirectory | None = None  # github-team: answers (bot/identity/teams.py)
        self.commands: ExtraCommands | None = None  # link / unlink / whoami (bot.identity.commands)

    async def who(self, actor: Actor, *, environment: str = "", service: str = "",
                  need_teams: bool = True, viewing: bool = False) -> tuple[Actor, TeamView]:
        """The actor as a person (config entry and verified links: key and every identity they hold), and the
        github-team: memberships the rules about ``environment`` / ``service`` (or about seeing, ``viewing``) may
        consult. ``TeamView.login`` is the verified GitHub login ("" = none)."""
        config = self.config
        teams = policy_teams(config, environment=environment, service=service) if need_teams else set()
        if viewing:
            teams |= {v for v in rbac.viewer_entries(config) if v.startswith("github-team:")}
        async with self.store.unit() as u:
            actor, person = await resolve_actor(u, config, actor)
        if not teams or self.directory is None:
            return actor, TeamView(person.login)
        return actor, await self.directory.view(person.login, teams)

    async def _audit(self, u: Unit, actor: Actor, action: str, target: str, result: str, detail: str = "") -> None:
        if result == "denied" and actor.person:  # a refusal names the person and the platform identity that asked
            detail = f"{detail[:400]} (as {actor.platform}:{actor.platform_id[:80]})"
        await u.audit(AuditEntry(self.clock(), actor.label, action, target, actor.channel, result, detail[:500]))

    async def _denied(self, actor: Actor, action: str, target: str, reason: str) -> Reply:
        async with self.store.unit() as u:
            await self._audit(u, actor, action, target, "denied", reason)
        log.info("denied %s on %s for %s", action, target, actor.label)
        return Reply(f":no_entry: Not allowed: {reason}.")

    async def handle(self, cmd: Command, actor: Actor, *, idem_key: str, response_url: str = "") -> Reply:
        """Run one parsed command for ``actor``. A repeat of ``idem_key`` has no second effect."""
        try:
            if self.commands is not None and self.commands.handles(cmd):
                return await self.commands.run(cmd, actor, idem_key=idem_key, response_url=response_url)
            if isinstance(cmd, DeployCommand | RollbackCommand):
                return await self._request(cmd, actor, idem_key=idem_key, response_url=response_url)
            if isinstance(cmd, PromoteCommand):
                return await self._promote_latest(cmd, actor, idem_key=idem_key, response_url=response_url)
            if isinstance(cmd, ApproveCommand | RejectCommand):
                approve = isinstance(cmd, ApproveCommand)
                text = cmd.comment if isinstance(cmd, ApproveCommand) else cmd.reason
                return await self.decide(cmd.request_id, approve=approve, actor=actor, comment=text,
                                         idem_key=idem_key)
            if isinstance(cmd, ApproveListCommand):
                return await self._approvable(actor)
            if isinstance(cmd, StatusCommand):
                return await self._status(cmd, actor)
            if isinstance(cmd, StatsCommand):
                return await self._stats(cmd, actor)
            if isinstance(cmd, LockCommand | UnlockCommand):
                return await self._lock(cmd, actor, idem_key=idem_key)
            if isinstance(cmd, CancelCommand):
                return await self._cancel(cmd, actor, idem_key=idem_key)
            return Reply(":warning: That command is not available here.")
        except StoreUnavailable:  # issue 24 item 5: said plainly; the idempotency key makes the retry safe
            log.warning("command refused for %s: store unavailable", actor.label)
            return Reply(":warning: The bot cannot reach its database right now. Please try again in a minute; "
                         "a repeat of this command is safe.")
        except Exception:
            log.exception("command failed for %s", actor.label)  # policy fault = deny; never a traceback to users
            return Reply(":warning: Something went wrong on our side; nothing was changed. Please try again.")

    async def _promote_latest(self, cmd: PromoteCommand, actor: Actor, *, idem_key: str, response_url: str) -> Reply:
        """``/deploy promote api staging to production``: the commit that last succeeded in ``source``."""
        async with self.store.unit() as u:
            last = await u.deployments(cmd.service, cmd.source, limit=1)
        if not last or not last[0].sha or validate_ref(last[0].version):
            return Reply(f":warning: The bot has no successful deploy of {cmd.service} to {cmd.source} to promote; "
                         f"deploy there first.")
        return await self._request(DeployCommand(cmd.service, last[0].version, cmd.target), actor,
                                   idem_key=idem_key, response_url=response_url, sha=last[0].sha,
                                   promoted_from=cmd.source)

    async def _promote(self, r: DeployRequest, actor: Actor, *, idem_key: str, response_url: str) -> Reply:
        """The **Promote** button of a successful request: a new request for the same commit, for the environment
        that promotes from this one (through that environment's own policy)."""
        target = promotion_target(self.config, r.service, r.environment)
        if r.state is not RequestState.SUCCEEDED or r.kind is not RequestKind.DEPLOY or not r.sha or not target:
            return Reply(f":warning: `{r.id}` is not a successful deploy that can be promoted.")
        return await self._request(DeployCommand(r.service, r.ref, target), actor, idem_key=idem_key,
                                   response_url=response_url, sha=r.sha, promoted_from=r.environment)

    async def _request(self, cmd: DeployCommand | RollbackCommand, actor: Actor, *, idem_key: str,
                       response_url: str, sha: str = "", promoted_from: str = "") -> Reply:
        rollback = isinstance(cmd, RollbackCommand)
        emergency = cmd.emergency if isinstance(cmd, DeployCommand) else ""
        action = "rollback" if rollback else "promote" if promoted_from else "deploy"
        target = f"{cmd.service}/{cmd.environment}"
        actor, teams = await self.who(actor, environment=cmd.environment, service=cmd.service)
        decision = rbac.can_deploy(self.config, actor, cmd.environment, force=cmd.force, service=cmd.service,
                                   teams=teams, emergency=bool(emergency))
        if not decision.allowed:
            return await self._denied(actor, action, target, decision.reason)
        env = self.config.environments[cmd.environment]
        service = self.config.services[cmd.service]
        now = self.clock()
        # gate bot: the bot holds the dispatch until approved. gate github: the bot dispatches now and
        # approves when GitHub asks through the protection rule (bot.deploys.github_events)
        wants = env.rollback_needs_approval if rollback else env.needs_approval  # rollback_approval: none opts out
        wants = wants and not (emergency and skips_approval(self.config))  # emergency.skip_approval: true
        needs_approval = wants and env.gate == "bot"
        r = DeployRequest(
            id=new_request_id(),
            kind=RequestKind.ROLLBACK if rollback else RequestKind.DEPLOY,
            service=cmd.service,
            environment=cmd.environment,
            ref=service.default_branch if isinstance(cmd, RollbackCommand) else cmd.ref,  # "": read from GitHub
            requester=actor.person or "",
            requester_platform=actor.platform,
            requester_id=actor.platform_id,
            channel=actor.channel,
            state=RequestState.RECEIVED,
            created_at=now,
            workflow=service.rollback_workflow if rollback else service.workflow,
            approvals_required=env.approvals if (needs_approval or (env.gate == "github" and wants)) else 0,
            expires_at=now + timedelta(seconds=env.approval_ttl_s) if needs_approval else None,
            target_version=cmd.target_version if isinstance(cmd, RollbackCommand) else "",
            response_url=response_url,
            requester_identities=tuple(sorted(actor.identities)),
            sha=sha,
            promoted_from=promoted_from,
            emergency=emergency,
        )
        async with self.store.unit() as u:
            if not await u.claim_key(idem_key):
                return Reply("Already received; nothing more to do.", ok=True)
            blocked = await self.blocked(u, cmd.environment, now)
            if blocked and not (cmd.force or emergency):
                await self._audit(u, actor, action, target, "denied", blocked)
                return Reply(f":lock: Not allowed: {blocked}. (Admins may add --force, or --emergency \"<reason>\".)")
            await u.insert_request(r)
            if blocked and not emergency:  # an admin forced it: say so where everyone sees the card
                await thread_note(u, self.config, r, f":warning: {actor.label} forced this past: {blocked}")
            await self._audit(u, actor, action, r.id, "ok",
                              f"{target} {r.ref if not rollback else r.target_version or 'previous'}"
                              + (f" promoted from {promoted_from} at {sha[:7]}" if promoted_from else "")
                              + (" --force" if cmd.force else ""))
            if emergency:  # who, why and what it went past: the audit row, the card, security and deploys
                past = blocked or "nothing (no freeze or lock)"
                await self._audit(u, actor, "emergency", r.id, "ok", f"reason: {emergency}; past: {past}")
                await announce_emergency(u, self.config, r, by=actor.label, past=blocked)
            await enqueue_card(u, self.config, r)
            ahead = await u.lane_holder(r.id)  # one run per (service, environment) at a time (bot.runtime.worker)
        self.wake()
        what = f"rollback of {cmd.service} in {cmd.environment}" if rollback else (
            f"promotion of {cmd.service} {r.ref} ({sha[:7]}) from {promoted_from} to {cmd.environment}"
            if promoted_from else f"{'emergency ' if emergency else ''}deploy of {cmd.service} {r.ref} to "
                                  f"{cmd.environment}")
        if r.approvals_required:  # the channel is markup: the surface renders it after the (escaped) text
            return Reply(f":rocket: Request `{r.id}`: {what}. It needs {r.approvals_required} approval(s), in",
                         ok=True, channel=self.config.approvals_channel())
        if ahead is not None:
            return Reply(f":rocket: Request `{r.id}`: {what}. Queued behind `{ahead.id}`: it starts when that run "
                         "has finished.", ok=True)
        return Reply(f":rocket: Request `{r.id}`: {what}. Starting the workflow now.", ok=True)

    async def blocked(self, u: Unit, environment: str, at: datetime) -> str:
        """Why deploys into ``environment`` are refused right now (a lock or a freeze), or ""."""
        lock = await u.get_lock(environment)
        if lock:
            return f"{environment} is locked by {lock.holder}" + (f": {lock.reason}" if lock.reason else "")
        freeze = active_freeze(self.config, environment, at)
        return f"{environment} is frozen: {describe(freeze)}" if freeze else ""

    async def decide(self, request_id: str, *, approve: bool, actor: Actor, comment: str, idem_key: str) -> Reply:
        action = "approve" if approve else "reject"
        async with self.store.unit() as u:
            r = await u.get_request(request_id)
        actor, teams = await self.who(actor, environment=r.environment if r else "", service=r.service if r else "")
        async with self.store.unit() as u:
            if not await u.claim_key(idem_key):
                return Reply("Already received; nothing more to do.", ok=True)
            r = await u.get_request(request_id, for_update=True)
            if r is None:
                await self._audit(u, actor, action, request_id, "denied", "no such request")
                return Reply(f":warning: There is no request `{request_id[:20]}`. `/approve` lists open ones.")
            approvals = await u.approvals(r.id)
            decision = rbac.can_decide(self.config, actor, r, approvals, at=self.clock(), teams=teams)
            if not decision.allowed:
                await self._audit(u, actor, action, r.id, "denied", decision.reason)
                return Reply(f":no_entry: Not allowed: {decision.reason}.")
            await u.add_approval(Approval(r.id, actor.person or "", actor.platform, actor.platform_id,
                                          action, comment, self.clock(), r.sha, tuple(sorted(actor.identities))))
            ok_count = sum(1 for a in approvals if a.decision == "approve") + (1 if approve else 0)
            new: DeployRequest | None = r
            if not approve:
                new = await u.transition(r.id, from_states=[RequestState.PENDING_APPROVAL], to=RequestState.REJECTED,
                                         detail=f"Rejected by {actor.label}" + (f": {comment}" if comment else ""))
            elif ok_count >= r.approvals_required:
                # gate github: the run is already waiting at GitHub; approving answers its protection rule
                to = RequestState.DISPATCHED if r.callback_url else RequestState.APPROVED
                new = await u.transition(r.id, from_states=[RequestState.PENDING_APPROVAL], to=to)
            if new is not None and r.callback_url and new.state is not RequestState.PENDING_APPROVAL:
                names = ", ".join(a.person for a in approvals if a.decision == "approve")
                names = ", ".join(x for x in (names, actor.label if approve else "") if x)
                await enqueue_callback(u, new, approved=approve, comment=(
                    f"Approved in chat by {names}" if approve else
                    f"Rejected in chat by {actor.label}" + (f": {comment}" if comment else "")))
            await self._audit(u, actor, action, r.id, "ok", comment)
            if new is not None:
                await enqueue_card(u, self.config, new)
                if new.state is RequestState.REJECTED:
                    await notify_requester(u, new, f"{new.id} was rejected by {actor.label}.", tone="danger")
        self.wake()
        if not approve:
            return Reply(f":x: Rejected `{request_id}`.", ok=True)
        if new is not None and new.state in (RequestState.APPROVED, RequestState.DISPATCHED):
            return Reply(f":white_check_mark: Approved `{request_id}`; starting the workflow.", ok=True)
        return Reply(f":white_check_mark: Approval recorded for `{request_id}` "
                     f"({ok_count}/{r.approvals_required}).", ok=True)

    async def _approvable(self, actor: Actor) -> Reply:
        actor, teams = await self.who(actor, viewing=True)
        decision = rbac.can_view(self.config, actor, teams)
        if not decision.allowed:
            return await self._denied(actor, "approve-list", "-", decision.reason)
        out = []
        async with self.store.unit() as u:
            for r in await u.requests_in([RequestState.PENDING_APPROVAL]):
                approvals = await u.approvals(r.id)
                if rbac.can_decide(self.config, actor, r, approvals, at=self.clock(), teams=teams).allowed:
                    out.append(cards.request_card(r, approvals, repository=self.config.repo_of(r.service)))
        if not out:
            return Reply("Nothing is waiting for your approval.", ok=True)
        return Reply(f"{len(out)} request(s) waiting for your approval:", ok=True, cards=tuple(out[:10]))

    async def _status(self, cmd: StatusCommand, actor: Actor) -> Reply:
        actor, teams = await self.who(actor, need_teams=False, viewing=True)
        decision = rbac.can_view(self.config, actor, teams)
        if not decision.allowed:
            return await self._denied(actor, "status", cmd.service or "-", decision.reason)
        services = [cmd.service] if cmd.service else sorted(self.config.services)
        lines = []
        async with self.store.unit() as u:  # three queries, whatever the number of services
            open_reqs = await u.open_request_lines(limit=200)
            latest = await u.latest_deployments()
            locks = await u.active_locks()
        pending: dict[tuple[str, str], list[str]] = {}
        for rid, service, env, state in open_reqs:
            pending.setdefault((service, env), []).append(f"{rid} {state.replace('_', ' ')}")
        several = len(self.config.repositories) > 1
        for name in services:
            lines.append(f"*{name}*" + (f" ({self.config.repo_of(name)})" if several else ""))
            for env in self.config.services[name].environments:
                last = latest.get((name, env))
                sha = f" ({last.sha[:7]})" if last and last.sha else ""
                text = (f"{last.version}{sha} by {last.by} at {last.at:%Y-%m-%d %H:%M}"
                        if last else "nothing deployed yet")
                waiting = pending.get((name, env))
                if waiting:
                    text += " · " + ", ".join(waiting)
                lock = locks.get(env)
                if lock:
                    text += f" · :lock: locked by {lock.holder}" + (f" ({lock.reason})" if lock.reason else "")
                freeze = active_freeze(self.config, env, self.clock())
                if freeze:
                    text += f" · :snowflake: frozen: {describe(freeze)}"
                lines.append(f"• {env}: {text}")
        return Reply("\n".join(lines), ok=True)

    async def _stats(self, cmd: StatsCommand, actor: Actor) -> Reply:
        actor, teams = await self.who(actor, need_teams=False, viewing=True)
        decision = rbac.can_view(self.config, actor, teams)
        if not decision.allowed:
            return await self._denied(actor, "stats", cmd.service or "-", decision.reason)
        async with self.store.unit() as u:
            return Reply(await stats_text(u, config=self.config, cmd=cmd, now=self.clock()), ok=True)

    async def _lock(self, cmd: LockCommand | UnlockCommand, actor: Actor, *, idem_key: str) -> Reply:
        action = "lock" if isinstance(cmd, LockCommand) else "unlock"
        actor, teams = await self.who(actor, environment=cmd.environment)
        decision = rbac.can_lock(self.config, actor, cmd.environment, teams=teams)
        if not decision.allowed:
            return await self._denied(actor, action, cmd.environment, decision.reason)
        async with self.store.unit() as u:
            if not await u.claim_key(idem_key):
                return Reply("Already received; nothing more to do.", ok=True)
            if isinstance(cmd, UnlockCommand):
                released = await u.release_lock(cmd.environment)
                await self._audit(u, actor, action, cmd.environment, "ok" if released else "noop")
                return Reply(f":unlock: {cmd.environment} unlocked." if released else
                             f"{cmd.environment} was not locked.", ok=True)
            now = self.clock()
            expires = now + timedelta(seconds=cmd.duration_s) if cmd.duration_s else None
            taken = await u.acquire_lock(Lock(cmd.environment, actor.label, cmd.reason, now, expires))
            if not taken:
                held = await u.get_lock(cmd.environment)
                return Reply(f":lock: {cmd.environment} is already locked by {held.holder if held else '?'}.")
            await self._audit(u, actor, action, cmd.environment, "ok", cmd.reason)
        until = f" until {expires:%Y-%m-%d %H:%M} UTC" if expires else ""
        return Reply(f":lock: {cmd.environment} locked{until}.", ok=True)

    async def _cancel(self, cmd: CancelCommand, actor: Actor, *, idem_key: str) -> Reply:
        """``/deploy cancel <id>``: a request not started yet is cancelled here; one with a run asks GitHub to
        cancel the run (a durable GitHub job), and the run's ``completed``/``cancelled`` webhook ends the request."""
        async with self.store.unit() as u:
            r = await u.get_request(cmd.request_id)
        actor, teams = await self.who(actor, environment=r.environment if r else "", service=r.service if r else "")
        async with self.store.unit() as u:
            if not await u.claim_key(idem_key):
                return Reply("Already received; nothing more to do.", ok=True)
            r = await u.get_request(cmd.request_id, for_update=True)
            if r is None:
                await self._audit(u, actor, "cancel", cmd.request_id, "denied", "no such request")
                return Reply(f":warning: There is no request `{cmd.request_id}`.")
            decision = rbac.can_cancel(self.config, actor, r, teams=teams)
            if not decision.allowed:
                await self._audit(u, actor, "cancel", r.id, "denied", decision.reason)
                return Reply(f":no_entry: Not allowed: {decision.reason}.")
            if r.state.final:
                return Reply(f"`{r.id}` is already {r.state.value.replace('_', ' ')}; nothing to cancel.", ok=True)
            if r.run_id is not None:
                await u.update_request(r.id, cancel_requested_by=actor.label)
                body = json.dumps({"op": "cancel", "request_id": r.id, "run_id": r.run_id,
                                   "repository": self.config.repo_of(r.service)})
                await u.inbox_add(source="ghjob", key=f"cancel:{r.id}", kind="cancel", body=body)
                answer = f":octagonal_sign: Asked GitHub to cancel the run of `{r.id}`; its card shows when it stops."
            else:
                waiting = [RequestState.RECEIVED, RequestState.PENDING_APPROVAL, RequestState.APPROVED]
                if await u.transition(r.id, from_states=waiting, to=RequestState.CANCELLED,
                                      detail=f"Cancelled by {actor.label} before it started.") is None:
                    return Reply(f"`{r.id}` is being started right now; try again in a few seconds.")
                answer = f":octagonal_sign: Cancelled `{r.id}`; it will not start."
            await self._audit(u, actor, "cancel", r.id, "ok", r.state.value)
            new = await u.get_request(r.id)
            if new is not None:
                await enqueue_card(u, self.config, new)
        self.wake()
        return Reply(answer, ok=True)

    async def invalid(self, actor: Actor, command: str, reason: str) -> None:
        """Audit a command we could not parse (the user already got the usage line)."""
        async with self.store.unit() as u:
            await self._audit(u, actor, command, "-", "invalid", reason.removeprefix(":warning: "))

    async def reply_later(self, response_url: str, text: str, *, key: str) -> None:
        """Queue a private answer through a Slack response_url (used for button clicks)."""
        async with self.store.unit() as u:
            await u.enqueue(OutboundMessage(key, Destination(Platform.SLACK, response_url), Op.RESPOND,
                                            cards.notice(text)))

    async def button(self, action: str, request_id: str, actor: Actor, *, idem_key: str,
                     response_url: str = "") -> Reply:
        """Approve / Reject / Re-run / Roll back / Promote buttons on a request's card."""
        if action in ("approve", "reject"):
            return await self.decide(request_id, approve=action == "approve", actor=actor, comment="",
                                     idem_key=idem_key)
        async with self.store.unit() as u:
            r = await u.get_request(request_id)
        if r is None or r.service not in self.config.services:
            return Reply(f":warning: There is no request `{request_id[:20]}`.")
        if action == "rerun":
            return await self._rerun(r, actor, idem_key=idem_key)
        if action == "promote":
            return await self._promote(r, actor, idem_key=idem_key, response_url=response_url)
        return await self.handle(RollbackCommand(r.service, r.environment), actor, idem_key=idem_key,
                                 response_url=response_url)

    async def _rerun(self, r: DeployRequest, actor: Actor, *, idem_key: str) -> Reply:
        """Re-run the failed jobs of a failed run (GitHub's rerun-failed-jobs), policy-checked like a deploy."""
        actor, teams = await self.who(actor, environment=r.environment, service=r.service)
        decision = rbac.can_deploy(self.config, actor, r.environment, service=r.service, teams=teams)
        if not decision.allowed:
            return await self._denied(actor, "rerun", r.id, decision.reason)
        async with self.store.unit() as u:
            if not await u.claim_key(idem_key):
                return Reply("Already received; nothing more to do.", ok=True)
            blocked = await self.blocked(u, r.environment, self.clock())
            if blocked:
                await self._audit(u, actor, "rerun", r.id, "denied", blocked)
                return Reply(f":lock: Not allowed: {blocked}.")
            new = await u.transition(r.id, from_states=[RequestState.FAILED], to=RequestState.DISPATCHED,
                                     detail=f"Re-run of the failed jobs requested by {actor.label}.")
            if new is None or new.run_id is None:
                return Reply(f"`{r.id}` is {r.state.value.replace('_', ' ')}; only a failed run can be re-run.")
            body = json.dumps({"op": "rerun", "request_id": r.id, "run_id": new.run_id,
                               "repository": self.config.repo_of(r.service)})
            await u.inbox_add(source="ghjob", key=f"rerun:{r.id}:{new.attempt}", kind="rerun", body=body)
            await self._audit(u, actor, "rerun", r.id, "ok")
            await enqueue_card(u, self.config, new)
        self.wake()
        return Reply(f":repeat: Re-running the failed jobs of `{r.id}`.", ok=True)

    async def record_inbound(self, *, source: str, key: str, kind: str, body: str) -> bool:
        """Durably record an inbound item once; False if its key was seen before."""
        fresh = await self.store.record_inbox(source=source, key=key, kind=kind, body=body)
        if fresh:
            self.wake()
        return fresh

    async def record_github(self, update: GitHubUpdate, *, delivery: str, event: str) -> bool:
        return await self.record_inbound(source="github", key=f"gh:{delivery}", kind=event,
                                         body=github_update_to_json(update))

    async def ready(self) -> bool:
        return await self.store.ping()

    async def outbox_counts(self) -> dict[str, int]:
        async with self.store.unit() as u:
            return await u.outbox_counts()

    async def outbox_backlog(self) -> tuple[int, float]:
        """(messages waiting, seconds the oldest has waited): what a chat outage holds back (issue 24)."""
        async with self.store.unit() as u:
            n, oldest = await u.outbox_backlog()
        return n, (max(0.0, time.time() - oldest) if oldest is not None else 0.0)

    async def request_view(self, request_id: str) -> Card | None:
        """The request's card as it stands now."""
        async with self.store.unit() as u:
            r = await u.get_request(request_id)
            if r is None:
                return None
            return cards.request_card(r, await u.approvals(r.id), repository=self.config.repo_of(r.service),
                                      promote_to=promotion_target(self.config, r.service, r.environment))
