"""Offline validators for GitHub webhook payloads and Adaptive Cards.

The schemas are the pinned copies in ``specs/`` (see its SOURCES.md). GitHub schemas use
relative ``$id`` values (``common/user.schema.json``, ``workflow_run$completed``), so they are loaded
into a :mod:`referencing` registry keyed by ``$id`` instead of by file URL.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft6Validator, Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from sandbox.paths import SPECS_DIR

_DEFAULT_SPECS = SPECS_DIR


def specs_dir() -> Path:
    """Where the pinned specs live (``$CHATOPS_SPECS_DIR`` overrides)."""
    return Path(os.environ.get("CHATOPS_SPECS_DIR", str(_DEFAULT_SPECS)))


@cache
def _github_registry() -> tuple[Registry, dict[str, list[str]]]:
    root = specs_dir() / "github-webhooks" / "payload-schemas" / "api.github.com"
    resources: list[tuple[str, Resource[Any]]] = []
    actions: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*.schema.json")):
        schema = json.loads(path.read_text())
        resources.append((schema["$id"], Resource.from_contents(schema, default_specification=DRAFT7)))
        if "$" in schema["$id"]:
            event, action = schema["$id"].split("$", 1)
            actions.setdefault(event, []).append(action)
    return Registry().with_resources(resources), actions


def github_events() -> dict[str, list[str]]:
    """Event name -> the actions that have a schema."""
    return dict(_github_registry()[1])


def validate_github_payload(event: str, payload: dict[str, Any]) -> list[str]:
    """Errors of ``payload`` against the schema for ``event`` and its ``action`` (empty = valid)."""
    registry, actions = _github_registry()
    if event not in actions:
        return [f"no schema for event {event!r}"]
    action = "event" if event == "ping" else payload.get("action")
    if action not in actions[event]:
        return [f"no schema for {event}.{action}"]
    schema = registry.contents(f"{event}${action}")
    validator = Draft7Validator(schema, registry=registry)
    return [_describe(e) for e in validator.iter_errors(payload)]


@cache
def _adaptive_schema(version: str) -> dict[str, Any]:
    folder = version if version.count(".") == 2 else f"{version}.0"
    path = specs_dir() / "adaptive-cards" / "schemas" / folder / "adaptive-card.json"
    if not path.exists():
        raise ValueError(f"no Adaptive Card schema for version {version}")
    schema: dict[str, Any] = json.loads(path.read_text())
    return schema


def validate_adaptive_card(card: Any, version: str = "1.4") -> list[str]:
    """Errors of ``card`` (the card object, not the Teams envelope) against Adaptive Card ``version``."""
    if not isinstance(card, dict):
        return ["card is not an object"]
    errors = [_describe(e) for e in Draft6Validator(_adaptive_schema(version)).iter_errors(card)]
    if card.get("type") != "AdaptiveCard":
        errors.append("type: must be 'AdaptiveCard'")
    if not isinstance(card.get("version"), str):
        errors.append("version: a root card needs a version string")
    return errors


def _describe(error: Any) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "<root>"
    message = str(error.message)
    if len(message) > 300:
        message = message[:300] + "..."
    return f"{where}: {message}"
