"""GitHub's deployment protection rule and review requests: the bot answers for environments it gates, reusing
the chat approval of the run's request or refusing with the reason."""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.actions.github import RunInfo
from bot.delivery.routing import route
from bot.deploys import cards
from bot.deploys.gates import judge
from bot.deploys.github_runs import _WAITING, RunEvents
from bot.deploys.messages import enqueue_callback, enqueue_card, thread_note
from bot.domain import (
    DeployRequest,
    Destination,
    Event,
    Op,
    OutboundMessage,
    Platform,
    ProtectionRuleRequest,
    RequestKind,
    RequestState,
    ReviewRequest,
    new_request_id,
)
from bot.errors import GitHubError
from bot.store.pass_unit import webhook_unit
from bot.store.store import Unit

log = logging.getLogger(__name__)


class ProtectionEvents(RunEvents):
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
        await self._with_login(lambda: self._protection_in(pr, repository, run))
        self.pipeline.wake()

    async def _protection_in(self, pr: ProtectionRuleRequest, repository: str, run: RunInfo | None) -> None:
        """The protection rule's request found, or made, and judged, in one transaction holding the webhooks' lock
        (``webhook_unit``, as every transaction that applies webhooks)."""
        async with webhook_unit(self.store) as u:
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
        async with webhook_unit(self.store) as u:
            await self._review_in(u, rr)

    async def _review_in(self, u: Unit, rr: ReviewRequest) -> None:
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
        for d in dests:
            await u.enqueue(OutboundMessage(f"{key}|{d.platform}:{d.address}", d, Op.CARD, card, card_key=key))
