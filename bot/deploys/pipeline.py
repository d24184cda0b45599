"""The one place that sequences: dedup -> policy -> state change + audit + outbox, in one transaction.

Commands and decisions are decided in-request (a few milliseconds of database work) so the answer to
the user is final; everything slow (resolving refs, dispatching, delivering chat messages) happens in
background workers that read the durable state (bot.runtime.worker, bot.delivery.outbox).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from bot.config import Config
from bot.delivery.pending import PendingCards
from bot.deploys import cards
from bot.deploys.freeze import active_freeze, describe
from bot.deploys.settings import promotion_target
from bot.deploys.update_codec import Handoff, github_update_to_json
from bot.deploys.verbs.base import Family
from bot.deploys.verbs.decisions import DecisionCommands
from bot.deploys.verbs.locks import LockCommands
from bot.deploys.verbs.requests import RequestCommands
from bot.deploys.verbs.views import ViewCommands
from bot.domain import (
    Actor,
    AuditEntry,
    Card,
    Command,
    Destination,
    GitHubUpdate,
    Op,
    OutboundMessage,
    Platform,
    Reply,
    RollbackCommand,
    RunUpdate,
)
from bot.errors import StoreConflict, StoreUnavailable
from bot.identity import rbac
from bot.identity.links import resolve_actor
from bot.identity.teams import TeamDirectory, TeamView, policy_teams
from bot.store.store import Store, Unit

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


class ExtraCommands(Protocol):
    def handles(self, cmd: Command) -> bool: ...
    async def run(self, cmd: Command, actor: Actor, *, idem_key: str, response_url: str = "") -> Reply: ...


class Pipeline:
    def __init__(self, *, config: Config, store: Store, wake: Callable[[], None] = lambda: None,
                 clock: Callable[[], datetime] = utcnow, pending: PendingCards | None = None) -> None:
        self.config = config
        self.store = store
        self.wake = wake  # the worker and the outbox: a command's state change and its cards
        # recording an inbound item queues nothing to send: only the worker is woken (the composition root sets it;
        # waking the outbox too made it re-read its backlog after every webhook, issue 27 item 4)
        self.wake_worker = wake
        self.clock = clock
        self.pending = pending  # runs' webhooks recorded and not applied yet (bot.delivery.pending)
        self.handoff = Handoff()  # recorded GitHub updates, for this process's worker (record_github)
        self.directory: TeamDirectory | None = None  # github-team: answers (bot/identity/teams.py)
        self.commands: ExtraCommands | None = None  # link / unlink / whoami (bot.identity.commands)
        self.requests = RequestCommands(self)
        self.decisions = DecisionCommands(self)
        families: tuple[Family, ...] = (self.requests, self.decisions, ViewCommands(self), LockCommands(self))
        self.families: dict[type[Command], Family] = {t: f for f in families for t in f.types}

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

    async def audit(self, u: Unit, actor: Actor, action: str, target: str, result: str, detail: str = "") -> None:
        if result == "denied" and actor.person:  # a refusal names the person and the platform identity that asked
            detail = f"{detail[:400]} (as {actor.platform}:{actor.platform_id[:80]})"
        await u.audit(AuditEntry(self.clock(), actor.label, action, target, actor.channel, result, detail[:500]))

    async def denied(self, actor: Actor, action: str, target: str, reason: str) -> Reply:
        async with self.store.unit() as u:
            await self.audit(u, actor, action, target, "denied", reason)
        log.info("denied %s on %s for %s", action, target, actor.label)
        return Reply(f":no_entry: Not allowed: {reason}.")

    async def handle(self, cmd: Command, actor: Actor, *, idem_key: str, response_url: str = "") -> Reply:
        """Run one parsed command for ``actor``. A repeat of ``idem_key`` has no second effect."""
        try:
            if self.commands is not None and self.commands.handles(cmd):
                return await self.commands.run(cmd, actor, idem_key=idem_key, response_url=response_url)
            family = self.families.get(type(cmd))
            if family is not None:
                return await family.run(cmd, actor, idem_key=idem_key, response_url=response_url)
            return Reply(":warning: That command is not available here.")
        except StoreConflict:  # another replica's change to the same rows won; nothing of this one was kept
            log.warning("command refused for %s: a concurrent change conflicted", actor.label)
            return Reply(":warning: Another change to the same thing got there first, so this one did not go "
                         "through. Please try again; a repeat of this command is safe.")
        except StoreUnavailable:  # issue 24 item 5: said plainly; the idempotency key makes the retry safe
            log.warning("command refused for %s: store unavailable", actor.label)
            return Reply(":warning: The bot cannot reach its database right now. Please try again in a minute; "
                         "a repeat of this command is safe.")
        except Exception:
            log.exception("command failed for %s", actor.label)  # policy fault = deny; never a traceback to users
            return Reply(":warning: Something went wrong on our side; nothing was changed. Please try again.")

    async def blocked(self, u: Unit, environment: str, at: datetime) -> str:
        """Why deploys into ``environment`` are refused right now (a lock or a freeze), or ""."""
        lock = await u.get_lock(environment)
        if lock:
            return f"{environment} is locked by {lock.holder}" + (f": {lock.reason}" if lock.reason else "")
        freeze = active_freeze(self.config, environment, at)
        return f"{environment} is frozen: {describe(freeze)}" if freeze else ""

    async def decide(self, request_id: str, *, approve: bool, actor: Actor, comment: str, idem_key: str) -> Reply:
        """Approve or reject ``request_id`` (bot.deploys.verbs.decisions)."""
        return await self.decisions.decide(request_id, approve=approve, actor=actor, comment=comment,
                                           idem_key=idem_key)

    async def invalid(self, actor: Actor, command: str, reason: str) -> None:
        """Audit a command we could not parse (the user already got the usage line)."""
        async with self.store.unit() as u:
            await self.audit(u, actor, command, "-", "invalid", reason.removeprefix(":warning: "))

    async def reply_later(self, response_url: str, text: str, *, key: str) -> None:
        """Queue a private answer through a Slack response_url (used for button clicks)."""
        async with self.store.unit() as u:
            await u.enqueue(OutboundMessage(key, Destination(Platform.SLACK, response_url), Op.RESPOND,
                                            cards.notice(text)))

    async def button(self, action: str, request_id: str, actor: Actor, *, idem_key: str,
                     response_url: str = "") -> Reply:
        """Approve / Reject / Re-run / Roll back / Promote buttons on a request's card."""
        if action in ("approve", "reject"):
            return await self.decisions.decide(request_id, approve=action == "approve", actor=actor, comment="",
                                               idem_key=idem_key)
        async with self.store.unit() as u:
            r = await u.get_request(request_id)
        if r is None or r.service not in self.config.services:
            return Reply(f":warning: There is no request `{request_id[:20]}`.")
        if action == "rerun":
            return await self.requests._rerun(r, actor, idem_key=idem_key)
        if action == "promote":
            return await self.requests._promote(r, actor, idem_key=idem_key, response_url=response_url)
        return await self.handle(RollbackCommand(r.service, r.environment), actor, idem_key=idem_key,
                                 response_url=response_url)

    async def record_inbound(self, *, source: str, key: str, kind: str, body: str) -> bool:
        """Durably record an inbound item once; False if its key was seen before."""
        fresh = await self.store.record_inbox(source=source, key=key, kind=kind, body=body)
        if fresh:
            self.wake_worker()
        return fresh

    async def record_github(self, update: GitHubUpdate, *, delivery: str, event: str) -> bool:
        """Record a parsed webhook; this process's worker is handed ``update`` itself (``Handoff``)."""
        key, body = f"gh:{delivery}", github_update_to_json(update)
        # a run's webhook is noted as on its way to its card before it is committed (the worker can only claim it
        # after), and forgotten again if it was a repeat or not recorded (bot.delivery.pending)
        run_id = update.run_id if isinstance(update, RunUpdate) else None
        noted = run_id is not None and self.pending is not None and self.pending.recording(key, run_id)
        self.handoff.put(key, body, update)
        fresh = False
        try:
            fresh = await self.record_inbound(source="github", key=key, kind=event, body=body)
        finally:
            if not fresh:
                self.handoff.drop(key, body)
                if noted and self.pending is not None:
                    self.pending.forget([key])
        return fresh

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
