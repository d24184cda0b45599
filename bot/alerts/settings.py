"""The ``security:`` section of the config, validated into a frozen value. Every problem names its key path."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot import config_model as model
from bot.alerts.rule_config import default_rules, parse_allow, parse_rules
from bot.alerts.rules import AllowList, Rule
from bot.config import Config, parse_duration
from bot.errors import ConfigError

DEFAULT_CERT_HOST = r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$"
_TOP = model.keys(model.Security)
_SNS = model.keys(model.Sns)
_SQS = model.keys(model.Sqs)
_LOCAL = ("https://", "http://127.0.0.1", "http://localhost")
_TOPIC = re.compile(model.SNS_TOPIC)


@dataclass(frozen=True, slots=True)
class SqsSettings:
    queue_url: str = ""
    region: str = ""
    max_receives: int = 5
    dead_letter_queue_url: str = ""  # "" = delete poison messages, with an audit entry
    wait_seconds: int = 20
    visibility_timeout: int = 60
    # the security-events module's dead_letter_queue_url: events EventBridge (API destination) or SNS (HTTPS
    # subscription) gave up delivering; drained like queue_url ("" = not drained)
    delivery_dlq_url: str = ""

    def drained(self) -> tuple[str, ...]:
        """The queues the bot polls: the target queue and the delivery dead-letter queue, as configured."""
        return tuple(u for u in (self.queue_url, self.delivery_dlq_url) if u)


@dataclass(frozen=True, slots=True)
class SecuritySettings:
    enabled: bool = True
    window_s: int = 3600  # sliding window that groups events into one alert
    card_update_interval_s: float = 1.0  # at most one card update per alert per interval
    sns_topics: tuple[str, ...] = ()
    cert_host_pattern: str = DEFAULT_CERT_HOST
    sqs: SqsSettings = field(default_factory=SqsSettings)
    github_allowed_subjects: tuple[str, ...] = ()  # glob patterns like repo:acme/app:*
    own_resources: tuple[str, ...] = ()  # glob patterns over ARNs / names the bot owns
    allow: AllowList = field(default_factory=AllowList)
    rules: tuple[Rule, ...] = ()
    responders: tuple[str, ...] = ()  # person keys (groups expanded) who may act on alerts; () = nobody
    subjects: tuple[tuple[str, str], ...] = ()  # (person key, principal glob): whom an alert is about
    fold_after: int = 10  # distinct principals per rule within the window before they fold into one card
    escalate_after_s: int = 300  # a high/critical alert still open this long is re-posted with a channel mention


def _strings(value: Any, path: str, problems: list[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        problems.append(f"{path}: must be a list of non-empty strings")
        return ()
    return tuple(value)


def _int(spec: dict[str, Any], key: str, path: str, problems: list[str], *, default: int, lo: int, hi: int) -> int:
    v = spec.get(key, default)
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        problems.append(f"{path}.{key}: must be a whole number from {lo} to {hi}")
        return default
    return v


def _mapping(value: Any, path: str, known: tuple[str, ...], problems: list[str]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append(f"{path}: must be a mapping")
        return {}
    for k in value:
        if k not in known:
            problems.append(f"{path}.{k}: unknown key (known: {', '.join(known)})")
    return value


def _people(value: Any, path: str, problems: list[str], *, people: Mapping[str, object] | None,
            groups: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    """A list of person keys and group names, expanded to person keys (checked when ``people`` is given)."""
    out: list[str] = []
    for i, name in enumerate(_strings(value, path, problems)):
        if name in groups:
            out.extend(groups[name])
        elif people is None or name in people:
            out.append(name)
        else:
            problems.append(f"{path}[{i}]: {name!r} is not a person or group in people / groups")
    return tuple(dict.fromkeys(out))


def _subjects(value: Any, problems: list[str], *, people: Mapping[str, object] | None) -> tuple[tuple[str, str], ...]:
    """``{person: [principal ARN globs]}``: which AWS principals are that person (besides name matching)."""
    if value is None:
        return ()
    if not isinstance(value, dict):
        problems.append("security.subjects: must be a mapping of person -> list of principal ARN patterns")
        return ()
    out: list[tuple[str, str]] = []
    for person, patterns in value.items():
        if people is not None and person not in people:
            problems.append(f"security.subjects.{person}: not a person in people")
        out.extend((str(person), p) for p in _strings(patterns, f"security.subjects.{person}", problems))
    return tuple(out)


def _sns(root: Mapping[str, Any], problems: list[str]) -> tuple[tuple[str, ...], str]:
    """``security.sns``: the topics whose notifications the bot accepts, and the signing-certificate host."""
    sns = _mapping(root.get("sns"), "security.sns", _SNS, problems)
    topics = _strings(sns.get("topics"), "security.sns.topics", problems)
    for i, t in enumerate(topics):
        if not _TOPIC.match(t):
            problems.append(f"security.sns.topics[{i}]: {t!r} is not an SNS topic ARN")
    pattern = sns.get("cert_host_pattern", DEFAULT_CERT_HOST)
    try:
        re.compile(str(pattern))
    except re.error as exc:
        problems.append(f"security.sns.cert_host_pattern: not a valid regular expression ({exc})")
        pattern = DEFAULT_CERT_HOST
    return topics, str(pattern)


def _sqs(root: Mapping[str, Any], problems: list[str]) -> SqsSettings:
    """``security.sqs``: the queue the bot drains, its dead-letter queues and the receive settings."""
    sq = _mapping(root.get("sqs"), "security.sqs", _SQS, problems)
    urls = {key: str(sq.get(key, "")) for key in ("queue_url", "dead_letter_queue_url", "delivery_dlq_url")}
    for key, url in urls.items():
        if url and not url.startswith(_LOCAL):
            problems.append(f"security.sqs.{key}: must be an https URL")
    queue_url, dlq, delivery_dlq = urls["queue_url"], urls["dead_letter_queue_url"], urls["delivery_dlq_url"]
    if dlq and dlq in (queue_url, delivery_dlq):  # poison moved aside would come straight back, forever
        problems.append("security.sqs.dead_letter_queue_url: must differ from the queues the bot drains "
                        "(queue_url, delivery_dlq_url)")
    if queue_url and queue_url == delivery_dlq:
        problems.append("security.sqs.delivery_dlq_url: must differ from queue_url")
    sqs = SqsSettings(
        queue_url=queue_url,
        region=str(sq.get("region", "")),
        max_receives=_int(sq, "max_receives", "security.sqs", problems, default=5, lo=1, hi=1000),
        dead_letter_queue_url=dlq,
        wait_seconds=_int(sq, "wait_seconds", "security.sqs", problems, default=20, lo=0, hi=20),
        visibility_timeout=_int(sq, "visibility_timeout", "security.sqs", problems, default=60, lo=0, hi=43200),
        delivery_dlq_url=delivery_dlq,
    )
    return sqs


def parse_security(data: Any, *, people: Mapping[str, object] | None = None,
                   groups: Mapping[str, tuple[str, ...]] | None = None) -> SecuritySettings:
    """Validate ``config.raw["security"]`` (None = defaults). Raises ConfigError listing every problem.
    With ``people`` / ``groups`` (from the config), responders and subjects are checked against them."""
    problems: list[str] = []
    root = _mapping(data, "security", _TOP, problems)
    enabled = root.get("enabled", True)
    if not isinstance(enabled, bool):
        problems.append("security.enabled: must be true or false")
        enabled = True
    window_s = 3600
    if "window" in root:
        try:
            window_s = parse_duration(str(root["window"]))
        except ValueError as exc:
            problems.append(f"security.window: {exc}")
    interval = root.get("card_update_interval", 1.0)
    if not isinstance(interval, int | float) or isinstance(interval, bool) or not 0 <= interval <= 3600:
        problems.append("security.card_update_interval: must be a number of seconds from 0 to 3600")
        interval = 1.0
    topics, pattern = _sns(root, problems)
    sqs = _sqs(root, problems)
    gh = _mapping(root.get("github_oidc"), "security.github_oidc", model.keys(model.GitHubOidc), problems)
    subjects = _strings(gh.get("allowed_subjects"), "security.github_oidc.allowed_subjects", problems)
    for i, s in enumerate(subjects):
        if not s.startswith("repo:"):
            problems.append(f"security.github_oidc.allowed_subjects[{i}]: {s!r} must start with repo:OWNER/REPO")
    own = _strings(root.get("own_resources"), "security.own_resources", problems)
    allow = parse_allow(root.get("allow"), "security.allow", problems)
    rules = parse_rules(root.get("rules"), "security.rules", problems, base=default_rules())
    responders = _people(root.get("responders"), "security.responders", problems, people=people,
                         groups=groups or {})
    subject_map = _subjects(root.get("subjects"), problems, people=people)
    fold_after = _int(root, "fold_after", "security", problems, default=10, lo=1, hi=100_000)
    escalate_after = 300
    if "escalate_after" in root:
        try:
            escalate_after = parse_duration(str(root["escalate_after"]))
        except ValueError as exc:
            problems.append(f"security.escalate_after: {exc}")
        else:
            if not 60 <= escalate_after <= 86_400:
                problems.append("security.escalate_after: must be from 1m to 1d")
    if problems:
        raise ConfigError(problems)
    return SecuritySettings(
        enabled=enabled, window_s=window_s, card_update_interval_s=float(interval), sns_topics=topics,
        cert_host_pattern=str(pattern), sqs=sqs, github_allowed_subjects=subjects, own_resources=own,
        allow=allow, rules=rules, responders=responders, subjects=subject_map, fold_after=fold_after,
        escalate_after_s=escalate_after,
    )


def security_settings(config: Config) -> SecuritySettings:
    return parse_security(config.raw.get("security"), people=config.people, groups=config.groups)
