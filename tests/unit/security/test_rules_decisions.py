"""Issue 22 item 15: what bot/alerts/rules.py decides, pinned down so that each surviving mutant dies.

Each test names the mutant family it kills (``make mutation``, docs/testing.md). Events are the published CloudTrail
sample (tests/fixtures/cloudtrail, SOURCES.md) with one field changed, parsed by the real normaliser.

CloudTrail's ``sourceIPAddress`` is an address, or for a call an AWS service made on your behalf the service's DNS
name such as ``ec2.amazonaws.com`` ("For services in AWS, only the DNS name is displayed":
https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html),
so an allow-list of ranges must not treat a name as inside every range.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from pathlib import Path
from typing import Any

import pytest

from bot.alerts.model import SecurityEvent, Severity
from bot.alerts.normalize import flatten, parse_record
from bot.alerts.rule_config import default_rules, parse_allow, parse_conditions, parse_rules
from bot.alerts.rules import AllowList, Condition, Rule, best_rule, rule_matches
from bot.alerts.settings import parse_security
from bot.errors import ConfigError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "cloudtrail"
SAMPLE = "access-denied.states-DeleteStateMachine.awsdocs.json"  # 10.61.88.189, account 123456789012


FORM = {"now": "doc"}


@pytest.fixture(autouse=True, params=["doc", "fields"])
def event_form(request: pytest.FixtureRequest) -> Any:
    """Every decision twice: a CloudTrail record read by path (``doc``, what parse_record gives), and the same
    values flattened into ``fields`` (how the other alert sources arrive): best_rule reads each its own way."""
    FORM["now"] = request.param
    yield request.param
    FORM["now"] = "doc"


def event(**changes: Any) -> SecurityEvent:
    record = json.loads((FIXTURES / SAMPLE).read_text(encoding="utf-8"))
    record.update(changes)
    e = parse_record(record)
    if FORM["now"] == "fields" and e.doc is not None:
        return dataclasses.replace(e, fields=tuple(flatten(e.doc)), doc=None)
    return e


def nets(*cidrs: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


# ------------------------------------------------------------------------------------------ allow-lists


@pytest.mark.parametrize(("source", "allowed"), [
    ("10.61.88.189", True),  # inside 10.61.0.0/16
    ("10.62.0.1", False),  # outside every range
    ("2001:db8::7", True),  # inside the IPv6 range
    ("2001:db9::7", False),
    ("ec2.amazonaws.com", False),  # an AWS service's DNS name is in no range
    ("AWS Internal", False),
    ("", False),
])
def test_source_ips_allow_only_addresses_inside_a_range(source: str, allowed: bool) -> None:
    allow = AllowList(source_ips=nets("192.0.2.0/24", "10.61.0.0/16", "2001:db8::/32"))
    assert allow.allows(event(sourceIPAddress=source)) is allowed


def test_an_empty_allow_list_allows_nothing() -> None:
    for e in (event(), event(sourceIPAddress="ec2.amazonaws.com"), event(recipientAccountId="")):
        assert AllowList().allows(e) is False
    # one kind of entry does not open the others
    assert AllowList(principals=("arn:aws:iam::*:user/other",)).allows(event()) is False
    assert AllowList(accounts=("999999999999",)).allows(event()) is False


def test_accounts_allow_only_the_listed_accounts() -> None:
    allow = AllowList(accounts=("123456789012",))
    assert allow.allows(event()) is True
    assert allow.allows(event(recipientAccountId="210987654321",
                              userIdentity={"type": "IAMUser", "accountId": "210987654321"})) is False
    # an account allow-list is checked before the address one: either entry suffices
    both = AllowList(accounts=("123456789012",), source_ips=nets("192.0.2.0/24"))
    assert both.allows(event()) is True


def test_an_event_without_an_account_is_not_allowed_by_an_empty_entry() -> None:
    allow = AllowList(accounts=("",))
    assert allow.allows(event(recipientAccountId="", userIdentity={"type": "IAMUser"})) is False


def test_principals_are_glob_patterns_over_the_arn() -> None:
    assert AllowList(principals=("arn:aws:iam::123456789012:user/*",)).allows(event()) is True
    assert AllowList(principals=("arn:aws:iam::123456789012:role/*",)).allows(event()) is False


def test_best_rule_reports_suppression_by_the_global_or_the_rule_allow_list() -> None:
    rules = parse_rules([{"id": "denied", "title": "t", "severity": "medium",
                          "match": {"errorCode": {"equals": "AccessDenied"}},
                          "allow": {"accounts": ["210987654321"]}}], "rules", [])
    hit, suppressed = best_rule(rules, event(), {}, allow=AllowList())
    assert hit is not None and hit.id == "denied" and suppressed is False
    assert best_rule(rules, event(), {}, allow=AllowList(source_ips=nets("10.61.0.0/16"))) == (hit, True)
    other = event(recipientAccountId="210987654321", userIdentity={"type": "IAMUser", "accountId": "210987654321"})
    assert best_rule(rules, other, {}, allow=AllowList()) == (hit, True)  # the rule's own list
    assert best_rule(rules, event(errorCode="Other"), {}, allow=AllowList(source_ips=nets("10.61.0.0/16"))) == (
        None, False)  # nothing matched: nothing to suppress


# ------------------------------------------------------------------------------------------ conditions


@pytest.mark.parametrize(("cond", "values", "holds"), [
    (Condition("f", "prefix", ("Describe", "List")), ["DescribeInstances"], True),
    (Condition("f", "prefix", ("Describe", "List")), ["GetObject", "ListBuckets"], True),
    (Condition("f", "prefix", ("Describe",)), ["GetDescribe"], False),
    (Condition("f", "prefix", ("Describe",)), [], False),
    (Condition("f", "not_glob", ("*-ci-*", "deploy")), ["arn:role/app-ci-1"], False),
    (Condition("f", "not_glob", ("*-ci-*", "deploy")), ["deploy"], False),
    (Condition("f", "not_glob", ("*-ci-*", "deploy")), ["arn:role/admin"], True),
    (Condition("f", "not_glob", ("*-ci-*",)), ["arn:role/admin", "arn:role/app-ci-1"], False),
    (Condition("f", "not_glob", ("*-ci-*",)), [], True),
    (Condition("f", "glob", ("Access*",)), ["AccessDenied"], True),
    (Condition("f", "glob", ("Access*",)), ["NoAccess"], False),
    (Condition("f", "glob", ("Access*",)), [], False),
    (Condition("f", "equals", ("Failure",)), ["Failure"], True),
    (Condition("f", "equals", ("Failure",)), ["FailureX"], False),
    (Condition("f", "in", ("A", "B")), ["C", "B"], True),
    (Condition("f", "in", ("A", "B")), ["C"], False),
    (Condition("f", "exists", exists=True), ["x"], True),
    (Condition("f", "exists", exists=True), [], False),
    (Condition("f", "exists", exists=False), [], True),
    (Condition("f", "exists", exists=False), ["x"], False),
    (Condition("f", "between", ("7", "9")), ["7"], True),  # lo is inside
    (Condition("f", "between", ("7", "9")), ["9"], False),  # hi is outside
    (Condition("f", "between", ("7", "9")), ["6.9"], False),
    (Condition("f", "between", ("7", "9")), ["n/a", "8.5"], True),  # a non-number is skipped, not the end
    (Condition("f", "between", ("7", "9")), ["n/a"], False),
])
def test_each_operator(cond: Condition, values: list[str], holds: bool) -> None:
    assert cond.holds(values) is holds


def test_parsed_operators_keep_their_meaning() -> None:
    """The operator names in YAML reach the same behaviour (a mutated name would fall through to glob)."""
    problems: list[str] = []
    conds = parse_conditions({"a": {"prefix": "Describe"}, "b": {"not_glob": "*-ci-*"}, "c": {"in": ["x", "y"]},
                              "d": {"equals": "z"}, "e": {"exists": False}, "g": {"between": [7, 9]},
                              "h": {"glob": "x*"}}, "m", problems)
    assert problems == []
    by = {c.path: c for c in conds}
    assert [(c.path, c.op, c.values) for c in conds] == [
        ("a", "prefix", ("Describe",)), ("b", "not_glob", ("*-ci-*",)), ("c", "in", ("x", "y")),
        ("d", "equals", ("z",)), ("e", "exists", ()), ("g", "between", ("7", "9")), ("h", "glob", ("x*",))]
    assert by["a"].holds(["DescribeX"]) and not by["a"].holds(["XDescribe"])
    assert by["b"].holds(["admin"]) and not by["b"].holds(["app-ci-1"])
    assert by["e"].exists is False and by["e"].holds([])
    assert by["g"].holds(["8"]) and not by["g"].holds(["9"])


# ------------------------------------------------------------------------------------------ which rule


def rule(rid: str, severity: str, **extra: Any) -> dict[str, Any]:
    return {"id": rid, "title": rid, "severity": severity, "match": {"errorCode": {"equals": "AccessDenied"}},
            **extra}


@pytest.mark.parametrize("container", [tuple, list])
def test_equal_severity_ties_go_to_the_first_rule_in_file_order(container: type) -> None:
    rules = container(parse_rules([rule("low-1", "low"), rule("first", "high"), rule("second", "high"),
                                   rule("low-2", "low")], "rules", []))
    assert best_rule(rules, event(), {}, allow=AllowList())[0].id == "first"  # type: ignore[union-attr]
    swapped = container(parse_rules([rule("second", "high"), rule("first", "high")], "rules", []))
    assert best_rule(swapped, event(), {}, allow=AllowList())[0].id == "second"  # type: ignore[union-attr]


def test_the_most_severe_match_wins_whatever_the_order() -> None:
    for order in (["m", "c", "h"], ["c", "h", "m"], ["h", "m", "c"]):
        sev = {"m": "medium", "c": "critical", "h": "high"}
        rules = parse_rules([rule(x, sev[x]) for x in order], "rules", [])
        assert best_rule(rules, event(), {}, allow=AllowList())[0].id == "c"  # type: ignore[union-attr]


def test_disabled_rules_and_other_sources_never_match() -> None:
    rules = parse_rules([rule("off", "critical", enabled=False), rule("gd", "critical", source="guardduty"),
                         rule("on", "low")], "rules", [])
    assert best_rule(rules, event(), {}, allow=AllowList())[0].id == "on"  # type: ignore[union-attr]
    off, gd, on = rules
    assert not rule_matches(off, event(), {}) and not rule_matches(gd, event(), {}) and rule_matches(on, event(), {})


def test_any_of_needs_one_block_to_hold() -> None:
    rules = parse_rules([rule("blocks", "high", any_of=[{"eventName": {"equals": "Nope"}},
                                                        {"sourceIPAddress": {"prefix": "10.61."}}])], "rules", [])
    assert rule_matches(rules[0], event(), {})
    assert best_rule(rules, event(), {}, allow=AllowList())[0] is rules[0]
    other = event(sourceIPAddress="192.0.2.1")
    assert not rule_matches(rules[0], other, {})
    assert best_rule(rules, other, {}, allow=AllowList()) == (None, False)
    # derived fields count like record fields
    derived = parse_rules([rule("derived", "high", any_of=[{"bot.own_resource": {"equals": "true"}}])], "r", [])
    assert rule_matches(derived[0], other, {"bot.own_resource": "true"})
    assert not rule_matches(derived[0], other, {"bot.own_resource": "false"})


def test_event_name_gates_are_only_a_shortcut() -> None:
    """A rule naming eventName is a candidate for those names only; other rules for every name."""
    rules = parse_rules([
        {"id": "named", "title": "t", "severity": "critical",
         "match": {"eventName": {"in": ["DeleteStateMachine"]}, "errorCode": {"exists": True}}},
        {"id": "other-name", "title": "t", "severity": "critical", "match": {"eventName": {"equals": "StopLogging"}}},
        rule("unnamed", "high"),
    ], "rules", [])
    assert best_rule(rules, event(), {}, allow=AllowList())[0].id == "named"  # type: ignore[union-attr]
    renamed = event(eventName="DeleteActivity")
    assert best_rule(rules, renamed, {}, allow=AllowList())[0].id == "unnamed"  # type: ignore[union-attr]


# ------------------------------------------------------------------------------------------ overriding rules


def base() -> tuple[Rule, ...]:
    return parse_rules([
        {"id": "shipped", "title": "Shipped", "severity": "critical", "enabled": False, "source": "guardduty",
         "escalate": False, "match": {"type": {"prefix": "Recon:"}},
         "any_of": [{"severity": {"between": [7, 9]}}], "allow": {"accounts": ["123456789012"]}},
    ], "base", [])


def test_overriding_the_severity_keeps_everything_else() -> None:
    problems: list[str] = []
    (shipped,) = base()
    (over,) = parse_rules([{"id": "shipped", "severity": "low"}], "rules", problems, base=base())
    assert problems == []
    assert over.severity is Severity.LOW
    assert (over.title, over.match, over.any_of, over.allow, over.enabled, over.source, over.escalate) == (
        shipped.title, shipped.match, shipped.any_of, shipped.allow, False, "guardduty", False)


def test_an_override_changes_only_what_it_names() -> None:
    problems: list[str] = []
    (over,) = parse_rules([{"id": "shipped", "enabled": True, "title": "Renamed", "any_of": [],
                            "allow": {"principals": ["arn:*"]}, "escalate": True, "source": "cloudtrail",
                            "match": {"eventName": {"equals": "X"}}}], "rules", problems, base=base())
    assert problems == []
    assert (over.severity, over.enabled, over.title, over.any_of, over.escalate, over.source) == (
        Severity.CRITICAL, True, "Renamed", (), True, "cloudtrail")
    assert over.allow == AllowList(principals=("arn:*",)) and over.match == (Condition("eventName", "equals", ("X",)),)


def test_new_rules_get_the_documented_defaults() -> None:
    problems: list[str] = []
    (new,) = parse_rules([rule("new", "medium")], "rules", problems)
    assert problems == []
    assert (new.enabled, new.source, new.escalate, new.any_of, new.allow) == (True, "cloudtrail", True, (),
                                                                               AllowList())
    assert parse_rules(None, "rules", problems, base=base()) == base()


def test_new_rules_keep_file_order_after_the_shipped_ones() -> None:
    problems: list[str] = []
    out = parse_rules([rule("b", "low"), {"id": "shipped", "severity": "low"}, rule("a", "low")], "rules", problems,
                      base=base())
    assert problems == [] and [r.id for r in out] == ["shipped", "b", "a"]


@pytest.mark.parametrize(("spec", "expected"), [
    ({"id": "new", "title": "t", "severity": "high"}, "rules[0].match: is required for a new rule"),
    ({"id": "new", "title": "t", "severity": "high", "match": {}}, "rules[0].match: must be a mapping"),
    ({"id": "new", "title": "t", "severity": "high", "match": {"eventName": {"prefix": []}}},
     "rules[0].match: is required for a new rule"),  # a match whose only condition was refused
    ({"id": "new", "title": "t", "severity": "high", "any_of": [{"a": {"exists": True}}]},
     "rules[0].match: is required for a new rule"),
    ({"id": "new", "severity": "high", "match": {"a": {"exists": True}}}, "rules[0].title: must be a non-empty"),
    ({"id": "new", "title": "", "severity": "high", "match": {"a": {"exists": True}}}, "rules[0].title: must be"),
    ({"id": "new", "title": "t", "match": {"a": {"exists": True}}}, "rules[0].severity: None is not one of"),
    ({"id": "new", "title": "t", "severity": "urgent", "match": {"a": {"exists": True}}},
     "rules[0].severity: 'urgent' is not one of low, medium, high, critical"),
    ({"id": "new", "title": "t", "severity": "low", "enabled": "no", "match": {"a": {"exists": True}}},
     "rules[0].enabled: must be true or false"),
    ({"id": "new", "title": "t", "severity": "low", "escalate": "no", "match": {"a": {"exists": True}}},
     "rules[0].escalate: must be true or false"),
    ({"id": "new", "title": "t", "severity": "low", "source": "syslog", "match": {"a": {"exists": True}}},
     "rules[0].source: 'syslog' is not one of cloudtrail, guardduty"),
    ({"id": "new", "title": "t", "severity": "low", "any_of": {"a": 1}, "match": {"a": {"exists": True}}},
     "rules[0].any_of: must be a list of condition blocks"),
    ({"id": "", "title": "t"}, "rules[0].id: must be a non-empty string"),
    ({"id": 7, "title": "t"}, "rules[0].id: must be a non-empty string"),
])
def test_a_bad_rule_is_refused_naming_its_key(spec: dict[str, Any], expected: str) -> None:
    problems: list[str] = []
    out = parse_rules([spec], "rules", problems)
    assert any(p.startswith(expected) for p in problems), problems
    if "id" in expected:
        assert out == ()


def test_a_rule_without_match_is_refused_and_the_bad_values_fall_back_safely() -> None:
    problems: list[str] = []
    (r,) = parse_rules([{"id": "x", "title": "t", "severity": "urgent", "enabled": "no", "escalate": "no",
                         "source": "syslog", "match": {"a": {"exists": True}}}], "rules", problems)
    assert len(problems) == 4
    assert (r.severity, r.enabled, r.escalate, r.source) == (Severity.LOW, True, True, "cloudtrail")


def test_the_rules_list_itself_is_checked() -> None:
    problems: list[str] = []
    assert parse_rules({"id": "x"}, "rules", problems, base=base()) == base()
    assert problems == ["rules: must be a list of rules"]


@pytest.mark.parametrize(("spec", "expected"), [
    ({"a": "AccessDenied"}, "m.a: must have exactly one operator (equals, in, prefix, glob, not_glob, exists, "
                            "between)"),
    ({"a": {"equals": "x", "in": ["y"]}}, "m.a: must have exactly one operator"),
    ({"a": {"regex": ".*"}}, "m.a.regex: unknown operator (known: equals, in"),
    ({"a": {"exists": "yes"}}, "m.a.exists: must be true or false"),
    ({"a": {"between": [9, 7]}}, "m.a.between: must be [low, high] numbers with low < high"),
    ({"a": {"between": [7, 7]}}, "m.a.between: must be [low, high]"),
    ({"a": {"between": [7]}}, "m.a.between: must be [low, high]"),
    ({"a": {"between": [7, True]}}, "m.a.between: must be [low, high]"),
    ({"a": {"between": "7-9"}}, "m.a.between: must be [low, high]"),
    ({"a": {"equals": ["x", "y"]}}, "m.a.equals: must be one value (use in: for several)"),
    ({"a": {"in": {"x": 1}}}, "m.a.in: must be a string or a list of strings"),
    ({"a": {"in": [True]}}, "m.a.in: must be a string or a list of strings"),
    ({"a": {"prefix": True}}, "m.a.prefix: must be a string or a list of strings"),
    ([], "m: must be a mapping of field: {operator: value}"),
])
def test_a_bad_condition_is_refused_naming_its_key(spec: Any, expected: str) -> None:
    problems: list[str] = []
    assert parse_conditions(spec, "m", problems) == ()
    assert any(p.startswith(expected) for p in problems), problems


def test_condition_values_are_read_as_text() -> None:
    problems: list[str] = []
    conds = parse_conditions({"a": {"in": [1, 2.5, "x"]}, "b": {"equals": 7}, "c": {"between": [0.5, 8]}},
                             "m", problems)
    assert problems == []
    assert [c.values for c in conds] == [("1", "2.5", "x"), ("7",), ("0.5", "8")]


@pytest.mark.parametrize(("spec", "expected"), [
    ("10.0.0.0/8", "a: must be a mapping with principals, source_ips, accounts"),
    ({"ips": ["10.0.0.0/8"]}, "a.ips: unknown key (known: principals, source_ips, accounts)"),
    ({"source_ips": ["10.0.0.0/8", "ec2.amazonaws.com"]},
     "a.source_ips[1]: 'ec2.amazonaws.com' is not an IP range like 203.0.113.0/24"),
    ({"accounts": [{"id": 1}]}, "a.accounts: must be a string or a list of strings"),
    ({"principals": [None]}, "a.principals: must be a string or a list of strings"),
])
def test_a_bad_allow_list_is_refused_naming_its_key(spec: Any, expected: str) -> None:
    problems: list[str] = []
    parse_allow(spec, "a", problems)
    assert any(p.startswith(expected) for p in problems), problems


def test_allow_lists_parse_into_ranges_and_lists() -> None:
    problems: list[str] = []
    allow = parse_allow({"source_ips": ["10.61.88.1/16", "2001:db8::/32"], "accounts": 123456789012,
                         "principals": "arn:aws:iam::*:role/ci"}, "a", problems)
    assert problems == []
    assert allow == AllowList(principals=("arn:aws:iam::*:role/ci",), source_ips=nets("10.61.0.0/16", "2001:db8::/32"),
                              accounts=("123456789012",))
    assert parse_allow(None, "a", problems) == AllowList() and problems == []


def test_the_shipped_rules_parse_and_switch_nothing_off() -> None:
    rules = default_rules()
    assert len({r.id for r in rules}) == len(rules) and all(r.enabled and r.match for r in rules)


@pytest.mark.parametrize("rules", [
    # an override whose only condition names nothing: the shipped rule would match every CloudTrail event
    [{"id": "root-activity", "match": {"userIdentity.type": {"in": []}}}],
    # a new rule with an empty list beside another condition: the empty one was dropped, widening the rule
    [{"id": "new", "title": "t", "severity": "high",
      "match": {"eventName": {"in": []}, "errorCode": {"exists": True}}}],
    [{"id": "new", "title": "t", "severity": "high", "match": {"a": {"exists": True}},
      "any_of": [{"eventName": {"prefix": []}}]}],
])
def test_an_empty_value_list_is_refused_not_dropped(rules: list[dict[str, Any]]) -> None:
    """Found by mutation testing (issue 22 item 15): ``in: []`` used to vanish without a word."""
    with pytest.raises(ConfigError) as err:
        parse_security({"rules": rules})
    assert any("must name at least one value" in p for p in err.value.problems), err.value.problems


# ------------------------------------------------------------------------------------------ more survivors


@pytest.mark.parametrize("op", ["equals", "in"])
def test_equals_and_in_compare_text_not_patterns(op: str) -> None:
    assert not Condition("f", op, ("Access*",)).holds(["AccessDenied"])
    assert not Condition("f", op, ("[AB]",)).holds(["A"])
    assert Condition("f", op, ("Access*",)).holds(["Access*"])


def test_an_event_name_prefix_is_no_candidate_gate() -> None:
    """Only equals/in on eventName narrow the candidates; a prefix must still see every name it covers."""
    rules = parse_rules([{"id": "deletes", "title": "t", "severity": "high",
                          "match": {"eventName": {"prefix": "Delete"}}}], "rules", [])
    assert best_rule(rules, event(), {}, allow=AllowList())[0] is rules[0]
    negated = parse_rules([{"id": "not-x", "title": "t", "severity": "high",
                            "match": {"eventName": {"not_glob": "Describe*"}}}], "rules", [])
    assert best_rule(negated, event(), {}, allow=AllowList())[0] is negated[0]


def test_a_rules_list_changed_in_place_is_planned_afresh() -> None:
    rules = list(parse_rules([rule("low", "low")], "rules", []))
    assert best_rule(rules, event(), {}, allow=AllowList())[0].id == "low"  # type: ignore[union-attr]
    rules += parse_rules([rule("critical", "critical")], "rules", [])
    assert best_rule(rules, event(), {}, allow=AllowList())[0].id == "critical"  # type: ignore[union-attr]
    frozen = tuple(rules)
    for _ in range(2):  # a tuple's plan is remembered; asking twice gives the same answer
        assert best_rule(frozen, event(), {}, allow=AllowList())[0].id == "critical"  # type: ignore[union-attr]


def test_every_bad_condition_and_rule_is_reported_not_only_the_first() -> None:
    problems: list[str] = []
    conds = parse_conditions({"a": "bad", "b": {"regex": "x"}, "c": {"equals": "ok"}}, "m", problems)
    assert conds == (Condition("c", "equals", ("ok",)),)
    assert [p.split(":")[0] for p in problems] == ["m.a", "m.b.regex"]
    problems = []
    out = parse_rules(["nope", rule("a", "low"), rule("a", "low"), rule("b", "low")], "rules", problems)
    assert [r.id for r in out] == ["a", "b"]
    assert problems == ["rules[0]: must be a mapping", "rules[2].id: 'a' is defined twice"]


def test_between_bounds_must_be_numbers() -> None:
    problems: list[str] = []
    assert parse_conditions({"a": {"between": ["low", "high"]}}, "m", problems) == ()
    assert problems == ["m.a.between: must be [low, high] numbers with low < high"]


def test_problems_inside_a_rule_name_the_rule_path() -> None:
    problems: list[str] = []
    parse_rules([rule("x", "low", colour="red", any_of=[{"a": {"regex": "."}}],
                      allow={"ips": [], "source_ips": {"a": 1}})], "security.rules", problems)
    assert problems == [
        "security.rules[0].colour: unknown key (known: id, title, severity, enabled, match, any_of, allow, source, "
        "escalate)",
        "security.rules[0].any_of[0].a.regex: unknown operator (known: equals, in, prefix, glob, not_glob, exists, "
        "between)",
        "security.rules[0].allow.ips: unknown key (known: principals, source_ips, accounts)",
        "security.rules[0].allow.source_ips: must be a string or a list of strings",
    ]


def test_rule_matches_needs_every_match_condition() -> None:
    (r,) = parse_rules([rule("denied", "high")], "rules", [])
    assert rule_matches(r, event(), {})
    assert not rule_matches(r, event(errorCode="Throttling"), {})
    assert not rule_matches(r, event(errorCode="Throttling"), {}, index={"errorCode": ["Throttling"]})


def test_a_rule_without_an_id_does_not_hide_the_rules_after_it() -> None:
    problems: list[str] = []
    out = parse_rules([{"title": "no id"}, rule("b", "low"), {"id": "c", "severity": "urgent"}], "rules", problems)
    assert [r.id for r in out] == ["b", "c"]
    assert problems[0] == "rules[0].id: must be a non-empty string"
    assert any(p.startswith("rules[2].severity:") for p in problems)


# ------------------------------------------------------------------- derived facts over a record read by path


@pytest.mark.parametrize(("derived", "want"), [
    ({}, "access-denied"),  # the sample's own errorCode
    ({"errorCode": "Throttling"}, None),  # a derived fact hides the record's value at its path
    ({"eventName": "StopLogging", "eventSource": "cloudtrail.amazonaws.com"}, "cloudtrail-tampering"),  # the gate too
    ({"eventName": "StopLogging"}, "access-denied"),  # gated in, but eventSource is still the record's
    ({"userIdentity.type": "Root"}, "root-activity"),  # a two-part path
])
def test_derived_facts_stand_in_for_the_record_at_their_path(derived: dict[str, str], want: str | None) -> None:
    e = event()
    assert (e.doc is not None) is (FORM["now"] == "doc")  # read by path (issue 27 item 5), or flattened
    got, _ = best_rule(default_rules(), e, derived, allow=AllowList())
    assert (got.id if got else None) == want
    every = [r for r in default_rules() if rule_matches(r, e, derived)]
    assert (max(every, key=lambda r: r.severity.rank).id if every else None) == want
