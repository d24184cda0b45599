"""Emergency deploys (issue 25 item 3): an admin's ``/deploy … --emergency "<reason>"`` goes past a freeze, a lock
and the promotion order (never past four eyes unless ``emergency.skip_approval: true``). The security and deploys
channels are told, in the transaction that records the request (bot.deploys.pipeline)."""

from __future__ import annotations

from bot.config import Config
from bot.delivery.routing import route
from bot.delivery.settings import teams_deploys_conversation
from bot.domain import TEAMS_BOT_PREFIX, Card, DeployRequest, Destination, Event, Fact, Op, OutboundMessage, Platform
from bot.store.store import Unit


def emergency_destinations(config: Config, r: DeployRequest) -> list[Destination]:
    """The channels security alerts and this deploy's cards are routed to, and the Slack channels named
    ``security`` and ``deploys`` (slack.channels) even where no route names them."""
    events = (Event(kind="security", service=r.service, environment=r.environment),
              Event(kind="deployment", service=r.service, environment=r.environment, branch=r.ref))
    dests = [t.destination for e in events for t in route(config, e)]
    dests += [Destination(Platform.SLACK, config.slack_channels[n]) for n in ("security", "deploys")
              if n in config.slack_channels]
    deploys = teams_deploys_conversation(config)
    if deploys:
        dests.append(Destination(Platform.TEAMS, TEAMS_BOT_PREFIX + deploys))
    return list(dict.fromkeys(dests))


def emergency_card(r: DeployRequest, *, by: str, past: str) -> Card:
    """Plain text fields (the reason is untrusted): each surface escapes them where it renders them."""
    return Card(kind="security", title=f"Emergency deploy: {r.service} {r.ref} → {r.environment}",
                status="emergency", tone="danger", text=f"Reason: {r.emergency}",
                facts=(Fact("Requested by", by), Fact("Request", r.id),
                       Fact("Went past", past or "no freeze or lock was active"),
                       Fact("Approvals", f"{r.approvals_required} needed" if r.approvals_required else "skipped "
                            "(emergency.skip_approval)")))


async def announce_emergency(u: Unit, config: Config, r: DeployRequest, *, by: str, past: str) -> None:
    card = emergency_card(r, by=by, past=past)
    for dest in emergency_destinations(config, r):
        await u.enqueue(OutboundMessage(f"emergency:{r.id}|{dest.platform}:{dest.address}", dest, Op.POST, card))
