"""Scheduled chat: a route's delivery digest, and the summary of what its quiet hours held.

A digest slot (the route's day/time in its time zone) is claimed with a conditional insert in the same transaction
that queues the card, so it is posted exactly once across replicas and restarts. A slot missed by more than
``LATE_S`` (the bot was down) is skipped, not posted late. Held lines are taken (deleted) in the transaction that
queues their summary card, when the route's quiet hours are over."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.config import Config
from bot.delivery.quiet import in_quiet_hours
from bot.delivery.routing import destinations
from bot.delivery.settings import DeliverySettings, Digest
from bot.deploys.delivery_metrics import period_figures, period_label, render_lines
from bot.domain import Card, Destination, Fact, Op, OutboundMessage, Platform
from bot.store.delivery_ops import claim_slot, take_held
from bot.store.store import Store, Unit

log = logging.getLogger(__name__)
LATE_S = 6 * 3600


def last_slot(d: Digest, now: datetime) -> datetime:
    """The latest scheduled time at or before ``now`` (aware, in the digest's time zone)."""
    local = now.astimezone(ZoneInfo(d.tz))
    slot = local.replace(hour=d.at.hour, minute=d.at.minute, second=0, microsecond=0)
    if d.weekday is not None:
        slot -= timedelta(days=(slot.weekday() - d.weekday) % 7)
    while slot > local:
        slot -= timedelta(days=7 if d.weekday is not None else 1)
    return slot


class Schedules:
    def __init__(self, *, store: Store, config: Config, settings: DeliverySettings,
                 clock: Callable[[], datetime]) -> None:
        self.store, self.config, self.settings, self.clock = store, config, settings, clock
        self._claimed: set[tuple[int, str]] = set()  # slots this replica has seen claimed (by anyone)
        self._was_quiet: dict[int, bool] = {}

    async def run_once(self) -> int:
        now = self.clock()
        done = 0
        for i, d in self.settings.digests.items():
            slot = last_slot(d, now)
            key = (i, slot.isoformat())
            if key in self._claimed or (now - slot).total_seconds() > LATE_S:
                continue
            async with self.store.unit() as u:
                if await claim_slot(u, route=str(i), slot=key[1], at=now):
                    await self._digest(u, i, d, now)
                    done += 1
            self._claimed.add(key)
        for i, q in self.settings.quiet.items():
            quiet = in_quiet_hours(q, now)
            if not quiet and self._was_quiet.get(i, True):
                done += await self._summary(i)
            self._was_quiet[i] = quiet
        return done

    async def _digest(self, u: Unit, i: int, d: Digest, now: datetime) -> None:
        route = self.config.routes[i]
        services = list(route.services) or sorted(self.config.services)
        environments = list(route.environments) or (
            ["production"] if "production" in self.config.environments else list(self.config.environments)[:1])
        facts = []
        for env in environments:
            for name in services:
                cur, prev = await period_figures(u, services=[name], environment=env, now=now, period_s=d.every_s,
                                                 window_s=self.settings.failure_window_s)
                text = "\n".join(render_lines(cur, prev)) if cur.attempted or cur.deployments else (
                    "no deployments" + (f" (the period before: {prev.deployments})" if prev.attempted else ""))
                facts.append(Fact(f"{name} → {env}", text))
        card = Card(kind="digest", title=f"Delivery digest: last {period_label(d.every_s)}", status="digest",
                    facts=tuple(facts[:30]), footer=f"previous {period_label(d.every_s)} beside each figure")
        slot = last_slot(d, now).isoformat()
        for dest in destinations(self.config, route):
            await u.enqueue(OutboundMessage(f"digest:{i}:{slot}|{dest.platform}:{dest.address}", dest, Op.POST, card))
        log.info("digest for route %d queued for slot %s", i, slot)

    async def _summary(self, i: int) -> int:
        async with self.store.unit() as u:
            lines = await take_held(u, route=str(i))
            by_dest: dict[Destination, list[str]] = {}
            for platform, address, line in lines:
                by_dest.setdefault(Destination(Platform(platform), address), []).append(line)
            for dest, items in by_dest.items():
                shown = items[:40] + ([f"+{len(items) - 40} more"] if len(items) > 40 else [])
                card = Card(kind="summary", title=f"While it was quiet: {len(items)} update(s)", status="summary",
                            text="\n".join(shown))
                await u.enqueue(OutboundMessage(f"quiet:{i}:{self.clock().isoformat()}:{len(items)}|{dest.platform}:"
                                                f"{dest.address}", dest, Op.POST, card))
        return len(by_dest)
