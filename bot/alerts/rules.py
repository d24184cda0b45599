"""Declarative detection rules: YAML data, matched field by field (equals, in, prefix, glob, exists). No eval."""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from bot import config_model as model
from bot.alerts.model import SecurityEvent, Severity
from bot.alerts.paths import Reader, reader

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
    """The values at a path of an event's flattened fields: the bot's derived facts first (a CloudTrail record read
    by path goes through ``_holds`` instead)."""
    index = field_index(event)
    return lambda path: _values(index, derived, path)


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
