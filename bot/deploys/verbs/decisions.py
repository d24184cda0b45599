"""``/approve``, ``/reject`` and the approval list: four eyes and the approvals count, the answer to GitHub's
protection rule when the run waits there."""

from __future__ import annotations

from bot.deploys import cards
from bot.deploys.messages import enqueue_callback, enqueue_card, notify_requester
from bot.deploys.verbs.base import Family
from bot.domain import (
    Actor,
    Approval,
    ApproveCommand,
    ApproveListCommand,
    Command,
    DeployRequest,
    RejectCommand,
    Reply,
    RequestState,
)
from bot.identity import rbac


class DecisionCommands(Family):
    types = (ApproveCommand, RejectCommand, ApproveListCommand)

    async def run(self, cmd: Command, actor: Actor, *, idem_key: str, response_url: str = "") -> Reply:
        if isinstance(cmd, ApproveListCommand):
            return await self._approvable(actor)
        assert isinstance(cmd, ApproveCommand | RejectCommand)
        approve = isinstance(cmd, ApproveCommand)
        text = cmd.comment if isinstance(cmd, ApproveCommand) else cmd.reason
        return await self.decide(cmd.request_id, approve=approve, actor=actor, comment=text, idem_key=idem_key)

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
