"""Issue 27 item 5, second round: a CloudTrail record is read by path instead of flattened per record, and the
normaliser builds its event in one pass. Each fast piece is compared with the straightforward one it replaces:

- ``values_at`` / ``values_under`` with ``flatten`` filtered by path (published records and generated documents,
  including keys that hold dots, deep nesting, long lists and long values);
- ``parse_record`` with the implementation before the change (kept below as ``reference_record``);
- the security worker's derived ``bot.own_resource`` and its classification with those of the flattened event;
- each compiled condition (sets, one regex per glob list) with ``Condition.holds``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import fields as dataclass_fields
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.alerts.model import SecurityEvent
from bot.alerts.normalize import (
    _MAX_FIELD,
    GITHUB_OIDC_HOST,
    _get,
    _principal,
    _s,
    flatten,
    github_context,
    parse_events,
    parse_record,
    parse_time,
)
from bot.alerts.paths import values_at, values_under
from bot.alerts.rules import Condition, _test
from bot.alerts.worker import SecurityWorker
from bot.store.store import Store
from tests.security.conftest import make_config

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "cloudtrail"


def records() -> list[dict[str, Any]]:
    out = []
    for p in sorted(FIXTURES.glob("*.json")):
        doc = json.loads(p.read_text(encoding="utf-8"))
        out.extend(doc.get("Records", [doc]))
    return out


def flat(doc: Any, path: str) -> Counter[str]:
    return Counter(v for k, v in flatten(doc) if k == path)


# keys from a small alphabet with dots, so that "a.b" and {"a": {"b": ...}} meet at the same path
keys = st.text(alphabet="ab.", max_size=3)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=3),
                    st.just("x" * (_MAX_FIELD + 1)), st.just("y" * _MAX_FIELD))
documents = st.dictionaries(keys, st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=55), st.dictionaries(keys, inner, max_size=4)), max_leaves=60), max_size=5)
paths = st.lists(st.sampled_from(["a", "b", "", "ab", "a.b", "ba"]), min_size=1, max_size=7).map(".".join)


@settings(max_examples=400, deadline=None)
@given(documents, st.lists(paths, max_size=5))
def test_values_at_holds_the_flattened_values_of_its_path(doc: dict[str, Any], extra: list[str]) -> None:
    for path in {k for k, _ in flatten(doc)} | set(extra):
        assert Counter(values_at(doc, path)) == flat(doc, path), path


@settings(max_examples=300, deadline=None)
@given(documents, st.sampled_from(["a", "b", "ab", ""]))
def test_values_under_holds_the_flattened_values_below_a_key(doc: dict[str, Any], head: str) -> None:
    want = Counter(v for k, v in flatten(doc) if k.startswith(head + "."))
    assert Counter(values_under(doc, head)) == want


def test_values_at_on_published_records() -> None:
    for record in records():
        pairs = flatten(record)
        for path in {k for k, _ in pairs} | {"userIdentity", "nope", "userIdentity.nope", "a..b"}:
            assert values_at(record, path) == [v for k, v in pairs if k == path], path  # and in record order
        assert values_under(record, "requestParameters") == [
            v for k, v in pairs if k.startswith("requestParameters.")]


def test_values_under_takes_one_key() -> None:
    with pytest.raises(ValueError, match="one key"):
        values_under({}, "a.b")


def reference_record(record: dict[str, Any], *, account: str = "", region: str = "") -> SecurityEvent:
    """parse_record before issue 27 item 5's second round (after its _check_record)."""
    event_id = _s(record.get("eventID"))
    ui = record.get("userIdentity")
    ui = ui if isinstance(ui, dict) else {}
    acct = _s(record.get("recipientAccountId")) or _s(ui.get("accountId")) or account
    params = record.get("requestParameters")
    params = params if isinstance(params, dict) else {}
    ptype = _s(ui.get("type"))
    arn = _s(ui.get("arn"))
    issuer = _s(_get(ui, "sessionContext", "sessionIssuer", "arn"))
    session = ""
    if ptype == "AssumedRole" and "/" in arn:
        session = arn.rsplit("/", 1)[-1]
    if record.get("eventName") in ("AssumeRole", "AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"):
        session = _s(params.get("roleSessionName")) or session
        issuer = issuer or _s(params.get("roleArn"))
    subject = ""
    if ptype == "WebIdentityUser" and GITHUB_OIDC_HOST in _s(ui.get("identityProvider")):
        subject = _s(ui.get("userName"))
    mfa = _s(_get(record, "additionalEventData", "MFAUsed")).lower()
    if mfa not in ("yes", "no"):
        attr = _s(_get(ui, "sessionContext", "attributes", "mfaAuthenticated")).lower()
        mfa = {"true": "yes", "false": "no"}.get(attr, "")
    return SecurityEvent(
        event_id=event_id[:200], event_time=parse_time(record["eventTime"]), event_source=_s(record.get("eventSource")),
        event_name=_s(record.get("eventName")), event_type=_s(record.get("eventType")), account=acct,
        region=_s(record.get("awsRegion")) or region, source_ip=_s(record.get("sourceIPAddress")),
        user_agent=_s(record.get("userAgent"))[:300], error_code=_s(record.get("errorCode")),
        error_message=_s(record.get("errorMessage"))[:500], principal_arn=_principal(ui, acct), principal_type=ptype,
        session_issuer=issuer, session_name=session, mfa_used=mfa, github=github_context(subject, session),
        fields=tuple(flatten(record)),
    )


