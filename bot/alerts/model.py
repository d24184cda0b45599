"""The normalized security event: one CloudTrail record or one AWS finding / alarm / Health event, whichever path
it came by."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from dataclasses import fields as dataclass_fields
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2, Severity.CRITICAL: 3}


@dataclass(frozen=True, slots=True)
class GitHubContext:
    """Which GitHub Actions run a role session belongs to (from the OIDC subject or the session name)."""

    repository: str = ""  # owner/name
    ref: str = ""  # refs/heads/main, or environment:prod
    run_id: str = ""
    run_attempt: str = ""
    subject: str = ""  # the OIDC token's sub claim, e.g. repo:acme/app:ref:refs/heads/main

    @property
    def run_url(self) -> str:
        if not (self.repository and self.run_id):
            return ""
        tail = f"/attempts/{self.run_attempt}" if self.run_attempt else ""
        return f"https://github.com/{self.repository}/actions/runs/{self.run_id}{tail}"


@dataclass(frozen=True, slots=True)
class SecurityEvent:
    """One CloudTrail record, normalized. Rules read the record's scalar values by dotted path: ``fields`` holds them
    flattened (the other alert sources), or ``doc`` holds the document they are read from on demand (a CloudTrail
    record: most rules read two or three paths of it, so it is not flattened per event; issue 27 item 5)."""

    event_id: str
    event_time: float  # epoch seconds
    event_source: str  # e.g. iam.amazonaws.com
    event_name: str  # e.g. CreateAccessKey
    event_type: str  # AwsApiCall | AwsConsoleSignIn | ...
    account: str
    region: str
    source_ip: str
    user_agent: str
    error_code: str
    error_message: str
    principal_arn: str  # best identifier we have: ARN, else account:type:user/principal id
    principal_type: str  # IAMUser | AssumedRole | Root | WebIdentityUser | ...
    session_issuer: str  # role ARN behind an assumed-role session
    session_name: str
    mfa_used: str  # "yes" | "no" | ""
    github: GitHubContext = GitHubContext()
    fields: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    source_kind: str = "cloudtrail"  # or guardduty | securityhub | cloudwatch | health (bot/alerts/sources.py)
    summary: str = ""  # a finding's / alarm's / Health event's own title (empty for CloudTrail)
    doc: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)  # read by path (paths.py)

    def all_fields(self) -> tuple[tuple[str, str], ...]:
        """Every scalar value by dotted path, in document order (``flatten``)."""
        if self.doc is None:
            return self.fields
        from bot.alerts.normalize import flatten  # normalize builds on this module

        return self.fields + tuple(flatten(self.doc))

    def field_value(self, path: str) -> str | None:
        for k, v in self.all_fields():
            if k == path:
                return v
        return None

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclass_fields(self) if f.name not in ("fields", "doc")}
        data["github"] = asdict(self.github)
        return data

    @classmethod
    def of(cls, values: tuple[Any, ...]) -> SecurityEvent:
        """The event of every field's value in declaration order: what ``cls(*values)`` builds, without the frozen
        ``__init__``'s generic ``object.__setattr__`` per field (the normaliser builds one per CloudTrail record,
        issue 27 item 5). Every field must be given."""
        if len(values) != len(_SETTERS):
            raise TypeError(f"SecurityEvent.of takes {len(_SETTERS)} values, got {len(values)}")
        event = object.__new__(cls)
        # written out, one setter per slot in field order (a loop over them costs ~0.5 us more per record); a field
        # added to the class without a line here fails this unpacking at once
        (s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13, s14, s15, s16, s17, s18, s19, s20) = _SETTERS
        s0(event, values[0])
        s1(event, values[1])
        s2(event, values[2])
        s3(event, values[3])
        s4(event, values[4])
        s5(event, values[5])
        s6(event, values[6])
        s7(event, values[7])
        s8(event, values[8])
        s9(event, values[9])
        s10(event, values[10])
        s11(event, values[11])
        s12(event, values[12])
        s13(event, values[13])
        s14(event, values[14])
        s15(event, values[15])
        s16(event, values[16])
        s17(event, values[17])
        s18(event, values[18])
        s19(event, values[19])
        s20(event, values[20])
        return event

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SecurityEvent:
        gh = GitHubContext(**data.get("github", {}))
        keys = {k: data[k] for k in data if k not in ("github", "fields", "doc")}
        return cls(**keys, github=gh)


_SETTERS = tuple(SecurityEvent.__dict__[f.name].__set__ for f in dataclass_fields(SecurityEvent))
