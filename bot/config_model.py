"""The shape of ``chatops.yml`` as one typed model (msgspec ``Struct``s): the JSON Schema that editors use
(``python -m bot config-schema`` -> ``docs/chatops.schema.json``) and the key lists the parsers check against.

msgspec rather than pydantic: it is already a dependency (the webhook parsers use it), it adds nothing to the
image, its ``Struct``s are small frozen values, and ``msgspec.json.schema`` writes JSON Schema 2020-12 from the
same classes, descriptions included. What the YAML means (who is a person, which environment exists, promotion
order, time zones) is checked by the section parsers (``bot.config``, ``bot.delivery.settings``,
``bot.alerts.settings``, ``bot.deploys.settings``, ``bot.alerts.pagerduty``), which name every problem's
key path; ``bot.config_yaml`` adds the line it was written on."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType, field

# patterns shared with the parsers (bot.config keeps the compiled copies it matches with)
REPO = r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"
WORKFLOW = r"^[A-Za-z0-9_.-]+\.ya?ml$"
BRANCH = r"^[A-Za-z0-9._/-]{1,255}$"
SLACK_CHANNEL = r"^[CGD][A-Z0-9]{2,}$"
SLACK_USER = r"^[UW][A-Z0-9]{2,}$"
SLACK_TEAM = r"^T[A-Z0-9]{2,}$"
TENANT = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
ENV_NAME = r"^[A-Z_][A-Z0-9_]*$"
NAME = r"^[a-z0-9][a-z0-9_.-]{0,62}$"
DURATION_PATTERN = r"^\d{1,9}\s*[smhdw]$"
TEAMS_CONVERSATION = r"^[0-9A-Za-z]+:[^\s/]+$"
ENV_VAR_NAME = r"^[A-Z_][A-Z0-9_]{0,127}$"  # grafana.token_env, pagerduty.routing_key_env
HHMM_PATTERN = r"^([01]\d|2[0-3]):[0-5]\d$"
SNS_TOPIC = r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$"
GRAFANA_UID = r"^[A-Za-z0-9_-]{1,40}$"  # Grafana dashboard UIDs: at most 40 characters
GRAFANA_TAG = r"^[^\s,]{1,50}$"

Duration = Annotated[str, Meta(pattern=DURATION_PATTERN, description="A duration like 90s, 30m, 2h, 1d or 1w.")]
Names = Annotated[str | list[str], Meta(description="One name or a list of names.")]
Members = Annotated[str | list[str], Meta(
    description="Person keys, group names and github-team:<org>/<team-slug> entries (groups are expanded).")]
HHMM = Annotated[str, Meta(pattern=HHMM_PATTERN, description="A time like 09:00 (HH:MM).")]
EnvVar = Annotated[str, Meta(pattern=ENV_VAR_NAME, description="The NAME of an environment variable.")]
Url = Annotated[str, Meta(pattern=r"^(https://|http://127\.0\.0\.1|http://localhost)",
                          description="An https URL (plain http only to this machine).")]


class _Model(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    pass


class GitHub(_Model, frozen=True):
    """The default repository and how the bot talks to GitHub."""

    repository: Annotated[str, Meta(pattern=REPO, description="The default repository, owner/name.")]
    default_branch: Annotated[str, Meta(pattern=BRANCH, description="Where rollback workflows run from.")] = "main"
    team_cache_ttl: Annotated[Duration, Meta(description="How long a github-team: answer is reused.")] = "5m"
    reconcile_after: Annotated[Duration, Meta(
        description="A waiting request quiet this long is read back from the API.")] = "5m"
    redeliver_every: Annotated[Duration, Meta(
        description="How often failed webhook deliveries are redelivered.")] = "10m"


class Slack(_Model, frozen=True):
    """Slack: the one workspace served and the channels by name."""

    channels: Annotated[dict[str, Annotated[str, Meta(pattern=SLACK_CHANNEL)]], Meta(
        description="Channel name -> Slack channel id (like C0123ABCD); routes name them as slack:<name>.")] = {}
    team_id: Annotated[str, Meta(pattern=SLACK_TEAM, description=(
        "The workspace id (like T0123ABCD) whose requests are served; required with a slack section."))] | UnsetType = (
        UNSET)


class TeamsWebhook(_Model, frozen=True):
    """A Teams incoming webhook (Workflows); its URL is a secret read from the environment."""

    url_env: Annotated[str, Meta(pattern=ENV_NAME, description="The environment variable holding the URL.")]
    format: Annotated[Literal["adaptive", "messagecard"], Meta(description="The card format it accepts.")] = (
        "adaptive")
    updates: Annotated[Literal["final", "all"], Meta(description=(
        "final: only waiting-for-approval, failures and final states are posted; all: every state change."))] = (
        "final")


class TeamsBot(_Model, frozen=True):
    """The Teams bot (Bot Framework): where it posts approval requests and deployment cards."""

    approvals_conversation: Annotated[str, Meta(pattern=TEAMS_CONVERSATION, description=(
        "A Teams conversation id like 19:...@thread.tacv2 (URL-decoded, not a link)."))] | UnsetType = UNSET
    deploys_conversation: Annotated[str, Meta(
        description="Where deployment cards are kept, edited in place.")] | UnsetType = UNSET


class Teams(_Model, frozen=True):
    """Microsoft Teams: incoming webhooks and the Teams bot."""

    webhooks: dict[str, TeamsWebhook] = {}
    bot: TeamsBot | UnsetType = UNSET
    tenant_id: Annotated[str, Meta(pattern=TENANT, description=(
        "The Entra tenant id (a GUID) whose activities the Teams bot serves; required with the Teams bot."
    ))] | UnsetType = UNSET


class Person(_Model, frozen=True):
    """One person with every platform identity they have (at least one)."""

    slack: Annotated[str, Meta(pattern=SLACK_USER, description="Slack user id like U0123ABCD.")] | UnsetType = UNSET
    github: Annotated[str, Meta(min_length=1, description="GitHub login.")] | UnsetType = UNSET
    teams: Annotated[str, Meta(min_length=1, description="Teams (Entra) object id.")] | UnsetType = UNSET


class Environment(_Model, frozen=True):
    """Who may deploy to an environment and what a deploy there needs."""

    deployers: Members = []
    approvers: Members = []
    approvals: Annotated[int, Meta(ge=0, description="How many approvals a deploy needs (0 = none).")] = 0
    approval_ttl: Annotated[Duration, Meta(description="How long a request waits for approval.")] = "2h"
    gate: Annotated[Literal["none", "bot", "github"] | UnsetType, Meta(description=(
        "Who enforces the approvals (default: bot when approvals > 0, else none)."))] = UNSET
    require_verified_identity: Annotated[bool | UnsetType, Meta(description=(
        "Requesters and approvers need a verified GitHub identity (default: true when approvals > 0)."))] = UNSET
    rollback_approval: Annotated[Literal["policy", "none"], Meta(description=(
        "policy: rollbacks need the same approvals as deploys; none: they need none."))] = "policy"
    promote_from: Annotated[str, Meta(pattern=NAME, description=(
        "Takes only a commit that succeeded in this other environment."))] | UnsetType = UNSET
    deploy_notes: Annotated[bool | UnsetType, Meta(description=(
        "A successful deploy posts the commits it shipped (default: true for production)."))] = UNSET


class AutoDeploy(_Model, frozen=True):
    """Deploy a branch's new commits to an environment once all their checks are green, on behalf of the pusher
    (the environment's policy still applies; bot/deploys/auto.py)."""

    environment: str
    branch: str


class Service(_Model, frozen=True):
    """A deployable service: its workflow, environments and owners."""

    workflow: Annotated[str, Meta(pattern=WORKFLOW, description="The workflow file the bot dispatches.")]
    rollback_workflow: Annotated[str, Meta(
        pattern=WORKFLOW, description="The rollback workflow file.")] | UnsetType = UNSET
    environments: Annotated[Names, Meta(description="Environments it deploys to (defined under environments).")] = []
    repository: Annotated[str, Meta(
        pattern=REPO, description="owner/name (default: github.repository).")] | UnsetType = UNSET
    default_branch: Annotated[str, Meta(
        pattern=BRANCH, description="Where rollback_workflow runs.")] | UnsetType = UNSET
    owners: Members = []
    approvers: Members = []
    auto_deploy: Annotated[AutoDeploy | None, Meta(description="Reserved: not supported by this version.")] = None


Kind = Literal["deployment", "rollback", "failure", "security", "approval"]
Outcome = Literal["success", "failure", "cancelled"]


class When(_Model, frozen=True):
    """Route filters; a route matches when every filter given matches."""

    kind: Kind | list[Kind] = []
    service: Names = []
    environment: Names = []
    branch: Names = []
    outcome: Outcome | list[Outcome] = []


class Digest(_Model, frozen=True):
    """Collect the route's messages into one digest."""

    every: Annotated[Literal["1d", "1w"], Meta(description="Once a day or once a week.")] = "1w"
    at: Annotated[str, Meta(description='When: "09:00" (daily) or "Mon 09:00" (weekly).')] | UnsetType = UNSET
    tz: Annotated[str, Meta(description="A time zone like Europe/Berlin.")] = "UTC"


class QuietHours(_Model, frozen=True):
    """Hold the route's messages in this window (they go out when it ends)."""

    from_: HHMM = field(name="from")
    to: HHMM
    tz: Annotated[str, Meta(description="A time zone like Europe/Berlin.")] = "UTC"


class Route(_Model, frozen=True):
    """Where alerts of some kinds go."""

    to: Annotated[str | list[str], Meta(description="Destinations: slack:<channel name> or teams:<webhook name>.")]
    when: When | UnsetType = UNSET
    mention: Annotated[Literal["", "here", "channel"], Meta(description="Mention @here or @channel.")] = ""
    digest: Digest | UnsetType = UNSET
    quiet_hours: QuietHours | UnsetType = UNSET


class WeeklyFreeze(_Model, frozen=True):
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = []
    from_: Annotated[str, Meta(description="A time like 16:00.")] = field(name="from", default="00:00")
    to: Annotated[str, Meta(description="A time like 18:00, later than from.")] = "23:59:59"


class Freeze(_Model, frozen=True):
    """A window in which deploys to some environments are refused (admins may --force)."""

    environments: Names
    reason: str = "change freeze"
    timezone: Annotated[str, Meta(description="A time zone like Europe/Berlin.")] = "UTC"
    from_: Annotated[str | UnsetType, Meta(description="Start, a date-time like 2026-12-20T00:00.")] = field(
        name="from", default=UNSET)
    to: Annotated[str, Meta(description="End, a date-time like 2027-01-04T00:00.")] | UnsetType = UNSET
    weekly: WeeklyFreeze | UnsetType = UNSET


class Access(_Model, frozen=True):
    viewers: Members = []


class Sns(_Model, frozen=True):
    topics: list[Annotated[str, Meta(pattern=SNS_TOPIC, description="An SNS topic ARN.")]] = []
    cert_host_pattern: Annotated[str, Meta(description="A regular expression over the signing certificate's host.")] = (
        r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")


class Sqs(_Model, frozen=True):
    queue_url: Url | UnsetType = UNSET
    region: str | UnsetType = UNSET
    max_receives: Annotated[int, Meta(ge=1, le=1000)] = 5
    dead_letter_queue_url: Url | UnsetType = UNSET
    wait_seconds: Annotated[int, Meta(ge=0, le=20)] = 20
    visibility_timeout: Annotated[int, Meta(ge=0, le=43200)] = 60
    delivery_dlq_url: Url | UnsetType = UNSET


class GitHubOidc(_Model, frozen=True):
    allowed_subjects: list[Annotated[str, Meta(pattern=r"^repo:")]] = []


class Allow(_Model, frozen=True):
    principals: Names = []
    source_ips: Names = []
    accounts: Names = []


Condition = Annotated[dict[Literal["equals", "in", "prefix", "glob", "not_glob", "exists", "between"], Any], Meta(
    extra_json_schema={"minProperties": 1, "maxProperties": 1},
    description="One operator: equals, in, prefix, glob, not_glob, exists or between.")]


class Rule(_Model, frozen=True):
    """A detection rule (bot/alerts/rules.yml): the id of a default rule overrides the keys given; a new id
    adds a rule, which needs title, severity and match. Unset keys of an override keep the default rule's."""

    id: Annotated[str, Meta(min_length=1)]
    title: Annotated[str, Meta(min_length=1)] | UnsetType = UNSET
    severity: Literal["low", "medium", "high", "critical"] | UnsetType = UNSET
    enabled: bool | UnsetType = UNSET
    match: Annotated[dict[str, Condition], Meta(description="Every condition must hold.")] | UnsetType = UNSET
    any_of: Annotated[list[dict[str, Condition]], Meta(
        description="Condition blocks; at least one must hold.")] | UnsetType = UNSET
    allow: Allow | UnsetType = UNSET
    source: Annotated[Literal["cloudtrail", "guardduty", "securityhub", "cloudwatch", "health"] | UnsetType, Meta(
        description="Whose events it reads (default cloudtrail).")] = UNSET
    escalate: Annotated[bool | UnsetType, Meta(
        description="false keeps its high/critical alerts from escalating (default true).")] = UNSET


class Security(_Model, frozen=True):
    """Security alerts from AWS (EventBridge, SNS, SQS)."""

    enabled: bool = True
    window: Duration = "1h"
    card_update_interval: Annotated[float, Meta(ge=0, le=3600)] = 1.0
    sns: Sns | UnsetType = UNSET
    sqs: Sqs | UnsetType = UNSET
    github_oidc: GitHubOidc | UnsetType = UNSET
    own_resources: Names = []
    allow: Allow | UnsetType = UNSET
    rules: list[Rule] = []
    responders: Members = []
    subjects: Annotated[dict[str, Names], Meta(description="Person -> principal ARN patterns.")] = {}
    fold_after: Annotated[int, Meta(ge=1, le=100_000)] = 10
    escalate_after: Duration = "5m"


class Metrics(_Model, frozen=True):
    failure_window: Duration = "24h"


class PagerDuty(_Model, frozen=True):
    routing_key_env: EnvVar = "PAGERDUTY_ROUTING_KEY"


class Emergency(_Model, frozen=True):
    skip_approval: Annotated[bool, Meta(description="An emergency deploy needs no approval.")] = False


class Grafana(_Model, frozen=True):
    url: Url
    token_env: EnvVar = "GRAFANA_TOKEN"  # noqa: S105 (the NAME of the variable, not a token)
    dashboard_uid: Annotated[str, Meta(pattern=GRAFANA_UID)] | UnsetType = UNSET
    tags: list[Annotated[str, Meta(pattern=GRAFANA_TAG)]] = []


class ChatopsFile(_Model, frozen=True):
    """chatops.yml: the ChatOps bot's configuration. Secrets never go here: they come from the environment."""

    github: GitHub
    people: Annotated[dict[Annotated[str, Meta(pattern=NAME)], Person], Meta(
        description="Person key -> identities.")]
    environments: dict[str, Environment]
    services: dict[str, Service]
    slack: Slack | UnsetType = UNSET
    teams: Teams | UnsetType = UNSET
    groups: Annotated[dict[str, Names], Meta(description="Group name -> person keys.")] = {}
    routes: list[Route] = []
    security: Security | UnsetType = UNSET
    freezes: list[Freeze] = []
    admins: Members = []
    metrics: Metrics | UnsetType = UNSET
    access: Access | UnsetType = UNSET
    pagerduty: PagerDuty | UnsetType = UNSET
    emergency: Emergency | UnsetType = UNSET
    grafana: Grafana | UnsetType = UNSET


def keys(model: type[msgspec.Struct]) -> tuple[str, ...]:
    """The YAML keys a section takes, in the model's order (``from`` for the field ``from_``)."""
    return tuple(f.encode_name for f in msgspec.structs.fields(model))


def config_schema() -> dict[str, Any]:
    """JSON Schema of chatops.yml, from the model. Written as draft-07 (``definitions``), the newest draft
    yaml-language-server reads ("Supports JSON Schema 7 and below":
    https://github.com/redhat-developer/yaml-language-server#readme); msgspec's output uses nothing newer."""
    schema = msgspec.json.schema(ChatopsFile, ref_template="#/definitions/{name}")
    definitions = schema.pop("$defs", {})
    return {"$schema": "http://json-schema.org/draft-07/schema#", "title": "chatops.yml", **schema,
            "definitions": definitions}


def schema_text() -> str:
    """What ``python -m bot config-schema`` prints and ``docs/chatops.schema.json`` holds."""
    return json.dumps(config_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
