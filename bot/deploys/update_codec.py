"""GitHub updates (the small parsed values of webhooks) as the JSON text the inbox stores, and back; and the
hand-over of a recorded update from ingest to the worker of the same process (``Handoff``)."""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

import orjson

from bot.domain import (
    CheckUpdate,
    DeploymentUpdate,
    GitHubUpdate,
    ProtectionRuleRequest,
    PushUpdate,
    ReviewRequest,
    RunUpdate,
)

_GITHUB_TYPES: dict[str, type[GitHubUpdate]] = {
    t.__name__: t for t in (RunUpdate, ProtectionRuleRequest, ReviewRequest, DeploymentUpdate, PushUpdate,
                            CheckUpdate)
}


# each type's field names, in order: ``dataclasses.fields`` builds its tuple at every call (the ingest path)
_FIELD_NAMES: dict[type, tuple[str, ...]] = {t: tuple(f.name for f in fields(t)) for t in _GITHUB_TYPES.values()}


def github_update_to_json(update: GitHubUpdate) -> str:
    # fields are flat values and tuples: no need for asdict's deep copy on the ingest path
    data = {name: getattr(update, name) for name in _FIELD_NAMES[type(update)]}
    try:  # orjson: the same JSON text for these values (compact; non-ASCII as UTF-8, which json.loads reads alike)
        return orjson.dumps({"t": type(update).__name__, "d": data}).decode()
    except TypeError:  # an int wider than 64 bits (orjson refuses it): json writes it exactly
        return json.dumps({"t": type(update).__name__, "d": data}, separators=(",", ":"))


def github_update_from_json(body: str) -> GitHubUpdate:
    data = json.loads(body)
    cls = _GITHUB_TYPES[data["t"]]
    values: dict[str, Any] = {
        k: tuple(tuple(x) if isinstance(x, list) else x for x in v) if isinstance(v, list) else v
        for k, v in data["d"].items()
    }
    return cls(**values)


class Handoff:
    """The parsed updates of the webhooks this process recorded, by inbox key, for this process's worker (issue 27
    item 4): the worker takes an update from here instead of decoding the inbox copy again.

    The inbox row stays the durable record and what is applied: an entry is used only when its text is the row's
    body, and an update gives back that update when decoded (``github_update_from_json(github_update_to_json(u))
    == u``: tests/unit/test_update_handoff.py), so the worker applies what decoding the row would give. A row
    without an entry (recorded before a restart, by another replica, retried after a failure, or evicted while
    the worker was behind) is decoded from the inbox as before. At most ``limit`` entries: the oldest go first."""

    def __init__(self, limit: int = 4096) -> None:
        self._limit = limit
        self._items: dict[str, tuple[str, GitHubUpdate]] = {}

    def __len__(self) -> int:
        return len(self._items)

    def put(self, key: str, body: str, update: GitHubUpdate) -> None:
        """Offer ``update`` (whose inbox text is ``body``) before its row is written: the worker may claim the row
        before the recorder hears that it was committed. A key already offered keeps its first offer (the inbox
        keeps the first row of a key too; a repeated delivery id must not withdraw it)."""
        items = self._items
        if key in items:
            return
        items[key] = (body, update)
        if len(items) > self._limit:
            del items[next(iter(items))]

    def drop(self, key: str, body: str) -> None:
        """Withdraw an offer whose row was not written (a repeated delivery id, or the write failed)."""
        entry = self._items.get(key)
        if entry is not None and entry[0] is body:
            del self._items[key]

    def take(self, key: str, body: str) -> GitHubUpdate | None:
        """The update recorded under ``key`` when its text is ``body`` (the claimed row's), else None."""
        entry = self._items.pop(key, None)
        return entry[1] if entry is not None and entry[0] == body else None
