"""Issue 16's settings, read from the config's raw YAML (like ``bot.alerts.settings``): ``metrics``, each
route's ``digest`` and ``quiet_hours``, ``teams.webhooks.<name>.updates`` and ``teams.bot.deploys_conversation``.
Every problem names its key; ``check-config`` and start-up report them all at once."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot import config_model as model
from bot.config import Config, parse_duration
from bot.domain import RequestState
from bot.errors import ConfigError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
UPDATES = ("final", "all")
_HHMM = re.compile(model.HHMM_PATTERN)


@dataclass(frozen=True, slots=True)
class Digest:
    every_s: int  # 1d or 1w
    weekday: int | None  # 0 = Monday; None: every day
    at: time
    tz: str


@dataclass(frozen=True, slots=True)
class QuietHours:
    start: time
    end: time
    tz: str


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    failure_window_s: int = 86400
    digests: Mapping[int, Digest] = field(default_factory=dict)  # route index -> digest
    quiet: Mapping[int, QuietHours] = field(default_factory=dict)  # route index -> quiet hours
    teams_updates: Mapping[str, str] = field(default_factory=dict)  # webhook name -> final | all
    teams_deploys_conversation: str = ""


def _tz(value: Any, path: str, problems: list[str]) -> str:
    name = str(value or "UTC")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"{path}: {name[:60]!r} is not a time zone name like Europe/Berlin")
        return "UTC"
    return name


def _hhmm(value: Any, path: str, problems: list[str]) -> time:
    text = str(value or "")
    if not _HHMM.match(text):
        problems.append(f"{path}: {text[:20]!r} is not a time like 09:00 (HH:MM)")
        return time(0, 0)
    return time.fromisoformat(text)


def _digest(spec: Any, path: str, problems: list[str]) -> Digest | None:
    if not isinstance(spec, dict):
        problems.append(f"{path}: must be a mapping like {{every: 1w, at: \"Mon 09:00\", tz: Europe/Berlin}}")
        return None
    for extra in set(spec) - set(model.keys(model.Digest)):
        problems.append(f"{path}.{extra}: unknown key (known: {', '.join(model.keys(model.Digest))})")
    try:
        every = parse_duration(str(spec.get("every", "1w")))
    except ValueError as exc:
        problems.append(f"{path}.every: {exc}")
        every = 604800
    if every not in (86400, 604800):
        problems.append(f"{path}.every: a digest goes out every 1d or every 1w")
    words = str(spec.get("at", "")).split()
    weekday = None
    if every == 604800:
        if len(words) != 2 or words[0].lower()[:3] not in DAYS:
            problems.append(f"{path}.at: a weekly digest needs a day and a time like \"Mon 09:00\"")
            words = ["mon", "00:00"]
        weekday = DAYS.index(words[0].lower()[:3])
        words = words[1:]
    at = _hhmm(words[0] if len(words) == 1 else "", f"{path}.at", problems)
    return Digest(every, weekday, at, _tz(spec.get("tz"), f"{path}.tz", problems))


def _quiet(spec: Any, path: str, problems: list[str]) -> QuietHours | None:
    if not isinstance(spec, dict):
        problems.append(f"{path}: must be a mapping like {{from: \"20:00\", to: \"08:00\", tz: Europe/Berlin}}")
        return None
    for extra in set(spec) - set(model.keys(model.QuietHours)):
        problems.append(f"{path}.{extra}: unknown key (known: {', '.join(model.keys(model.QuietHours))})")
    start = _hhmm(spec.get("from"), f"{path}.from", problems)
    end = _hhmm(spec.get("to"), f"{path}.to", problems)
    if start == end and not any(p.startswith(path) for p in problems):
        problems.append(f"{path}: from and to are the same time")
    return QuietHours(start, end, _tz(spec.get("tz"), f"{path}.tz", problems))


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _teams(raw: Mapping[str, Any], problems: list[str]) -> tuple[dict[str, str], str]:
    teams = _mapping(raw.get("teams"))
    updates: dict[str, str] = {}
    hooks = _mapping(teams.get("webhooks"))
    for name, spec in hooks.items():
        value = str((spec or {}).get("updates", "final")) if isinstance(spec, dict) else "final"
        if value not in UPDATES:
            problems.append(f"teams.webhooks.{name}.updates: {value[:20]!r} is not one of final, all")
        updates[str(name)] = value
    bot = _mapping(teams.get("bot"))
    conversation = bot.get("deploys_conversation", "")
    if not isinstance(conversation, str):
        problems.append("teams.bot.deploys_conversation: must be a conversation id (text)")
        conversation = ""
    return updates, conversation


def parse_delivery(raw: Mapping[str, Any]) -> DeliverySettings:
    problems: list[str] = []
    metrics = raw.get("metrics") or {}
    window = 86400
    if not isinstance(metrics, dict):
        problems.append("metrics: must be a mapping like {failure_window: 24h}")
        metrics = {}
    for extra in set(metrics) - set(model.keys(model.Metrics)):
        problems.append(f"metrics.{extra}: unknown key (known: {', '.join(model.keys(model.Metrics))})")
    if "failure_window" in metrics:
        try:
            window = parse_duration(str(metrics["failure_window"]))
        except ValueError as exc:
            problems.append(f"metrics.failure_window: {exc}")
    digests: dict[int, Digest] = {}
    quiet: dict[int, QuietHours] = {}
    routes_raw = raw.get("routes")
    routes: list[Any] = routes_raw if isinstance(routes_raw, list) else []
    for i, spec in enumerate(routes):
        if not isinstance(spec, dict):
            continue
        if "digest" in spec and (d := _digest(spec["digest"], f"routes[{i}].digest", problems)):
            digests[i] = d
        if "quiet_hours" in spec and (q := _quiet(spec["quiet_hours"], f"routes[{i}].quiet_hours", problems)):
            quiet[i] = q
    updates, conversation = _teams(raw, problems)
    if problems:
        raise ConfigError(problems)
    return DeliverySettings(window, digests, quiet, updates, conversation)


def delivery_settings(config: Config) -> DeliverySettings:
    return parse_delivery(config.raw)


_AT_ONCE = (RequestState.PENDING_APPROVAL, RequestState.FAILED)


def webhook_updates(config: Config, webhook: str) -> str:
    """``teams.webhooks.<name>.updates`` (``final`` when unset); validated by ``parse_delivery`` at start-up."""
    spec = _mapping(_mapping(_mapping(config.raw.get("teams")).get("webhooks")).get(webhook))
    return str(spec.get("updates", "final"))


def webhook_wants(config: Config, webhook: str, state: RequestState) -> bool:
    """Whether a Teams webhook (which cannot edit a card) gets a request's card in ``state``: with ``final``,
    only a request waiting for approval, a failure and a final state are posted (one card per deployment when
    no approval is asked; the request card and its outcome when one is); with ``all``, every state change."""
    return webhook_updates(config, webhook) == "all" or state in _AT_ONCE or state.final


def teams_deploys_conversation(config: Config) -> str:
    """``teams.bot.deploys_conversation``: where the Teams bot keeps deployment cards, edited in place."""
    value = _mapping(_mapping(config.raw.get("teams")).get("bot")).get("deploys_conversation", "")
    return value if isinstance(value, str) else ""


_CACHE: dict[int, tuple[Config, DeliverySettings]] = {}


def cached_settings(config: Config) -> DeliverySettings:
    """``delivery_settings`` parsed once per config object (enqueueing a card asks on every state change)."""
    hit = _CACHE.get(id(config))
    if hit is None or hit[0] is not config:
        hit = (config, delivery_settings(config))
        _CACHE[id(config)] = hit
    return hit[1]
