"""GitHub updates (the small parsed values of webhooks) as the JSON text the inbox stores, and back."""

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


def github_update_to_json(update: GitHubUpdate) -> str:
    # fields are flat values and tuples: no need for asdict's deep copy on the ingest path
    data = {f.name: getattr(update, f.name) for f in fields(update)}
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
