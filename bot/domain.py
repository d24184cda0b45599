"""Domain values: frozen, slotted dataclasses and enums. Raw platform dicts never get past a handler."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from bot.domain_commands import (  # re-exported: every module reads its values from bot.domain
    ApproveCommand as ApproveCommand,
)
from bot.domain_commands import (
    ApproveListCommand as ApproveListCommand,
)
from bot.domain_commands import (
    CancelCommand as CancelCommand,
)
from bot.domain_commands import (
    Command as Command,
)
from bot.domain_commands import (
    DeployCommand as DeployCommand,
)
from bot.domain_commands import (
    IdentityCommand as IdentityCommand,
)
from bot.domain_commands import (
    LockCommand as LockCommand,
)
from bot.domain_commands import (
    PromoteCommand as PromoteCommand,
)
from bot.domain_commands import (
    RejectCommand as RejectCommand,
)
from bot.domain_commands import (
    RollbackCommand as RollbackCommand,
)
from bot.domain_commands import (
    StatsCommand as StatsCommand,
)
from bot.domain_commands import (
    StatusCommand as StatusCommand,
)
from bot.domain_commands import (
    UnlockCommand as UnlockCommand,
)
from bot.domain_inbound import (  # re-exported: every module reads its values from bot.domain
    CheckUpdate as CheckUpdate,
)
from bot.domain_inbound import (
    DeploymentUpdate as DeploymentUpdate,
)
from bot.domain_inbound import (
    GitHubUpdate as GitHubUpdate,
)
from bot.domain_inbound import (
    OrgChange as OrgChange,
)
from bot.domain_inbound import (
    ProtectionRuleRequest as ProtectionRuleRequest,
)
from bot.domain_inbound import (
    PushUpdate as PushUpdate,
)
from bot.domain_inbound import (
    ReviewRequest as ReviewRequest,
)
from bot.domain_inbound import (
    RunUpdate as RunUpdate,
)
from bot.domain_inbound import (
    TeamsConversation as TeamsConversation,
)


class Platform(StrEnum):
    SLACK = "slack"
    TEAMS = "teams"
    GITHUB = "github"


class RequestKind(StrEnum):
    DEPLOY = "deploy"
    ROLLBACK = "rollback"


class RequestState(StrEnum):
    RECEIVED = "received"  # accepted by policy, ref not yet resolved
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"  # ready to dispatch
    DISPATCHING = "dispatching"  # claimed by one worker (lease)
    DISPATCHED = "dispatched"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"
    DISPATCH_FAILED = "dispatch_failed"
    LOST = "lost"  # its run could not be found on GitHub (issue 24: reconcile); the reason is on the card

    @property
    def final(self) -> bool:
        return self in _FINAL


_FINAL = frozenset(
    {
        RequestState.SUCCEEDED,
        RequestState.FAILED,
        RequestState.CANCELLED,
        RequestState.REJECTED,
        RequestState.EXPIRED,
        RequestState.DISPATCH_FAILED,
        RequestState.LOST,
    }
)
OPEN_STATES = tuple(s for s in RequestState if s not in _FINAL)


_ID_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"


def new_request_id() -> str:
    """Short, unguessable, easy to type in chat: ``r-`` + 8 lowercase base32 characters."""
    bits = secrets.randbits(40)  # one read of the OS's randomness, 5 bits per character (32 letters)
    return "r-" + "".join(_ID_ALPHABET[(bits >> (5 * i)) & 31] for i in range(8))


# ---------------------------------------------------------------- commands (parser output)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did something, as the platform saw it, and the person it maps to (None = unknown)."""

    platform: Platform
    platform_id: str
    person: str | None
    channel: str = ""
    display: str = ""
    identities: frozenset[str] = frozenset()  # every identity of the person (bot.identity.links), once resolved
    conversation: str = ""  # Teams: personal | channel | groupChat (where a reply would be seen)

    @property
    def label(self) -> str:
        return self.person or f"{self.platform}:{self.platform_id}"


@dataclass(frozen=True, slots=True)
class Reply:
    """What the parser or policy answers instead of acting: help, usage, an error. Shown only to the user."""

    text: str  # plain text with the bot's cosmetic mrkdwn (emoji codes, *bold*, `code`): escaped per surface
    ok: bool = False
    cards: tuple[Card, ...] = ()
    channel: str = ""  # a Slack channel id the answer points to (from the config): shown after the text as a link
    links: tuple[Link, ...] = ()  # the bot's own links, shown after the text (never parsed out of ``text``)


# ---------------------------------------------------------------- stored state


