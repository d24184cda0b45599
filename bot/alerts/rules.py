"""Declarative detection rules: YAML data, matched field by field (equals, in, prefix, glob, exists). No eval."""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import partial
from importlib import resources
from typing import Any

import yaml

from bot import config_model as model
from bot.alerts.model import SecurityEvent, Severity
from bot.alerts.paths import Reader, reader, values_at

OPERATORS = ("equals", "in", "prefix", "glob", "not_glob", "exists", "between")
RULE_KEYS = model.keys(model.Rule)
SOURCES = ("cloudtrail", "guardduty", "securityhub", "cloudwatch", "health")  # = bot.alerts.sources.KINDS
ALLOW_KEYS = model.keys(model.Allow)
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Condition:
    path: str
    op: str
    values: tuple[str, ...] = ()
    exists: bool = True

    def holds(self, values: Sequence[str]) -> bool:
        if self.op == "exists":
            return bool(values) == self.exists
        if self.op == "not_glob":
            return not any(fnmatchcase(v, p) for v in values for p in self.values)
        if self.op in ("equals", "in"):
            return any(v in self.values for v in values)
        if self.op == "prefix":
            return any(v.startswith(p) for v in values for p in self.values)
        if self.op == "between":  # lo <= value < hi (GuardDuty's numeric severity)
            lo, hi = float(self.values[0]), float(self.values[1])
            return any(lo <= n < hi for n in _numbers(values))
        return any(fnmatchcase(v, p) for v in values for p in self.values)  # glob


def _numbers(values: Sequence[str]) -> list[float]:
    out: list[float] = []
    for v in values:
        try:
            out.append(float(v))
        except ValueError:
            continue
    return out


@dataclass(frozen=True, slots=True)
class AllowList:
    principals: tuple[str, ...] = ()  # glob patterns over the principal ARN
    source_ips: tuple[Network, ...] = ()
    accounts: tuple[str, ...] = ()

    def allows(self, e: SecurityEvent) -> bool:
        if self.principals and any(fnmatchcase(e.principal_arn, p) for p in self.principals):
            return True
        if e.account and e.account in self.accounts:
            return True
        if self.source_ips and e.source_ip:
            try:
                ip = ipaddress.ip_address(e.source_ip)
            except ValueError:
                return False
            return any(ip in net for net in self.source_ips)
        return False


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    title: str
    severity: Severity
    match: tuple[Condition, ...]
    any_of: tuple[tuple[Condition, ...], ...] = ()
    allow: AllowList = field(default_factory=AllowList)
    enabled: bool = True
    source: str = "cloudtrail"  # which kind of event the rule reads (SOURCES)
    escalate: bool = True  # high/critical alerts of this rule escalate when not acknowledged (escalate_after)


FieldIndex = Mapping[str, list[str]]
Fetch = Callable[[str], Sequence[str]]


def field_index(event: SecurityEvent) -> dict[str, list[str]]:
    """The event's values by dotted path (in record order), every path at once (``best_rule`` reads a CloudTrail
    record's paths on demand instead)."""
    index: dict[str, list[str]] = {}
    for k, v in event.all_fields():
        index.setdefault(k, []).append(v)
    return index


def _values(index: FieldIndex, derived: Mapping[str, str], path: str) -> list[str]:
    if path in derived:
        return [derived[path]]
    return index.get(path, [])


def _all(conds: Sequence[Condition], fetch: Fetch) -> bool:
    return all(c.holds(fetch(c.path)) for c in conds)


def rule_matches(rule: Rule, event: SecurityEvent, derived: Mapping[str, str], *,
                 index: FieldIndex | None = None) -> bool:
    if not rule.enabled or rule.source != event.source_kind:
        return False
    fields = field_index(event) if index is None else index

    def fetch(path: str) -> list[str]:
        return _values(fields, derived, path)

    if not _all(rule.match, fetch):
        return False
    return not rule.any_of or any(_all(block, fetch) for block in rule.any_of)


def _fetcher(event: SecurityEvent, derived: Mapping[str, str]) -> Fetch:
    """The values at a path: the bot's derived facts, else the event's (a CloudTrail record read path by path)."""
    doc = event.doc
    if doc is None or event.fields:
        index = field_index(event)
        return lambda path: _values(index, derived, path)
    if not derived:
        return partial(values_at, doc)
    return lambda path: [derived[path]] if path in derived else values_at(doc, path)


def _passes(checks: tuple[Check, ...], fetch: Fetch) -> bool:
    for path, _read, test in checks:
        if not test(fetch(path)):
            return False
    return True


def _holds(checks: tuple[Check, ...], doc: Any, derived: Mapping[str, str]) -> bool:
    """``_passes`` for a CloudTrail record read by path: each condition's own reader (built once per rule set)."""
    for path, read, test in checks:
        if not test([derived[path]] if path in derived else read(doc)):
            return False
    return True


