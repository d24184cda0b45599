"""parse_*: EventBridge envelopes, raw CloudTrail records and CloudTrail log files -> SecurityEvent (the other AWS
alert sources, GuardDuty, Security Hub, CloudWatch alarms and Health, are parsed in bot/alerts/sources.py)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bot.alerts.model import GitHubContext, SecurityEvent

CLOUDTRAIL_DETAIL_TYPES = frozenset({
    "AWS API Call via CloudTrail",
    "AWS Console Sign In via CloudTrail",
    "AWS Service Event via CloudTrail",
})
GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
_GHA_SESSION = re.compile(r"^gha-(\d{1,20})-(\d{1,5})$")
_SUBJECT = re.compile(r"^repo:([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+):(.*)$")
_MAX_RECORDS = 10_000
_MAX_FIELD = 2_000


class NotCloudTrail(ValueError):
    """The payload is not (or does not contain) a usable CloudTrail record. ``str(exc)`` is the reason."""


def parse_payload(obj: Any) -> list[tuple[dict[str, Any], str, str]]:
    """Return ``(record, fallback_account, fallback_region)`` for each CloudTrail record in ``obj``.

    Accepts an EventBridge event whose detail-type is a CloudTrail one, a raw CloudTrail record, or a
    CloudTrail log file ``{"Records": [...]}``. Raises NotCloudTrail with a reason otherwise.
    """
    if not isinstance(obj, dict):
        raise NotCloudTrail("expected a JSON object")
    if "detail-type" in obj:
        dtype = obj.get("detail-type")
        if dtype in _source_types():  # GuardDuty, Security Hub, CloudWatch alarms, Health: no CloudTrail record
            return []
        if dtype not in CLOUDTRAIL_DETAIL_TYPES:
            raise NotCloudTrail(f"detail-type {str(dtype)[:80]!r} is not a CloudTrail event")
        detail = obj.get("detail")
        if not isinstance(detail, dict):
            raise NotCloudTrail("detail is missing or not an object")
        _check_record(detail)
        return [(detail, str(obj.get("account", "")), str(obj.get("region", "")))]
    if "Records" in obj:
        records = obj["Records"]
        if not isinstance(records, list) or not records:
            raise NotCloudTrail("Records must be a non-empty list")
        if len(records) > _MAX_RECORDS:
            raise NotCloudTrail(f"more than {_MAX_RECORDS} records in one log file")
        out = []
        for r in records:
            if not isinstance(r, dict):
                raise NotCloudTrail("every item of Records must be an object")
            _check_record(r)
            out.append((r, "", ""))
        return out
    _check_record(obj)
    return [(obj, "", "")]


def _check_record(r: dict[str, Any]) -> None:
    # both keys written out (no loop): this runs for every CloudTrail record (issue 27 item 5)
    name, source = r.get("eventName"), r.get("eventSource")
    if not isinstance(name, str) or not name:
        raise NotCloudTrail("not a CloudTrail record: eventName is missing")
    if not isinstance(source, str) or not source:
        raise NotCloudTrail("not a CloudTrail record: eventSource is missing")


def parse_time(text: str) -> float:
    value = text.strip().replace("Z", "+00:00")
    try:
        dt = datetime.fromisoformat(value)
    except ValueError as exc:
        raise NotCloudTrail(f"eventTime {text[:40]!r} is not a timestamp") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def _s(value: Any) -> str:
    if type(value) is str:  # most CloudTrail values: nothing to convert
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _get(d: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(d, dict):
            return None
        d = d.get(p)
    return d


def flatten(obj: Any, prefix: str = "", depth: int = 0) -> list[tuple[str, str]]:
    """Scalar values by dotted path; list items share their list's path (``resources.ARN``). Nesting deeper than
    5 levels, list items after the 50th and values longer than 2,000 characters are left out."""
    out: list[tuple[str, str]] = []
    if depth <= 5:
        _flatten(obj, prefix, depth, out.append)
    return out


def _flatten(obj: Any, prefix: str, depth: int, add: Callable[[tuple[str, str]], None]) -> None:
    # one call per container (not per value): this runs for every field of every CloudTrail record (issue 27.5)
    deeper = depth + 1
    if isinstance(obj, dict):
        for k, v in obj.items():
            path = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, str):
                if deeper <= 5 and len(v) <= _MAX_FIELD:
                    add((path, v))
            elif isinstance(v, dict | list):
                if deeper <= 5:
                    _flatten(v, path, deeper, add)
            elif v is not None and deeper <= 5:
                _leaf(v, path, add)
    elif isinstance(obj, list):
        for item in obj[:50]:
            if isinstance(item, dict | list):
                if deeper <= 5:
                    _flatten(item, prefix, deeper, add)
            elif item is not None and deeper <= 5:
                _leaf(item, prefix, add)
    elif obj is not None:
        _leaf(obj, prefix, add)


def _leaf(value: Any, path: str, add: Callable[[tuple[str, str]], None]) -> None:
    text = _s(value)
    if len(text) <= _MAX_FIELD:
        add((path, text))


_NO_GITHUB = GitHubContext()


def github_context(subject: str, session_name: str) -> GitHubContext:
    if not subject and not session_name:  # most records: no OIDC subject, no role session (frozen: shared)
        return _NO_GITHUB
    repo = ref = run_id = attempt = ""
    m = _SUBJECT.match(subject)
    if m:
        repo, rest = m.group(1), m.group(2)
        # a customised template (repo, context, job_workflow_ref) appends the workflow file: the ref shown is the
        # context's (the full subject stays in `subject`)
        rest = rest.partition(":job_workflow_ref:")[0]
        kind, _, value = rest.partition(":")
        ref = value if kind == "ref" else rest
    s = _GHA_SESSION.match(session_name)
    if s:
        run_id, attempt = s.group(1), s.group(2)
    return GitHubContext(repository=repo, ref=ref, run_id=run_id, run_attempt=attempt, subject=subject)


def _principal(ui: dict[str, Any], account: str) -> str:
    arn = _s(ui.get("arn"))
    if arn:
        return arn
    ptype = _s(ui.get("type"))
    acct = _s(ui.get("accountId")) or account
    if ptype == "Root":
        return f"arn:aws:iam::{acct}:root"
    if ptype == "IAMUser" and ui.get("userName"):
        return f"arn:aws:iam::{acct}:user/{_s(ui.get('userName'))}"
    if ptype == "WebIdentityUser":
        provider = _s(ui.get("identityProvider"))
        return f"{provider}:{_s(ui.get('userName'))}" if provider else _s(ui.get("principalId"))
    if ptype == "AWSService":
        return _s(ui.get("invokedBy")) or "aws-service"
    pid = _s(ui.get("principalId"))
    return f"{ptype or 'unknown'}:{acct}:{pid}" if pid or acct else "unknown"


_TOP = ("eventID", "eventSource", "eventName", "eventType", "recipientAccountId", "awsRegion", "sourceIPAddress",
        "userAgent", "errorCode", "errorMessage")
_ASSUME = frozenset({"AssumeRole", "AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"})


def parse_record(record: dict[str, Any], *, account: str = "", region: str = "") -> SecurityEvent:
    """One CloudTrail record -> SecurityEvent. Raises NotCloudTrail when it lacks what we need."""
    _check_record(record)
    return _event(record, account, region)


def _event(record: dict[str, Any], account: str, region: str) -> SecurityEvent:
    # parse_record after _check_record (parse_payload has checked every record it returns). Every step is inline
    # (_texts, _get): this runs for every CloudTrail record (issue 27 item 5; the same event as before:
    # tests/security/test_rules_by_path.py compares it with the first implementation)
    event_id, source, name, etype, recipient, aws_region, ip, agent, error, message = [
        v if type(v) is str else _s(v) for v in map(record.get, _TOP)]
    if not event_id:
        raise NotCloudTrail("eventID is missing")
    event_time = record.get("eventTime")
    if not isinstance(event_time, str):
        raise NotCloudTrail("eventTime is missing")
    ui = record.get("userIdentity")
    ui = ui if isinstance(ui, dict) else _NO_IDENTITY
    ptype, arn = [v if type(v) is str else _s(v) for v in map(ui.get, _IDENTITY)]
    acct = recipient or _s(ui.get("accountId")) or account
    context = ui.get("sessionContext")
    issuer = ""
    if isinstance(context, dict):
        issuer_doc = context.get("sessionIssuer")
        if isinstance(issuer_doc, dict):
            issuer = _s(issuer_doc.get("arn"))
    session = ""
    if ptype == "AssumedRole" and "/" in arn:
        session = arn.rsplit("/", 1)[-1]
    if name in _ASSUME:
        params = record.get("requestParameters")
        params = params if isinstance(params, dict) else {}
        session = _s(params.get("roleSessionName")) or session
        issuer = issuer or _s(params.get("roleArn"))
    subject = ""
    if ptype == "WebIdentityUser" and GITHUB_OIDC_HOST in _s(ui.get("identityProvider")):
        subject = _s(ui.get("userName"))
    extra = record.get("additionalEventData")
    mfa = _s(extra.get("MFAUsed")).lower() if isinstance(extra, dict) else ""
    if mfa not in ("yes", "no"):
        attributes = context.get("attributes") if isinstance(context, dict) else None
        attr = _s(attributes.get("mfaAuthenticated")).lower() if isinstance(attributes, dict) else ""
        mfa = _MFA.get(attr, "")
    return SecurityEvent.of((
        event_id[:200], parse_time(event_time), source, name, etype, acct, aws_region or region, ip, agent[:300],
        error, message[:500], arn or _principal(ui, acct), ptype, issuer, session, mfa,
        github_context(subject, session) if subject or session else _NO_GITHUB, (), "cloudtrail", "",
        record,  # doc: rules read it by path (bot/alerts/paths.py), it is not flattened per record
    ))


_IDENTITY = ("type", "arn")
_NO_IDENTITY: dict[str, Any] = {}  # read only


_MFA = {"true": "yes", "false": "no"}


_SOURCE_TYPES: frozenset[str] = frozenset()


def _source_types() -> frozenset[str]:
    global _SOURCE_TYPES
    if not _SOURCE_TYPES:
        from bot.alerts.sources import DETAIL_TYPES  # sources builds on this module's helpers

        _SOURCE_TYPES = frozenset(DETAIL_TYPES)
    return _SOURCE_TYPES


def inbox_key(obj: dict[str, Any], records: list[tuple[dict[str, Any], str, str]]) -> str:
    """The inbox key of one checked payload (``records`` from check_payload), the same whichever way it came: the
    API destination, the SQS target, or the delivery dead-letter queue, which holds the event as it was (same
    ``id``). So a late copy of an event already recorded records nothing (issue 24 item 3)."""
    key = str(obj.get("id") or "") or "|".join(str(r.get("eventID", "")) for r, _, _ in records)
    return f"eventbridge:{key}"


def check_payload(obj: Any) -> list[tuple[dict[str, Any], str, str]]:
    """``parse_payload`` plus the shape check of a non-CloudTrail source event (raises NotCloudTrail)."""
    records = parse_payload(obj)
    if not records:
        from bot.alerts.sources import NotAnAlertSource, check_source_event

        try:
            check_source_event(obj)
        except NotAnAlertSource as exc:
            raise NotCloudTrail(str(exc)) from exc
    return records


def parse_events(obj: Any) -> tuple[list[SecurityEvent], list[str]]:
    """Every usable record in a payload, plus a reason for each record that was skipped."""
    if isinstance(obj, dict) and obj.get("detail-type") in (_SOURCE_TYPES or _source_types()):
        from bot.alerts.sources import NotAnAlertSource, parse_source_event

        try:
            return parse_source_event(obj), []
        except NotAnAlertSource as exc:
            raise NotCloudTrail(str(exc)) from exc
    events: list[SecurityEvent] = []
    skipped: list[str] = []
    for record, account, region in parse_payload(obj):
        try:
            events.append(_event(record, account, region))
        except NotCloudTrail as exc:
            skipped.append(str(exc))
    return events, skipped
