"""Issue 27 item 5, third round: the per-condition path readers and the compiled glob lists answer exactly as what
they replace (``values_at``; ``fnmatchcase`` per pattern; every rule checked in order through ``rule_matches``,
which flattens the record), on the published CloudTrail samples and on generated documents whose keys are drawn
so that dotted, empty and colliding keys are common."""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase
from typing import Any

from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from bot.alerts.globs import glob_matcher
from bot.alerts.normalize import NotCloudTrail, _check_record, flatten, parse_events
from bot.alerts.paths import reader, values_at
from bot.alerts.rule_config import default_rules
from bot.alerts.rules import AllowList, Rule, best_rule
from tests.security.test_rules_by_path import documents, paths, records
from tests.security.test_rules_fast_path import EXTRA, reference_best

RULE_PATHS = sorted({c.path for r in EXTRA for block in (r.match, *r.any_of) for c in block})


@settings(max_examples=400, deadline=None)
@given(documents, st.lists(paths, max_size=5))
def test_reader_holds_what_values_at_holds(doc: dict[str, Any], extra: list[str]) -> None:
    for path in {k for k, _ in flatten(doc)} | set(extra) | {"a", "b", "ab", "", "a.b"}:
        assert reader(path)(doc) == values_at(doc, path), path
    assert reader("a")(["not", "a", "dict"]) == values_at(["not", "a", "dict"], "a") == []


def test_reader_on_published_records() -> None:
    for record in records():
        for path in {k for k, _ in flatten(record)} | {*RULE_PATHS, "userIdentity", "nope", "a..b", ""}:
            assert reader(path)(record) == values_at(record, path), path


globs = st.text(alphabet="aZ*?[]!.-:/", max_size=6)


@settings(max_examples=500, deadline=None)
@given(st.lists(globs, max_size=4), st.lists(st.text(alphabet="aZ*?[]!.-:/\n", max_size=8), max_size=4))
def test_glob_matcher_answers_as_fnmatchcase_per_pattern(patterns: list[str], values: list[str]) -> None:
    match = glob_matcher(tuple(patterns))
    for v in values:
        assert match(v) == any(fnmatchcase(v, p) for p in patterns), (patterns, v)


# what a record can hold at the paths the rules read, and beside them: keys with dots and empty keys
_TOP = st.sampled_from(["", "", "", "errorCode", "readOnly", "userIdentity", "userIdentity.type", "responseElements",
                        "responseElements.ConsoleLogin", "additionalEventData", "eventSource", "sourceIPAddress"])
_RULE_VALUES = st.sampled_from(["AccessDenied", "AccessDenied", "Root", "Client.UnauthorizedOperation", "Root",
                                "Failure", "Success", "No", "true", "false", "cloudtrail.amazonaws.com",
                                "iam.amazonaws.com", "192.0.2.7"])
_INNER = st.sampled_from(["", "type", "errorCode", "ConsoleLogin", "MFAUsed", "identityProvider", "a.b"])
_VALUES = st.one_of(_RULE_VALUES, st.dictionaries(_INNER, st.one_of(_RULE_VALUES, st.lists(_RULE_VALUES)), max_size=3),
                    documents)


@settings(max_examples=300, deadline=None)
@example(default_rules(), records()[0], {"": {"errorCode": "AccessDenied"}}, {"errorCode"}, {})  # under an empty key
@example(default_rules(), records()[0], {"userIdentity.type": "Root"}, {"userIdentity"}, {})  # a key with a dot
@given(st.sampled_from([default_rules(), EXTRA, tuple(EXTRA[::-1]), list(EXTRA)]), st.sampled_from(records()),
       st.dictionaries(_TOP, _VALUES, max_size=4),
       st.sets(st.sampled_from(["errorCode", "userIdentity", "responseElements", "additionalEventData", "readOnly"])),
       st.sampled_from([{}, {"bot.own_resource": "true"}, {"bot.github_subject_allowed": "false"},
                        {"eventName": "StopLogging"}, {"errorCode": "AccessDenied"}]))
def test_best_rule_with_readers_matches_every_rule_checked_in_order(
        rules: Sequence[Rule], record: dict[str, Any], changes: dict[str, Any], drop: set[str],
        derived: dict[str, str]) -> None:
    try:
        events, _ = parse_events({**{k: v for k, v in record.items() if k not in drop}, **changes})
    except NotCloudTrail:  # eventSource made a non-text: not a record
        assume(False)
    for e in events:
        got, _ = best_rule(rules, e, derived, allow=AllowList())
        assert got == reference_best(rules, e, derived)


def reference_check(r: dict[str, Any]) -> None:
    """_check_record before this round."""
    for key in ("eventName", "eventSource"):
        if not isinstance(r.get(key), str) or not r.get(key):
            raise NotCloudTrail(f"not a CloudTrail record: {key} is missing")


def _outcome(check: Any, r: dict[str, Any]) -> str:
    try:
        check(r)
    except NotCloudTrail as exc:
        return str(exc)
    return "ok"


_FIELD = st.one_of(st.none(), st.just(""), st.just("x"), st.integers(), st.lists(st.just("x"), max_size=1))


@settings(max_examples=200, deadline=None)
@given(st.fixed_dictionaries({}, optional={"eventName": _FIELD, "eventSource": _FIELD}))
def test_check_record_refuses_what_it_refused(record: dict[str, Any]) -> None:
    assert _outcome(_check_record, record) == _outcome(reference_check, record)
