"""What a request sends: its card wherever it lives (posted once, then edited), notes in its thread, private notes
to the requester, and the durable answer to GitHub's protection rule. Written in the transaction that changes the
request, so a message is queued exactly when its change is committed."""

from __future__ import annotations

import json
import uuid

from bot.config import Config
from bot.delivery.quiet import held
from bot.delivery.routing import route
from bot.delivery.settings import teams_deploys_conversation, webhook_wants
from bot.deploys import cards
from bot.deploys.settings import promotion_target
from bot.domain import (
    TEAMS_BOT_PREFIX,
    DeployRequest,
    Destination,
    Event,
    Op,
    OutboundMessage,
    Platform,
    RequestKind,
)
from bot.store.delivery_ops import get_changes
from bot.store.pass_unit import PassUnit
from bot.store.store import Unit


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
    """Queue an in-place update of the request's card everywhere it lives (posted the first time). In a pass of
    webhooks (``PassUnit``) the card waits for the end of the pass: one card per request and state per pass."""
    if isinstance(u, PassUnit):
        u.defer_card(r)
        return
    await _enqueue_card_now(u, config, r)


async def enqueue_deferred_cards(u: PassUnit, config: Config) -> list[DeployRequest]:
    """The cards a pass of webhooks deferred, queued in its transaction before it commits; returns their requests."""
    queued = u.take_cards()
    for r in queued:
        await _enqueue_card_now(u, config, r)
    return queued


async def _enqueue_card_now(u: Unit, config: Config, r: DeployRequest) -> None:
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
        # a webhook's cards are separate posts, each one of the states it wants: none may supersede another (an edit
        # of one card coalesces: only its newest state is sent; issue 24 item 4)
        await u.enqueue(OutboundMessage(f"{key}|{dest.platform}:{dest.address}|{token}", dest, Op.CARD, card,
                                        card_key=f"{key}|{token}" if webhook else key))


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
