"""parse_*: AWS alert sources besides CloudTrail (issue 25 item 6), each EventBridge event -> SecurityEvent(s).

GuardDuty findings, Security Hub findings (ASFF), CloudWatch alarm state changes and AWS Health events are
normalized into the same ``SecurityEvent`` as CloudTrail records, so rules, allow-lists, folding, cards and
escalation treat them alike. ``fields`` holds the event's ``detail`` by dotted path (a Security Hub finding
under ``findings.``), which is also the path an EventBridge pattern names (``bot/alerts/patterns.py``).

Who/what for each source ("principal" is the resource the alert is about, so repeated findings on one resource
share a card): GuardDuty: the affected resource; Security Hub: the finding's first resource; CloudWatch: the alarm
ARN; Health: the first affected entity, else the event ARN.
"""

from __future__ import annotations

from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any

from bot.alerts.model import SecurityEvent
from bot.alerts.normalize import NotCloudTrail, _get, _s, flatten, parse_time

# detail-type -> (source kind, EventBridge source): the one list of what the bot accepts besides CloudTrail
DETAIL_TYPES: dict[str, tuple[str, str]] = {
    "GuardDuty Finding": ("guardduty", "aws.guardduty"),
    "Security Hub Findings - Imported": ("securityhub", "aws.securityhub"),
    "CloudWatch Alarm State Change": ("cloudwatch", "aws.cloudwatch"),
    "AWS Health Event": ("health", "aws.health"),
}
KINDS = ("cloudtrail", *(kind for kind, _ in DETAIL_TYPES.values()))
_MAX_TEXT = 500


class NotAnAlertSource(ValueError):
    """The event is not a usable event of a known source. ``str(exc)`` is the reason."""


def _time(text: str, fallback: float) -> float:
    if not text:
        return fallback
    try:
        return parse_time(text.replace("+0000", "+00:00"))
    except NotCloudTrail:
        try:
            return parsedate_to_datetime(text).timestamp()  # Health: "Sat, 05 Jun 2016 15:10:09 GMT"
        except (TypeError, ValueError):
            return fallback


def _first_ip(fields: tuple[tuple[str, str], ...]) -> str:
    return next((v for k, v in fields if k.endswith("remoteIpDetails.ipAddressV4")), "")


def _guardduty(env: dict[str, Any], d: dict[str, Any], base: dict[str, Any]) -> list[SecurityEvent]:
    fid = _s(d.get("id"))
    if not fid or not d.get("type"):
        raise NotAnAlertSource("a GuardDuty finding needs id and type")
    acct, region = _s(d.get("accountId")) or base["account"], _s(d.get("region")) or base["region"]
    raw = d.get("resource")
    res: dict[str, Any] = raw if isinstance(raw, dict) else {}
    instance, user = _s(_get(res, "instanceDetails", "instanceId")), _s(_get(res, "accessKeyDetails", "userName"))
    principal = (f"arn:aws:ec2:{region}:{acct}:instance/{instance}" if instance else
                 f"arn:aws:iam::{acct}:user/{user}" if user else _s(res.get("resourceType")) or "unknown")
    fields = tuple(flatten(d))
    return [SecurityEvent(
        event_id=f"guardduty:{fid}:{_s(d.get('updatedAt'))}"[:200],
        event_time=_time(_s(d.get("updatedAt")), base["time"]), event_source="guardduty.amazonaws.com",
        event_name=_s(d.get("type")), event_type="GuardDuty Finding", account=acct, region=region,
        source_ip=_first_ip(fields), user_agent="", error_code="", error_message=_s(d.get("description"))[:_MAX_TEXT],
        principal_arn=principal, principal_type=_s(res.get("resourceType")), session_issuer="", session_name="",
        mfa_used="", fields=fields, source_kind="guardduty", summary=_s(d.get("title"))[:_MAX_TEXT],
    )]


def _securityhub(env: dict[str, Any], d: dict[str, Any], base: dict[str, Any]) -> list[SecurityEvent]:
    findings = d.get("findings")
    if not isinstance(findings, list) or not findings:
        raise NotAnAlertSource("a Security Hub event needs a non-empty findings list")
    out: list[SecurityEvent] = []
    for f in findings[:100]:
        if not isinstance(f, dict) or not f.get("Id"):
            raise NotAnAlertSource("every Security Hub finding needs an Id")
        resources = f.get("Resources") if isinstance(f.get("Resources"), list) else []
        first = resources[0] if resources and isinstance(resources[0], dict) else {}
        fields = tuple(flatten({"findings": f}))
        out.append(SecurityEvent(
            event_id=f"securityhub:{_s(f.get('Id'))}:{_s(f.get('UpdatedAt'))}"[:200],
            event_time=_time(_s(f.get("UpdatedAt")), base["time"]), event_source="securityhub.amazonaws.com",
            event_name=_s(_get(f, "ProductFields", "ControlId")) or _s(f.get("GeneratorId"))[:200],
            event_type="Security Hub Finding", account=_s(f.get("AwsAccountId")) or base["account"],
            region=_s(f.get("Region")) or base["region"], source_ip=_first_ip(fields), user_agent="", error_code="",
            error_message=_s(f.get("Description"))[:_MAX_TEXT], principal_arn=_s(first.get("Id")) or "unknown",
            principal_type=_s(first.get("Type")), session_issuer="", session_name="", mfa_used="", fields=fields,
            source_kind="securityhub", summary=_s(f.get("Title"))[:_MAX_TEXT],
        ))
    return out


