"""The normalized security event: one CloudTrail record or one AWS finding / alarm / Health event, whichever path
it came by."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
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
    """One CloudTrail record, normalized. ``fields`` keeps the record's scalar values by dotted path for rules."""

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

    def field_value(self, path: str) -> str | None:
        for k, v in self.fields:
            if k == path:
                return v
        return None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("fields")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SecurityEvent:
        gh = GitHubContext(**data.get("github", {}))
        keys = {k: data[k] for k in data if k not in ("github", "fields")}
        return cls(**keys, github=gh)
