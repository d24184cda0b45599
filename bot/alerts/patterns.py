"""EventBridge patterns generated from the bot's detection rules (``bot/alerts/rules.yml``): one source of truth.

``python -m bot.alerts.patterns`` prints the JSON that ``infra/modules/security-events/patterns.json`` holds
(``--write`` rewrites that file; a test checks the committed file equals the output). Terraform reads it with
``jsondecode(file(...))``: one EventBridge rule per bot rule, forwarding at least every event the bot rule fires on.

A pattern may forward more than its rule fires on, never less: conditions on fields the bot derives itself
(``bot.github_subject_allowed``, ``bot.own_resource``: they need the bot's config) are left to the bot, and ``?`` in
a glob becomes ``*``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bot.alerts.rule_config import default_rules
from bot.alerts.rules import Condition, Rule
from bot.alerts.sources import DETAIL_TYPES

__all__ = ["PATTERNS_FILE", "generate", "pattern_for"]

PATTERNS_FILE = Path(__file__).resolve().parents[2] / "infra" / "modules" / "security-events" / "patterns.json"
CLOUDTRAIL_DETAIL_TYPES = ["AWS API Call via CloudTrail", "AWS Console Sign In via CloudTrail"]
READ_ONLY_CALLS = {"AssumeRoleWithWebIdentity"}  # read-only management events a rule cannot do without
_BOOLEAN = {"true": True, "false": False}


def _values(c: Condition) -> list[Any] | None:
    """The EventBridge value list for one condition; None = not expressible (left to the bot)."""
    if c.path.startswith("bot."):
        return None
    if c.op == "exists":
        return [{"exists": c.exists}]
    if c.op in ("equals", "in"):
        return list(c.values)
    if c.op == "prefix":
        return [{"prefix": v} for v in c.values]
    if c.op == "between":
        return [{"numeric": [">=", _num(c.values[0]), "<", _num(c.values[1])]}]
    if c.op == "glob":
        return [{"wildcard": v.replace("?", "*")} if any(ch in v for ch in "*?") else v for v in c.values]
    # not_glob: the complement of a boolean literal (CloudTrail's readOnly is a JSON boolean), else anything-but
    if len(c.values) == 1 and c.values[0] in _BOOLEAN:
        other = not _BOOLEAN[c.values[0]]
        return [other, str(other).lower()]
    if any(ch in v for v in c.values for ch in "*?"):
        return None
    return [{"anything-but": list(c.values)}]


def _num(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() else value


def _block(conditions: tuple[Condition, ...]) -> dict[str, Any]:
    detail: dict[str, Any] = {}
    for c in conditions:
        values = _values(c)
        if values is None:
            continue
        *parents, last = c.path.split(".")
        node = detail
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = values
    return detail


def pattern_for(rule: Rule) -> dict[str, Any]:
    detail = _block(rule.match)
    blocks = [_block(b) for b in rule.any_of]
    if blocks and all(blocks):  # an empty block (only derived conditions) means: any of them may hold
        if len(blocks) == 1:
            detail.update(blocks[0])
        else:
            detail["$or"] = blocks
    if rule.source != "cloudtrail":  # a service event: its own source and detail-type
        dtype, source = next((t, src) for t, (kind, src) in DETAIL_TYPES.items() if kind == rule.source)
        return {"source": [source], "detail-type": [dtype], "detail": detail}
    return {"detail-type": CLOUDTRAIL_DETAIL_TYPES, "detail": detail}


def _read_only(rule: Rule) -> str:
    """``required``: the rule is about read-only events; ``optional``: it may see them; ``never`` (also every
    non-CloudTrail source: the EventBridge rule state is plain ENABLED)."""
    if rule.source != "cloudtrail":
        return "never"
    for c in rule.match:
        if c.path == "eventName" and c.op in ("equals", "in") and set(c.values) <= READ_ONLY_CALLS:
            return "required"
        if c.path == "readOnly" and c.op == "not_glob" and "true" in c.values:
            return "never"
    return "optional"


def generate(rules: tuple[Rule, ...] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for rule in rules if rules is not None else default_rules():
        if not rule.enabled:
            continue
        out[rule.id] = {"description": rule.title, "read_only_events": _read_only(rule), "pattern": pattern_for(rule)}
    return out


def render(rules: tuple[Rule, ...] | None = None) -> str:
    return json.dumps(generate(rules), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.alerts.patterns", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"rewrite {PATTERNS_FILE.name} in the module")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        PATTERNS_FILE.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
