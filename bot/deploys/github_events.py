"""Apply GitHub webhooks (recorded in the inbox) to requests and cards, and run GitHub jobs
(protection-rule callbacks, re-runs) queued durably by the pipeline. Each item is processed once:
inbox rows are claimed under a lease, and every state change is a conditional write."""

from __future__ import annotations

import logging
import re
from typing import Any

from bot.delivery.routing import route
from bot.deploys import cards
from bot.deploys.github_protection import ProtectionEvents
from bot.deploys.messages import enqueue_card
from bot.deploys.notes import post_annotation, post_notes
from bot.domain import (
    CheckUpdate,
    DeploymentUpdate,
    Event,
    GitHubUpdate,
    Op,
    OutboundMessage,
    ProtectionRuleRequest,
    PushUpdate,
    RequestState,
    ReviewRequest,
    RunUpdate,
)
from bot.errors import GitHubError
from bot.metrics import CROSS_REPOSITORY
from bot.store.pass_unit import NotInPass, webhook_unit
from bot.store.store import Unit

log = logging.getLogger(__name__)


class GitHubEvents(ProtectionEvents):
    """Every GitHub update the inbox holds, applied once: runs (bot.deploys.github_runs), protection rules and
    reviews (bot.deploys.github_protection), deployments, pushes and checks (auto-deploy), and GitHub jobs."""


    # ------------------------------------------------------------------ webhooks
    @staticmethod
    def batchable(update: GitHubUpdate) -> bool:
        """Can this webhook be applied inside a pass's transaction (``apply_in``)? Only database work: runs (but
        see ``NotInPass``), deployment statuses and review requests. A protection rule may read its run from
        GitHub, and pushes and checks ask GitHub: they keep their own path (``apply``)."""
        return isinstance(update, RunUpdate | DeploymentUpdate | ReviewRequest)

    async def apply_in(self, u: Unit, update: GitHubUpdate) -> None:
        """Apply a ``batchable`` webhook in ``u``'s transaction."""
        if isinstance(update, RunUpdate):
            await self._run_in(u, update)
        elif isinstance(update, DeploymentUpdate):
            await self._deployment_in(u, update)
        elif isinstance(update, ReviewRequest):
            await self._review_in(u, update)
        else:
            raise NotInPass(f"{type(update).__name__} is applied on its own")

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

    def _ours(self, du: DeploymentUpdate, service: str) -> bool:
        """Is ``service`` a service of the repository the webhook came from? Every effect of a webhook belongs to
        ``payload.repository``: a signed event of one repository cannot speak for another's services."""
        return bool(du.repository) and service in self.config.services and (
            self.config.repo_of(service).lower() == du.repository)

    async def _deployment(self, du: DeploymentUpdate) -> None:
        async with webhook_unit(self.store) as u:
            await self._deployment_in(u, du)

    async def _deployment_in(self, u: Unit, du: DeploymentUpdate) -> None:
        if du.run_repository and du.run_repository != du.repository:
            CROSS_REPOSITORY.inc()  # a status of repository A pointing at a run of repository B: ignored
            log.warning("deployment status of %s names a run of another repository; ignored", du.repository)
            return
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
            async with self.store.unit() as u:
                r = await u.get_request(str(body.get("request_id", "")))
            if r is None or r.state is not RequestState.DISPATCHED or r.run_id != int(body["run_id"]):
                # retried until the run moved on (a webhook), or the reconciler gave the request up meanwhile and
                # its lane went on: a re-run now would run beside whatever has the lane since
                log.warning("re-run of %s skipped: the request is %s now", body.get("request_id"),
                            r.state.value if r else "gone")
                return
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