def best_rule(
    rules: Sequence[Rule], event: SecurityEvent, derived: Mapping[str, str], *, allow: AllowList
) -> tuple[Rule | None, bool]:
    """The most severe matching rule (file order breaks ties) and whether an allow-list suppressed it."""
    plan = _plan(rules)
    best: Rule | None = None
    doc = event.doc
    if doc is None or event.fields:
        fetch = _fetcher(event, derived)
        for r, match, any_of in plan.candidates(event.source_kind, fetch("eventName")):
            if _passes(match, fetch) and (not any_of or any(_passes(block, fetch) for block in any_of)):
                best = r  # candidates come most severe first, then in file order: the first match is the answer
                break
    else:  # a CloudTrail record: the same, each path read by the reader its condition was planned with
        names = [derived["eventName"]] if "eventName" in derived else _read_name(doc)
        for r, match, any_of in plan.candidates(event.source_kind, names):
            if _holds(match, doc, derived) and (not any_of or any(_holds(b, doc, derived) for b in any_of)):
                best = r
                break
    if best is None:
        return None, False
    return best, allow.allows(event) or best.allow.allows(event)


Test = Callable[[Sequence[str]], bool]
Check = tuple[str, Reader, Test]  # path, its reader (paths.reader), the condition's test
Planned = tuple[Rule, tuple[Check, ...], tuple[tuple[Check, ...], ...]]


def _test(c: Condition) -> Test:
    """``c.holds`` as one function built once per rule set: sets for equals/in, one regex for a glob list (the same
    answers: tests/security/test_rules_fast_path.py)."""
    if c.op in ("equals", "in"):
        wanted = frozenset(c.values)
        return lambda values: not wanted.isdisjoint(values)
    if c.op in ("glob", "not_glob"):
        rx = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in c.values))
        if c.op == "glob":
            return lambda values: any(rx.match(v) for v in values)
        return lambda values: not any(rx.match(v) for v in values)
    if c.op == "prefix":
        starts = tuple(c.values)
        return lambda values: any(v.startswith(starts) for v in values)
    return c.holds  # exists, between


def _checks(conds: Sequence[Condition]) -> tuple[Check, ...]:
    return tuple((c.path, reader(c.path), _test(c)) for c in conds)


class _Plan:
    """The rules an event can match, by its kind and eventName, most severe first then in file order (issue 27.5:
    an event is checked against the few rules that name its eventName, or none, instead of every rule).

    A rule whose ``match`` has ``eventName: {equals|in: ...}`` is a candidate only for those names; the condition
    is still checked with the others, so the answer is ``rule_matches``'s whatever the plan."""

    _MAX_KEYS = 4096  # eventName is the sender's text: the memo stays bounded

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = rules
        order = sorted(range(len(rules)), key=lambda i: (-rules[i].severity.rank, i))
        enabled = [rules[i] for i in order if rules[i].enabled]
        self._names = [_names(r) for r in enabled]
        # a gated rule is a candidate only when its eventName condition holds: it is not checked twice
        self._ordered: list[Planned] = [(r, _checks(_ungated(r.match)), tuple(_checks(b) for b in r.any_of))
                                        for r in enabled]
        self._memo: dict[tuple[str, tuple[str, ...]], list[Planned]] = {}

    def candidates(self, kind: str, names: Sequence[str]) -> list[Planned]:
        key = (kind, tuple(names))
        hit = self._memo.get(key)
        if hit is None:
            hit = [p for p, gate in zip(self._ordered, self._names, strict=True)
                   if p[0].source == kind and (gate is None or any(n in gate for n in names))]
            if len(self._memo) >= self._MAX_KEYS:
                self._memo.clear()
            self._memo[key] = hit
        return hit


def _gate(conds: Sequence[Condition]) -> int | None:
    """The index of the condition that gates a rule by eventName (the first ``eventName: {equals|in: ...}``)."""
    for i, c in enumerate(conds):
        if c.path == "eventName" and c.op in ("equals", "in"):
            return i
    return None


def _names(rule: Rule) -> frozenset[str] | None:
    i = _gate(rule.match)
    return None if i is None else frozenset(rule.match[i].values)


def _ungated(conds: Sequence[Condition]) -> tuple[Condition, ...]:
    i = _gate(conds)
    return tuple(c for n, c in enumerate(conds) if n != i)


_PLANS: dict[int, _Plan] = {}
_read_name = reader("eventName")


def _plan(rules: Sequence[Rule]) -> _Plan:
    if not isinstance(rules, tuple):  # a list can change under a memo: plan it afresh
        return _Plan(rules)
    plan = _PLANS.get(id(rules))
    if plan is None or plan.rules is not rules:  # keyed by identity: the plan holds the rules, so ids stay unique
        if len(_PLANS) >= 64:
            _PLANS.clear()
        plan = _PLANS[id(rules)] = _Plan(rules)
    return plan


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

