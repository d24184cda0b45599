"""``/deploy lock``, ``/deploy unlock`` and ``/deploy cancel``."""

from __future__ import annotations

import json
from datetime import timedelta

from bot.deploys.messages import enqueue_card
from bot.deploys.verbs.base import Family
from bot.domain import (
    Actor,
    CancelCommand,
    Command,
    Lock,
    LockCommand,
    Reply,
    RequestState,
    UnlockCommand,
)
from bot.identity import rbac


class LockCommands(Family):
    types = (LockCommand, UnlockCommand, CancelCommand)

    async def run(self, cmd: Command, actor: Actor, *, idem_key: str, response_url: str = "") -> Reply:
        if isinstance(cmd, CancelCommand):
            return await self._cancel(cmd, actor, idem_key=idem_key)
        assert isinstance(cmd, LockCommand | UnlockCommand)
        return await self._lock(cmd, actor, idem_key=idem_key)

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