def same_event(got: SecurityEvent, want: SecurityEvent, record: dict[str, Any]) -> None:
    assert got.to_dict() == want.to_dict()  # every field but fields and doc
    assert got.doc is record and got.fields == () and got.all_fields() == want.fields


identity = st.fixed_dictionaries({}, optional={
    "type": st.sampled_from(["AssumedRole", "IAMUser", "Root", "WebIdentityUser", "AWSService", "", 7]),
    "arn": st.sampled_from(["", "arn:aws:sts::1:assumed-role/r/gha-123-2", "arn:aws:iam::1:user/u", None]),
    "accountId": st.sampled_from(["1", "", 2]), "userName": st.sampled_from(["u", "repo:acme/app:ref:refs/x", ""]),
    "identityProvider": st.sampled_from([GITHUB_OIDC_HOST, "cognito", ""]), "principalId": st.just("AID"),
    "invokedBy": st.just("lambda.amazonaws.com"),
    "sessionContext": st.one_of(st.none(), st.just("x"), st.fixed_dictionaries({}, optional={
        "sessionIssuer": st.one_of(st.just({"arn": "arn:aws:iam::1:role/r"}), st.just("x")),
        "attributes": st.fixed_dictionaries({"mfaAuthenticated": st.sampled_from(["true", "false", True, "x"])})})),
})
generated_records = st.fixed_dictionaries({
    "eventID": st.sampled_from(["e1", "x" * 300, 5]), "eventTime": st.just("2024-05-01T10:00:00Z"),
    "eventSource": st.just("sts.amazonaws.com"),
    "eventName": st.sampled_from(["AssumeRole", "AssumeRoleWithWebIdentity", "ConsoleLogin", "GetObject"]),
}, optional={
    "userIdentity": st.one_of(identity, st.just("not an object")),
    "recipientAccountId": st.sampled_from(["", "111122223333", 5]), "awsRegion": st.sampled_from(["", "eu-west-1"]),
    "userAgent": st.sampled_from(["a" * 400, "cli"]), "errorMessage": st.sampled_from(["m" * 600, None, True]),
    "errorCode": st.sampled_from(["AccessDenied", None]), "sourceIPAddress": st.just("192.0.2.1"),
    "requestParameters": st.one_of(st.just([]), st.fixed_dictionaries({}, optional={
        "roleSessionName": st.sampled_from(["gha-42-1", "", 3]), "roleArn": st.just("arn:aws:iam::1:role/x")})),
    "additionalEventData": st.one_of(st.just("x"), st.fixed_dictionaries({"MFAUsed": st.sampled_from(
        ["Yes", "No", "", None])})),
    "eventType": st.just("AwsApiCall"),
})


@settings(max_examples=300, deadline=None)
@given(generated_records, st.sampled_from(["", "999"]), st.sampled_from(["", "ap-south-1"]))
def test_parse_record_builds_the_event_the_reference_built(record: dict[str, Any], account: str,
                                                           region: str) -> None:
    same_event(parse_record(record, account=account, region=region),
               reference_record(record, account=account, region=region), record)


def test_parse_record_on_published_records() -> None:
    for record in records():
        same_event(parse_record(record), reference_record(record), record)
        (event,), _ = parse_events(record)
        same_event(event, reference_record(record), record)


def test_event_of_is_the_constructor() -> None:
    want = reference_record(records()[0])
    values = tuple(getattr(want, f.name) for f in dataclass_fields(SecurityEvent))
    assert SecurityEvent.of(values) == want and SecurityEvent.of(values).fields == want.fields != ()
    with pytest.raises(TypeError, match="takes"):
        SecurityEvent.of(values[:-1])
    with pytest.raises(AttributeError):  # still frozen
        SecurityEvent.of(values).event_id = "x"  # type: ignore[misc]


def test_the_record_is_not_stored_with_the_event() -> None:
    e = parse_record(records()[0])
    data = e.to_dict()
    assert "doc" not in data and "fields" not in data
    assert SecurityEvent.from_dict(json.loads(json.dumps(data))) == e


@pytest.mark.parametrize("own", [["arn:aws:lambda:*:function:chatops-bot*"], ["*"], ["nothing"]])
def test_worker_reads_own_resources_and_classifies_as_from_the_flattened_record(own: list[str]) -> None:
    worker = SecurityWorker(Store(None), make_config(own_resources=own))  # type: ignore[arg-type]  # no DB
    for record in records():
        (lazy,), _ = parse_events(record)
        flattened = replace(lazy, fields=tuple(flatten(record)), doc=None)
        assert worker.derived(lazy) == worker.derived(flattened)
        assert worker.classify(lazy) == worker.classify(flattened)


texts = st.text(alphabet="aZ*?[]!.-", max_size=6)


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(["equals", "in", "prefix", "glob", "not_glob"]), st.lists(texts, min_size=1, max_size=3),
       st.lists(texts, max_size=4))
def test_compiled_conditions_answer_as_condition_holds(op: str, patterns: list[str], values: list[str]) -> None:
    c = Condition("p", op, tuple(patterns[:1] if op == "equals" else patterns))
    assert _test(c)(values) == c.holds(values)