def _cloudwatch(env: dict[str, Any], d: dict[str, Any], base: dict[str, Any]) -> list[SecurityEvent]:
    name, state = _s(d.get("alarmName")), _s(_get(d, "state", "value"))
    if not name or not state:
        raise NotAnAlertSource("an alarm state change needs alarmName and state.value")
    resources = env.get("resources") if isinstance(env.get("resources"), list) else []
    arn = _s(resources[0]) if resources else f"alarm:{name}"
    stamp = _s(_get(d, "state", "timestamp"))
    return [SecurityEvent(
        event_id=f"cloudwatch:{arn}:{state}:{stamp}"[:200], event_time=_time(stamp, base["time"]),
        event_source="monitoring.amazonaws.com", event_name=name, event_type="CloudWatch Alarm State Change",
        account=base["account"], region=base["region"], source_ip="", user_agent="", error_code="",
        error_message=_s(_get(d, "state", "reason"))[:_MAX_TEXT], principal_arn=arn, principal_type="CloudWatchAlarm",
        session_issuer="", session_name="", mfa_used="", fields=tuple(flatten(d)), source_kind="cloudwatch",
        summary=f"{name}: {state} (was {_s(_get(d, 'previousState', 'value')) or 'unknown'})"[:_MAX_TEXT],
    )]


def _health(env: dict[str, Any], d: dict[str, Any], base: dict[str, Any]) -> list[SecurityEvent]:
    arn, code = _s(d.get("eventArn")), _s(d.get("eventTypeCode"))
    if not arn or not code:
        raise NotAnAlertSource("a Health event needs eventArn and eventTypeCode")
    entities = d.get("affectedEntities") if isinstance(d.get("affectedEntities"), list) else []
    entity = _s(_get(entities[0], "entityValue")) if entities else ""
    descs = d.get("eventDescription") if isinstance(d.get("eventDescription"), list) else []
    text = _s(_get(descs[0], "latestDescription")) if descs else ""
    stamp = _s(d.get("lastUpdatedTime")) or _s(d.get("startTime"))
    return [SecurityEvent(
        event_id=f"health:{arn}:{_s(d.get('statusCode'))}:{stamp}"[:200], event_time=_time(stamp, base["time"]),
        event_source="health.amazonaws.com", event_name=code, event_type="AWS Health Event",
        account=_s(d.get("affectedAccount")) or base["account"], region=_s(d.get("eventRegion")) or base["region"],
        source_ip="", user_agent="", error_code="", error_message=text[:_MAX_TEXT], principal_arn=entity or arn,
        principal_type=_s(d.get("service")), session_issuer="", session_name="", mfa_used="",
        fields=tuple(flatten(d)), source_kind="health",
        summary=f"{_s(d.get('service'))} {_s(d.get('eventTypeCategory'))}: {code}"[:_MAX_TEXT],
    )]


_PARSERS: dict[str, Callable[[dict[str, Any], dict[str, Any], dict[str, Any]], list[SecurityEvent]]] = {
    "guardduty": _guardduty, "securityhub": _securityhub, "cloudwatch": _cloudwatch, "health": _health,
}


def check_source_event(env: dict[str, Any]) -> str:
    """The source kind of an EventBridge event of a known non-CloudTrail detail-type; raises with a reason."""
    kind, source = DETAIL_TYPES[str(env.get("detail-type"))]
    if env.get("source") != source:
        raise NotAnAlertSource(f"source {str(env.get('source'))[:40]!r} does not send {env.get('detail-type')!r}")
    if not isinstance(env.get("detail"), dict):
        raise NotAnAlertSource("detail is missing or not an object")
    return kind


def parse_source_event(env: dict[str, Any]) -> list[SecurityEvent]:
    """One EventBridge event of a known non-CloudTrail source -> its SecurityEvent(s)."""
    kind = check_source_event(env)
    try:
        when = parse_time(_s(env.get("time")))
    except NotCloudTrail:
        when = 0.0
    base = {"account": _s(env.get("account")), "region": _s(env.get("region")), "time": when}
    return _PARSERS[kind](env, env["detail"], base)
