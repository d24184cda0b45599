"""Quiet hours: a route's ``quiet_hours: {from, to, tz}`` holds success and progress notifications of request cards
and delivers them as one summary card when quiet hours end (``bot.deploys.digest.Schedules``). A request waiting for
approval, a failure (its own alert card and a request that could not start) and security alerts are never held:
only request cards pass here, and only in their non-urgent states.

A destination is quiet for an event when every matching route that sends the event there is in quiet hours (a
route without quiet hours keeps the destination loud). The moment that counts is the request's last state change
(``updated_at``, stamped by the store)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.config import Config
from bot.delivery.routing import destinations, matching
from bot.delivery.settings import QuietHours, cached_settings
from bot.domain import Destination, Event, Platform, RequestState
from bot.store.delivery_ops import hold
from bot.store.store import Unit

_URGENT = (RequestState.PENDING_APPROVAL, RequestState.FAILED, RequestState.DISPATCH_FAILED, RequestState.LOST)


def in_quiet_hours(q: QuietHours, at: datetime) -> bool:
    local = at.astimezone(ZoneInfo(q.tz)).time().replace(tzinfo=None)
    if q.start < q.end:
        return q.start <= local < q.end
    return local >= q.start or local < q.end  # across midnight


def quiet_route(config: Config, event: Event, dest: Destination, at: datetime) -> int | None:
    """The quiet route (its index) that sends ``event`` to ``dest`` at ``at``, or None if ``dest`` is loud."""
    settings = cached_settings(config)
    quiet: int | None = None
    for i in matching(config, event):
        if dest not in destinations(config, config.routes[i]):
            continue
        q = settings.quiet.get(i)
        if q is None or not in_quiet_hours(q, at):
            return None
        quiet = i if quiet is None else quiet
    return quiet


async def held(u: Unit, config: Config, *, event: Event, dest: Destination, state: RequestState, line: str,
               card_key: str, at: datetime | None) -> bool:
    """True when this card change is not to be sent now: held as a summary line (a final state) or dropped (a
    progress state; its outcome is held later). A card already posted in Slack or through the Teams bot is still
    edited in place: an edit notifies nobody."""
    if state in _URGENT:
        return False
    i = quiet_route(config, event, dest, at or datetime.now(UTC))
    if i is None:
        return False
    webhook = dest.platform is Platform.TEAMS and not dest.address.startswith("bot:")
    if not webhook and await u.message_ref(dest.platform, dest.address, card_key):
        return False
    if state.final:
        await hold(u, route=str(i), platform=dest.platform.value, address=dest.address,
                   key=f"{card_key}:{state.value}", line=line, at=at or datetime.now(UTC))
    return True
