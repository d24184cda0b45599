"""Issue 27 item 5: the faster flatten and rule plan give the answers the straightforward versions gave.

The references below are the implementations before the change (a recursive generator; every rule checked in
file order); the fast ones must agree with them on the published CloudTrail samples and on generated documents.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.alerts.model import SecurityEvent
from bot.alerts.normalize import _MAX_FIELD, _s, flatten, parse_events
from bot.alerts.rule_config import default_rules, parse_rules
from bot.alerts.rules import AllowList, Rule, best_rule, rule_matches

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "cloudtrail"


def reference_flatten(obj: Any, prefix: str = "", depth: int = 0) -> Iterator[tuple[str, str]]:
    if depth > 5:
        return
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from reference_flatten(v, f"{prefix}.{k}" if prefix else str(k), depth + 1)
    elif isinstance(obj, list):
        for item in obj[:50]:
            yield from reference_flatten(item, prefix, depth + 1)
    elif obj is not None:
        text = _s(obj)
        if len(text) <= _MAX_FIELD:
            yield prefix, text


def reference_best(rules: Sequence[Rule], event: SecurityEvent, derived: dict[str, str]) -> Rule | None:
    best: Rule | None = None
    for r in rules:
        if (best is None or r.severity.rank > best.severity.rank) and rule_matches(r, event, derived):
            best = r
    return best


def samples() -> list[Any]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(FIXTURES.glob("*.json"))]


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                    st.text(max_size=5), st.just("x" * (_MAX_FIELD + 1)), st.just("y" * _MAX_FIELD))
documents = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=60), st.dictionaries(st.text(max_size=3), inner, max_size=4)), max_leaves=80)


@settings(max_examples=300, deadline=None)
@given(documents)
def test_flatten_matches_the_reference(doc: Any) -> None:
    assert list(flatten(doc)) == list(reference_flatten(doc))
    assert list(flatten({"a": doc}, "p", 3)) == list(reference_flatten({"a": doc}, "p", 3))


def test_flatten_matches_the_reference_on_published_records() -> None:
    for doc in samples():
        assert list(flatten(doc)) == list(reference_flatten(doc))


EXTRA = parse_rules([
    {"id": "same-severity-later", "title": "t", "severity": "high", "match": {"eventName": {"equals": "ConsoleLogin"}}},
    {"id": "no-name", "title": "t", "severity": "critical", "match": {"sourceIPAddress": {"prefix": "192.0.2."}}},
    {"id": "off", "title": "t", "severity": "critical", "enabled": False,
     "match": {"eventName": {"in": ["StopLogging"]}}},
], "rules", [], base=default_rules())


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([default_rules(), EXTRA, tuple(EXTRA[::-1]), list(EXTRA)]),
       st.sampled_from(["ConsoleLogin", "StopLogging", "CreateAccessKey", "GetObject", "AssumeRoleWithWebIdentity"]),
       st.sampled_from(["", "AccessDenied", "Client.UnauthorizedOperation"]),
       st.sampled_from([{}, {"bot.own_resource": "true"}, {"bot.github_subject_allowed": "false"}]))
def test_best_rule_matches_every_rule_checked_in_order(rules: Sequence[Rule], name: str, error: str,
                                                        derived: dict[str, str]) -> None:
    for doc in samples():
        for record in doc.get("Records", [doc]):
            changed = {**record, "eventName": name, **({"errorCode": error} if error else {})}
            for e in parse_events(changed)[0]:
                got, _ = best_rule(rules, e, derived, allow=AllowList())
                assert got == reference_best(rules, e, derived)
