"""Routing: which channels an event goes to, from the config's ``routes``."""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Config, Route
from bot.domain import Destination, Event, Platform


@dataclass(frozen=True, slots=True)
class Target:
    destination: Destination
    mention: str  # "" | "here" | "channel"


def _matches(route: Route, event: Event) -> bool:
    checks = (
        (route.kinds, event.kind),
        (route.services, event.service),
        (route.environments, event.environment),
        (route.branches, event.branch),
        (route.outcomes, event.outcome),
    )
    return all(not allowed or value in allowed for allowed, value in checks)


def destinations(config: Config, r: Route) -> list[Destination]:
    """Where one route sends (``slack:<channel name>`` -> the channel id, ``teams:<webhook name>``)."""
    out = []
    for dest in r.to:
        plat, _, name = dest.partition(":")
        out.append(Destination(Platform.SLACK, config.slack_channels[name]) if plat == "slack"
                   else Destination(Platform.TEAMS, name))
    return out


def matching(config: Config, event: Event) -> list[int]:
    """Indexes (in the config) of the routes that match ``event``."""
    return [i for i, r in enumerate(config.routes) if _matches(r, event)]


def route(config: Config, event: Event) -> list[Target]:
    """Every destination whose route matches; a destination named by several routes appears once."""
    out: dict[Destination, str] = {}
    for r in config.routes:
        if not _matches(r, event):
            continue
        for d in destinations(config, r):
            if r.mention or d not in out:
                out[d] = r.mention or out.get(d, "")
    return [Target(d, m) for d, m in out.items()]
