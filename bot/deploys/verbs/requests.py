"""Deploy, rollback and promote requests, the **Promote** and **Re-run** buttons: who may, what
blocks them (locks, freezes), and the request with its card, audit row and queue place, in one transaction."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from bot.deploys.commands import validate_ref
from bot.deploys.emergency import announce_emergency
from bot.deploys.messages import enqueue_card, thread_note
from bot.deploys.settings import promotion_target, skips_approval
from bot.deploys.verbs.base import Family
from bot.domain import (
    Actor,
    Command,
    DeployCommand,
    DeployRequest,
    PromoteCommand,
    Reply,
    RequestKind,
    RequestState,
    RollbackCommand,
    new_request_id,
)
from bot.identity import rbac

# why a failed run is not re-run (``Unit.rerun_blocker``); ids are the bot's own, service and environment the config's
_RERUN_REFUSED = {
    "busy": ":hourglass: `{id}` is not re-run: `{other}` is under way in {service}/{environment}, and one run at a "
            "time goes there. Re-run it when that one has finished.",
    "newer": ":warning: `{id}` is not re-run: `{other}`, another request for {service}/{environment}, has started a "
             "run since, and re-running `{id}` would deploy its older version over that one. Ask for a new deploy or "
             "rollback instead.",
}


class RequestCommands(Family):
    types = (DeployCommand, RollbackCommand, PromoteCommand)

    async def run(self, cmd: Command, actor: Actor, *, idem_key: str, response_url: str = "") -> Reply:
        if isinstance(cmd, PromoteCommand):
            return await self._promote_latest(cmd, actor, idem_key=idem_key, response_url=response_url)
        assert isinstance(cmd, DeployCommand | RollbackCommand)
        return await self._request(cmd, actor, idem_key=idem_key, response_url=response_url)

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

    def _new_request(self, cmd: DeployCommand | RollbackCommand, actor: Actor, *, now: datetime, response_url: str,
                     sha: str, promoted_from: str) -> DeployRequest:
        """The request as the policy of its environment shapes it: approvals (none for gate github until GitHub
        asks), expiry, the workflow, and who asked (every identity of the person, frozen)."""
        rollback = isinstance(cmd, RollbackCommand)
        emergency = cmd.emergency if isinstance(cmd, DeployCommand) else ""
        env = self.config.environments[cmd.environment]
        service = self.config.services[cmd.service]
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
        return r

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
        now = self.clock()
        r = self._new_request(cmd, actor, now=now, response_url=response_url, sha=sha, promoted_from=promoted_from)
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
        return self._answer(cmd, r, ahead_id=ahead.id if ahead is not None else None, rollback=rollback, sha=sha,
                            promoted_from=promoted_from, emergency=emergency)

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
            # one run per (service, environment), never an older over a newer; it takes the lane's lock first, so
            # the state read below sees a second press on another replica
            lane = await u.rerun_blocker(r.id)
            now = await u.get_request(r.id)
            if now is None or now.state is not RequestState.FAILED or now.run_id is None:
                state = (now or r).state.value.replace("_", " ")
                return Reply(f"`{r.id}` is {state}; only a failed run can be re-run.")
            if lane is not None:
                await self._audit(u, actor, "rerun", r.id, "denied", f"{lane[1]}: {lane[0]}")
                return Reply(_RERUN_REFUSED[lane[1]].format(id=r.id, other=lane[0], service=r.service,
                                                            environment=r.environment))
            new = await u.transition(r.id, from_states=[RequestState.FAILED], to=RequestState.DISPATCHED,
                                     detail=f"Re-run of the failed jobs requested by {actor.label}.")
            if new is None or new.run_id is None:  # changed since it was read (a webhook of its run)
                return Reply(f"`{r.id}` could not be re-run; try again.")
            body = json.dumps({"op": "rerun", "request_id": r.id, "run_id": new.run_id,
                               "repository": self.config.repo_of(r.service)})
            # one job per press (its idempotency key): a press after a job that was skipped or parked queues anew
            await u.inbox_add(source="ghjob", key=f"rerun:{r.id}:{new.attempt}:{idem_key}", kind="rerun", body=body)
            await self._audit(u, actor, "rerun", r.id, "ok")
            await enqueue_card(u, self.config, new)
        self.wake()
        return Reply(f":repeat: Re-running the failed jobs of `{r.id}`.", ok=True)

    def _answer(self, cmd: DeployCommand | RollbackCommand, r: DeployRequest, *, ahead_id: str | None,
                rollback: bool, sha: str, promoted_from: str, emergency: str) -> Reply:
        """What the requester is told: approvals needed (and where), queued behind another run, or starting."""
        what = f"rollback of {cmd.service} in {cmd.environment}" if rollback else (
            f"promotion of {cmd.service} {r.ref} ({sha[:7]}) from {promoted_from} to {cmd.environment}"
            if promoted_from else f"{'emergency ' if emergency else ''}deploy of {cmd.service} {r.ref} to "
                                  f"{cmd.environment}")
        if r.approvals_required:  # the channel is markup: the surface renders it after the (escaped) text
            return Reply(f":rocket: Request `{r.id}`: {what}. It needs {r.approvals_required} approval(s), in",
                         ok=True, channel=self.config.approvals_channel())
        if ahead_id is not None:
            return Reply(f":rocket: Request `{r.id}`: {what}. Queued behind `{ahead_id}`: it starts when that run "
                         "has finished.", ok=True)
        return Reply(f":rocket: Request `{r.id}`: {what}. Starting the workflow now.", ok=True)
