"""What comes in from outside, as values: the GitHub updates the webhook parsers make of GitHub's payloads (runs,
protection rules, reviews, deployments, pushes, checks, organisation changes) and stored Teams conversation
references. Frozen and slotted, like every value in ``bot.domain``, which re-exports them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
