"""Freeze windows: absolute date-time ranges and weekly recurring windows, each in its own time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.config import Config, Freeze


def _active(f: Freeze, at: datetime) -> bool:
    if f.start is not None and f.end is not None:
        return f.start <= at < f.end
    if f.days and f.from_time is not None and f.to_time is not None:
        local = at.astimezone(ZoneInfo(f.timezone))
        return local.weekday() in f.days and f.from_time <= local.time().replace(tzinfo=None) < f.to_time
    return False


def active_freeze(config: Config, environment: str, at: datetime) -> Freeze | None:
    for f in config.freezes:
        if environment in f.environments and _active(f, at):
            return f
    return None


def describe(f: Freeze) -> str:
    if f.start is not None and f.end is not None:
        return f"{f.reason} (until {f.end:%Y-%m-%d %H:%M} {f.timezone})"
    return f"{f.reason} (weekly, until {f.to_time:%H:%M} {f.timezone})" if f.to_time else f.reason
