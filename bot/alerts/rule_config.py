"""Rules as configured: the shipped ``rules.yml`` and a config's ``security.rules`` / ``security.allow``, parsed
with every problem named by its key path (bot.alerts.rules matches them). No eval."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from importlib import resources
from typing import Any

import yaml

from bot.alerts.model import Severity
from bot.alerts.rules import ALLOW_KEYS, OPERATORS, RULE_KEYS, SOURCES, AllowList, Condition, Network, Rule

# ------------------------------------------------------------------ parsing (every problem named by key path)


def _str_list(value: Any, path: str, problems: list[str]) -> tuple[str, ...]:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return (str(value),)
    if isinstance(value, list) and all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in value):
        return tuple(str(v) for v in value)
    problems.append(f"{path}: must be a string or a list of strings")
    return ()


def parse_conditions(spec: Any, path: str, problems: list[str]) -> tuple[Condition, ...]:
    if not isinstance(spec, dict) or not spec:
        problems.append(f"{path}: must be a mapping of field: {{operator: value}}")
        return ()
    out: list[Condition] = []
    for fname, opspec in spec.items():
        fpath = f"{path}.{fname}"
        if not isinstance(opspec, dict) or len(opspec) != 1:
            problems.append(f"{fpath}: must have exactly one operator ({', '.join(OPERATORS)})")
            continue
        (op, value), = opspec.items()
        if op not in OPERATORS:
            problems.append(f"{fpath}.{op}: unknown operator (known: {', '.join(OPERATORS)})")
        elif op == "exists":
            if not isinstance(value, bool):
                problems.append(f"{fpath}.exists: must be true or false")
            else:
                out.append(Condition(str(fname), op, exists=value))
        elif op == "between":
            ok = isinstance(value, list) and len(value) == 2 and all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in value)
            if not ok or float(value[0]) >= float(value[1]):
                problems.append(f"{fpath}.between: must be [low, high] numbers with low < high")
            else:
                out.append(Condition(str(fname), op, (str(value[0]), str(value[1]))))
        else:
            vals = _str_list(value, f"{fpath}.{op}", problems)
            if op == "equals" and len(vals) != 1:
                problems.append(f"{fpath}.equals: must be one value (use in: for several)")
            elif value == []:  # dropping the condition would widen the rule (or empty an override's match)
                problems.append(f"{fpath}.{op}: must name at least one value")
            elif vals:
                out.append(Condition(str(fname), str(op), vals))
    return tuple(out)


def parse_allow(spec: Any, path: str, problems: list[str]) -> AllowList:
    if spec is None:
        return AllowList()
    if not isinstance(spec, dict):
        problems.append(f"{path}: must be a mapping with {', '.join(ALLOW_KEYS)}")
        return AllowList()
    for k in spec:
        if k not in ALLOW_KEYS:
            problems.append(f"{path}.{k}: unknown key (known: {', '.join(ALLOW_KEYS)})")
    nets: list[Network] = []
    for i, cidr in enumerate(_str_list(spec.get("source_ips", []), f"{path}.source_ips", problems)):
        try:
            nets.append(ipaddress.ip_network(cidr, strict=False))
        except ValueError:
            problems.append(f"{path}.source_ips[{i}]: {cidr!r} is not an IP range like 203.0.113.0/24")
    return AllowList(
        principals=_str_list(spec.get("principals", []), f"{path}.principals", problems),
        source_ips=tuple(nets),
        accounts=_str_list(spec.get("accounts", []), f"{path}.accounts", problems),
    )


def _parse_rule(spec: dict[str, Any], path: str, problems: list[str], base: Rule | None) -> Rule | None:
    for k in spec:
        if k not in RULE_KEYS:
            problems.append(f"{path}.{k}: unknown key (known: {', '.join(RULE_KEYS)})")
    rid = str(spec.get("id", ""))
    sev_raw = spec.get("severity", base.severity.value if base else None)
    try:
        severity = Severity(str(sev_raw))
    except ValueError:
        problems.append(f"{path}.severity: {sev_raw!r} is not one of low, medium, high, critical")
        severity = Severity.LOW
    enabled = spec.get("enabled", base.enabled if base else True)
    if not isinstance(enabled, bool):
        problems.append(f"{path}.enabled: must be true or false")
        enabled = True
    title = spec.get("title", base.title if base else "")
    if not isinstance(title, str) or not title:
        problems.append(f"{path}.title: must be a non-empty string")
    match = parse_conditions(spec["match"], f"{path}.match", problems) if "match" in spec else (
        base.match if base else ())
    if not match and base is None:
        problems.append(f"{path}.match: is required for a new rule")
    any_of = base.any_of if base else ()
    if "any_of" in spec:
        if not isinstance(spec["any_of"], list):
            problems.append(f"{path}.any_of: must be a list of condition blocks")
        else:
            any_of = tuple(parse_conditions(b, f"{path}.any_of[{i}]", problems)
                           for i, b in enumerate(spec["any_of"]))
    allow = parse_allow(spec["allow"], f"{path}.allow", problems) if "allow" in spec else (
        base.allow if base else AllowList())
    source = spec.get("source", base.source if base else "cloudtrail")
    if source not in SOURCES:
        problems.append(f"{path}.source: {source!r} is not one of {', '.join(SOURCES)}")
        source = "cloudtrail"
    escalate = spec.get("escalate", base.escalate if base else True)
    if not isinstance(escalate, bool):
        problems.append(f"{path}.escalate: must be true or false")
        escalate = True
    return Rule(rid, str(title), severity, match, any_of, allow, enabled, str(source), escalate)


def parse_rules(data: Any, path: str, problems: list[str], *, base: Sequence[Rule] = ()) -> tuple[Rule, ...]:
    """A rules list; entries whose id is in ``base`` override that rule, new ids are added after."""
    if data is None:
        return tuple(base)
    if not isinstance(data, list):
        problems.append(f"{path}: must be a list of rules")
        return tuple(base)
    by_id = {r.id: r for r in base}
    base_ids = set(by_id)
    order = [r.id for r in base]
    seen: set[str] = set()
    for i, spec in enumerate(data):
        rpath = f"{path}[{i}]"
        if not isinstance(spec, dict):
            problems.append(f"{rpath}: must be a mapping")
            continue
        rid = spec.get("id")
        if not isinstance(rid, str) or not rid:
            problems.append(f"{rpath}.id: must be a non-empty string")
            continue
        if rid in seen:
            problems.append(f"{rpath}.id: {rid!r} is defined twice")
            continue
        seen.add(rid)
        rule = _parse_rule(spec, rpath, problems, by_id.get(rid) if rid in base_ids else None)
        if rule is not None:
            if rid not in by_id:
                order.append(rid)
            by_id[rid] = rule
    return tuple(by_id[i] for i in order)


def default_rules() -> tuple[Rule, ...]:
    text = (resources.files("bot.alerts") / "rules.yml").read_text(encoding="utf-8")
    problems: list[str] = []
    rules = parse_rules(yaml.safe_load(text), "bot/alerts/rules.yml", problems)
    if problems:  # a broken shipped file is a bug: fail loudly
        raise ValueError("; ".join(problems))
    return rules

