"""Domain values: frozen, slotted dataclasses and enums. Raw platform dicts never get past a handler."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


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
class DeployCommand:
    service: str
    ref: str
    environment: str
    force: bool = False
    emergency: str = ""  # ``--emergency "<reason>"``: the reason (admins only; bot.deploys.pipeline)


@dataclass(frozen=True, slots=True)
class PromoteCommand:
    """``/deploy promote <service> <from> to <to>``: the commit that last succeeded in ``source``, requested for
    ``target`` (through ``target``'s own policy)."""

    service: str
    source: str
    target: str


@dataclass(frozen=True, slots=True)
class RollbackCommand:
    service: str
    environment: str
    target_version: str = ""  # empty = previous
    force: bool = False


@dataclass(frozen=True, slots=True)
class StatusCommand:
    service: str | None = None


@dataclass(frozen=True, slots=True)
class StatsCommand:
    """``/deploy stats [service] [env] [period]``: delivery figures (bot.deploys.delivery_metrics)."""

    service: str | None = None  # None: every service
    environment: str = "production"
    period_s: int = 30 * 86400


@dataclass(frozen=True, slots=True)
class ApproveListCommand:
    pass


@dataclass(frozen=True, slots=True)
class ApproveCommand:
    request_id: str
    comment: str = ""


@dataclass(frozen=True, slots=True)
class RejectCommand:
    request_id: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class LockCommand:
    environment: str
    duration_s: int | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class UnlockCommand:
    environment: str


@dataclass(frozen=True, slots=True)
class CancelCommand:
    """``/deploy cancel <id>``: drop a waiting request, or cancel its workflow run."""

    request_id: str


@dataclass(frozen=True, slots=True)
class IdentityCommand:
    """``/deploy link [code]`` | ``unlink`` | ``whoami`` (bot/identity/commands.py)."""

    action: str
    code: str = ""  # link <code>: confirms a sign-in finished at GitHub


Command = (
    DeployCommand
    | PromoteCommand
    | RollbackCommand
    | StatusCommand
    | StatsCommand
    | ApproveListCommand
    | ApproveCommand
    | RejectCommand
    | LockCommand
    | UnlockCommand
    | CancelCommand
    | IdentityCommand
)


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


@dataclass(frozen=True, slots=True)
class RunUpdate:
    """A GitHub workflow run's progress, parsed from a webhook or the API."""

    run_id: int
    workflow: str  # file name, e.g. api-ci.yml
    status: str  # queued | in_progress | completed | waiting | requested
    conclusion: str  # success | failure | cancelled | ... | ""
    html_url: str
    head_sha: str
    head_branch: str
    title: str  # display_title / run-name
    actor: str = ""
    event: str = ""
    jobs: tuple[tuple[str, str, str], ...] = field(default_factory=tuple)  # (job, state, failed step)
    attempt: int = 1
    path: str = ""  # the workflow file's path in the repository, e.g. .github/workflows/api-ci.yml
    repository: str = ""  # owner/name the run belongs to
    actor_id: int = 0  # GitHub's numeric user id of ``actor`` (the identity; a login can change)
    triggering_actor: str = ""  # who started this attempt (a re-run can be someone else)
    triggering_actor_id: int = 0


@dataclass(frozen=True, slots=True)
class ProtectionRuleRequest:
    """GitHub asks the bot (a custom deployment protection rule) whether a run may deploy."""

    run_id: int
    environment: str
    callback_url: str
    sha: str
    ref: str
    actor: str  # GitHub login that triggered the run
    event: str
    workflow: str = ""
    deployment_id: int = 0  # one per job that names the environment: several requests can share a run
    actor_id: int = 0


@dataclass(frozen=True, slots=True)
class ReviewRequest:
    """A run waits for native environment reviewers (``deployment_review`` ``requested``)."""

    run_id: int
    environment: str
    reviewers: tuple[str, ...]  # "user:<login>" | "team:<slug>"
    html_url: str
    head_sha: str
    head_branch: str
    title: str
    requestor: str


@dataclass(frozen=True, slots=True)
class DeploymentUpdate:
    """``deployment`` created / ``deployment_status`` created: ties a run to an environment and reports
    outcomes (the release engine says so when it rolled back automatically)."""

    deployment_id: int
    environment: str
    state: str  # "created" for a new deployment, else the status state
    description: str
    sha: str
    ref: str
    creator: str
    run_id: int | None = None
    request_id: str = ""
    service: str = ""
    log_url: str = ""
    repository: str = ""  # the payload's repository (owner/name, lowercased): every effect belongs to it
    run_repository: str = ""  # the repository the status's run URL points into ("" = no URL)


@dataclass(frozen=True, slots=True)
class PushUpdate:
    """A ``push`` to a branch: its new head commit and who pushed it (auto-deploy, bot.deploys.auto)."""

    repository: str  # owner/name, lowercased
    branch: str  # the branch name (refs/heads/ stripped)
    sha: str  # ``after``: the branch's new head
    pusher: str  # ``sender.login``: the account that pushed
    pusher_id: int = 0  # ``sender.id``


@dataclass(frozen=True, slots=True)
class CheckUpdate:
    """A commit's checks moved: ``check_suite`` completed, or a commit ``status`` (auto-deploy)."""

    repository: str  # owner/name, lowercased
    sha: str
    branches: tuple[str, ...]  # check_suite.head_branch, or the status event's branches (names)
    conclusion: str  # check_suite conclusion, or the status state
    source: str  # check_suite | status


GitHubUpdate = RunUpdate | ProtectionRuleRequest | ReviewRequest | DeploymentUpdate | PushUpdate | CheckUpdate


@dataclass(frozen=True, slots=True)
class OrgChange:
    """A GitHub App or organization event that changes what the bot may have cached (issue 22 item 6).

    ``installation``: an installation deleted or suspended (``installation_id``); ``team_members``: team
    memberships in ``org`` may have changed (for ``login`` only, when it is known; "" is unknown, i.e. every
    cached answer of that organization, or of every organization when ``org`` is ""); ``authorization_revoked``:
    GitHub account ``github_id`` revoked the App's authorization (its identity links go)."""

    kind: str  # installation | team_members | authorization_revoked
    org: str = ""
    login: str = ""
    installation_id: int = 0
    github_id: int = 0


@dataclass(frozen=True, slots=True)
class TeamsConversation:
    """A stored Teams conversation reference, for proactive posts."""

    conversation_id: str
    conversation_type: str  # personal | channel | groupChat
    tenant_id: str
    person: str  # person key of the last known user in a personal chat, else ""
    reference: dict[str, Any]  # ConversationReference JSON (camelCase, as the SDK dumps it)