@dataclass(frozen=True, slots=True)
class DeployRequest:
    id: str
    kind: RequestKind
    service: str
    environment: str
    ref: str  # the git ref to run the workflow at (rollback: the default branch)
    requester: str  # person key
    requester_platform: Platform
    requester_id: str  # platform id (for mentions / ephemerals)
    channel: str  # where the command came from
    state: RequestState
    created_at: datetime
    workflow: str
    approvals_required: int = 0
    expires_at: datetime | None = None
    sha: str = ""
    target_version: str = ""
    run_id: int | None = None
    run_url: str = ""
    response_url: str = ""
    detail: str = ""  # last reason / failure text shown on the card
    updated_at: datetime | None = None
    callback_url: str = ""  # gate: github -- the run's deployment_callback_url while it waits for us
    jobs: tuple[tuple[str, ...], ...] = ()  # (job name, state, failed step)
    attempt: int = 1
    requester_identities: tuple[str, ...] = ()  # frozen when the request was made (four eyes compares them)
    queued_behind: str = ""  # approved, waiting for this request's run of the same (service, environment) to finish
    cancel_requested_by: str = ""  # `/deploy cancel` asked GitHub to cancel the run (who asked, for the card)
    promoted_from: str = ""  # made by promotion: the environment ``sha`` succeeded in (the worker holds it to sha)
    emergency: str = ""  # an admin's emergency deploy: the reason they gave (past freezes, locks, promotion order)
    auto_deploy: str = ""  # made by auto-deploy (services.<svc>.auto_deploy): the branch whose green push it is


@dataclass(frozen=True, slots=True)
class RunHead:
    """What a run's webhook is judged against when the worker looks for repeats (``github_runs.unchanged``): the
    fields of the run's request that applying a workflow-run update reads and can change, read without the rest
    of the request (``Unit.run_heads``; issue 27 item 4)."""

    state: RequestState
    attempt: int
    run_url: str
    jobs: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class Approval:
    request_id: str
    person: str
    platform: Platform
    platform_id: str
    decision: str  # "approve" | "reject"
    comment: str
    at: datetime
    sha: str = ""
    identities: tuple[str, ...] = ()  # every identity of the approver when they decided


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    actor: str  # person key or platform:id
    action: str  # e.g. "deploy", "approve", "deny"
    target: str  # request id, env, ...
    channel: str
    result: str  # "ok" | "denied" | "error" | ...
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Lock:
    environment: str
    holder: str
    reason: str
    created_at: datetime
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class Deployment:
    """The last successful deployment of a service to an environment."""

    service: str
    environment: str
    version: str
    sha: str
    request_id: str
    by: str
    at: datetime


# ---------------------------------------------------------------- outbound: platform-neutral cards


@dataclass(frozen=True, slots=True)
class Fact:
    label: str
    value: str


@dataclass(frozen=True, slots=True)
class Button:
    action_id: str  # e.g. "approve", "reject", "ack"
    label: str
    value: str  # e.g. the request id
    style: str = ""  # "primary" | "danger" | ""


@dataclass(frozen=True, slots=True)
class Link:
    label: str
    url: str


@dataclass(frozen=True, slots=True)
class Card:
    """One evolving message: rendered to Block Kit or Adaptive Cards at delivery time."""

    kind: str  # deployment | rollback | approval | failure | security | info
    title: str
    status: str = ""  # short state word shown prominently
    tone: str = "neutral"  # neutral | good | warning | danger
    text: str = ""
    facts: tuple[Fact, ...] = ()
    buttons: tuple[Button, ...] = ()
    links: tuple[Link, ...] = ()
    footer: str = ""
    mention: str = ""  # "here" | "channel" | "" ; or "<@U..>" strings joined

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "title": self.title,
            "status": self.status,
            "tone": self.tone,
            "text": self.text,
            "facts": [[f.label, f.value] for f in self.facts],
            "buttons": [[b.action_id, b.label, b.value, b.style] for b in self.buttons],
            "links": [[lk.label, lk.url] for lk in self.links],
            "footer": self.footer,
            "mention": self.mention,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Card:
        return cls(
            kind=str(data["kind"]),
            title=str(data["title"]),
            status=str(data.get("status", "")),
            tone=str(data.get("tone", "neutral")),
            text=str(data.get("text", "")),
            facts=tuple(Fact(str(a), str(b)) for a, b in data.get("facts", [])),
            buttons=tuple(Button(str(a), str(b), str(c), str(d)) for a, b, c, d in data.get("buttons", [])),
            links=tuple(Link(str(a), str(b)) for a, b in data.get("links", [])),
            footer=str(data.get("footer", "")),
            mention=str(data.get("mention", "")),
        )


class Op(StrEnum):
    CARD = "card"  # post once per (destination, card_key), then update in place
    POST = "post"  # a new message (optionally in a card's thread)
    EPHEMERAL = "ephemeral"  # Slack: visible to one user
    RESPOND = "respond"  # Slack: answer through a command's response_url


TEAMS_BOT_PREFIX = "bot:"  # a Teams address "bot:<conversation id>" goes through the bot, not a webhook


@dataclass(frozen=True, slots=True)
class Destination:
    platform: Platform
    address: str  # Slack channel id, Teams webhook name or "bot:<conversation id>", or a response_url
    user: str = ""  # ephemeral recipient


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """A message to deliver. ``key`` makes the enqueue idempotent."""

    key: str
    destination: Destination
    op: Op
    card: Card
    card_key: str = ""  # CARD: which card; POST: the card whose thread it replies in
    id: int = 0
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened that routes may send to channels."""

    kind: str  # deployment | rollback | failure | security | approval
    service: str = ""
    environment: str = ""
    branch: str = ""
    outcome: str = ""  # success | failure | cancelled | "" (in progress)
    severity: str = ""
