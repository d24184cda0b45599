"""YAML -> validated, frozen config. Every problem names its key path; all problems are reported at once."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from bot import config_model as model
from bot.config_yaml import parse_yaml
from bot.errors import ConfigError

_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_NAME = re.compile(model.NAME)
_REPO = re.compile(model.REPO)
_WORKFLOW = re.compile(model.WORKFLOW)
_SLACK_CHANNEL = re.compile(model.SLACK_CHANNEL)
_SLACK_USER = re.compile(model.SLACK_USER)
_ENV_NAME = re.compile(model.ENV_NAME)
TEAM_PREFIX = "github-team:"
_TEAM = re.compile(r"^github-team:[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_TEAMS_CONVERSATION = re.compile(model.TEAMS_CONVERSATION)  # 19:…@thread.tacv2, a:…, 19:…@thread.v2
GATES = ("none", "bot", "github")
KINDS = ("deployment", "rollback", "failure", "security", "approval")
OUTCOMES = ("success", "failure", "cancelled")
TEAMS_FORMATS = ("adaptive", "messagecard")
MENTIONS = ("", "here", "channel")


def parse_duration(text: str) -> int:
    """``"2h"`` -> 7200. Raises ValueError with a readable reason."""
    m = _DURATION.match(text.strip())
    if not m or len(m.group(1)) > 9:
        raise ValueError(f"{text[:20]!r} is not a duration like 90s, 30m, 2h, 1d or 1w")
    return int(m.group(1)) * _UNITS[m.group(2)]


@dataclass(frozen=True, slots=True)
class Person:
    key: str
    slack: str = ""
    github: str = ""
    teams: str = ""


@dataclass(frozen=True, slots=True)
class Environment:
    name: str
    deployers: tuple[str, ...]  # person keys (groups expanded)
    approvers: tuple[str, ...] = ()
    approvals: int = 0
    approval_ttl_s: int = 7200
    gate: str = "none"
    require_verified_identity: bool = False  # requesters and approvers need a verified GitHub identity
    rollback_approval: str = "policy"  # "policy": rollbacks need the same approvals as deploys; "none": they don't
    promote_from: str = ""  # takes only a commit that succeeded in this environment ("" = any commit)
    deploy_notes: bool = False  # a successful deploy here posts the commits it shipped (default: production)

    @property
    def needs_approval(self) -> bool:
        return self.approvals > 0

    @property
    def rollback_needs_approval(self) -> bool:
        return self.needs_approval and self.rollback_approval != "none"


@dataclass(frozen=True, slots=True)
class Service:
    name: str
    workflow: str
    environments: tuple[str, ...]
    rollback_workflow: str = ""
    repository: str = ""  # owner/name (resolved: github.repository when the service names none)
    default_branch: str = ""  # where rollback_workflow runs ("" = read from the API)
    owners: tuple[str, ...] = ()  # person keys and github-team: entries; empty = no owner rule
    approvers: tuple[str, ...] = ()  # replaces the environment's approvers for this service when set


@dataclass(frozen=True, slots=True)
class Route:
    to: tuple[str, ...]  # "slack:<channel name>" | "teams:<webhook name>"
    kinds: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    environments: tuple[str, ...] = ()
    branches: tuple[str, ...] = ()
    outcomes: tuple[str, ...] = ()
    mention: str = ""


@dataclass(frozen=True, slots=True)
class TeamsWebhook:
    name: str
    url_env: str
    format: str = "adaptive"


@dataclass(frozen=True, slots=True)
class Freeze:
    """A window in which deploys to ``environments`` are refused (admins may ``--force``)."""

    environments: tuple[str, ...]
    reason: str
    timezone: str
    start: datetime | None = None  # absolute window (aware)
    end: datetime | None = None
    days: tuple[int, ...] = ()  # weekly window: 0 = Monday
    from_time: time | None = None
    to_time: time | None = None


@dataclass(frozen=True, slots=True)
class Config:
    repository: str
    slack_channels: Mapping[str, str]
    teams_webhooks: Mapping[str, TeamsWebhook]
    people: Mapping[str, Person]
    groups: Mapping[str, tuple[str, ...]]
    environments: Mapping[str, Environment]
    services: Mapping[str, Service]
    routes: tuple[Route, ...]
    admins: tuple[str, ...] = ()
    freezes: tuple[Freeze, ...] = ()
    teams_approvals_conversation: str = ""  # teams.bot.approvals_conversation: where the bot posts approvals
    default_branch: str = "main"  # github.default_branch: where the rollback workflow runs from
    slack_team_id: str = ""  # slack.team_id: the one workspace whose requests are served
    teams_tenant_id: str = ""  # teams.tenant_id: the one tenant whose activities the Teams bot serves
    raw: Mapping[str, Any] = field(default_factory=dict)  # for sections owned by other modules
    team_cache_ttl_s: int = 300  # github.team_cache_ttl: how long a github-team: answer is reused
    reconcile_after_s: int = 300  # github.reconcile_after: a waiting request quiet this long is read from the API
    redeliver_every_s: int = 600  # github.redeliver_every: how often failed hook deliveries are redelivered
    viewers: tuple[str, ...] = ()  # access.viewers: who else may see status and history (people, github-team:)
    lines: Mapping[str, int] = field(default_factory=dict, compare=False)  # key path -> line in the file
    # every configured repository, lowercased, the default one first: made once (GitHub ingest reads it per request)
    repositories: tuple[str, ...] = field(init=False, repr=False, compare=False, default=())

    def __post_init__(self) -> None:
        repos = [self.repository, *(s.repository for s in self.services.values())]
        object.__setattr__(self, "repositories", tuple(dict.fromkeys(r.lower() for r in repos if r)))

    def repo_of(self, service: str) -> str:
        """The repository a service lives in (the default repository for an unknown service)."""
        svc = self.services.get(service)
        return svc.repository if svc is not None and svc.repository else self.repository

    def person_by(self, platform: str, platform_id: str) -> Person | None:
        for p in self.people.values():
            if getattr(p, platform, "") == platform_id and platform_id:
                return p
        return None

    def approvals_channel(self) -> str:
        return self.slack_channels.get("approvals") or next(iter(self.slack_channels.values()), "")


class _Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def add(self, path: str, msg: str) -> None:
        self.problems.append(f"{path}: {msg}")

    def mapping(self, value: Any, path: str, *, required: bool = True) -> dict[str, Any]:
        if value is None:
            if required:
                self.add(path, "is required")
            return {}
        if not isinstance(value, dict):
            self.add(path, f"must be a mapping, got {type(value).__name__}")
            return {}
        return value

    def string(self, value: Any, path: str, *, pattern: re.Pattern[str] | None = None, hint: str = "") -> str:
        if not isinstance(value, str) or not value:
            self.add(path, "must be a non-empty string")
            return ""
        if pattern and not pattern.match(value):
            self.add(path, f"{value!r} is not valid{': ' + hint if hint else ''}")
            return ""
        return value

    def str_list(self, value: Any, path: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.add(path, "must be a list of non-empty strings")
            return ()
        return tuple(value)

    def choice(self, values: tuple[str, ...], path: str, allowed: tuple[str, ...]) -> None:
        for i, v in enumerate(values):
            if v not in allowed:
                self.add(f"{path}[{i}]", f"{v!r} is not one of {', '.join(a for a in allowed if a)}")


SLACK_KEYS = model.keys(model.Slack)  # team_id: the workspace the bot answers (issue 12.13)


def load_config(path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate a YAML config file. Raises ConfigError listing every problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{p}: cannot read the file ({exc.strerror or exc})"]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{p}: not UTF-8 text (byte {exc.start})"]) from exc
    try:
        doc = parse_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError([f"{p}: not valid YAML{where}"]) from exc
    try:
        config = parse_config(doc.data, env=os.environ if env is None else env)
    except ConfigError as exc:
        raise ConfigError(exc.problems, lines=doc.lines) from None
    return dataclasses.replace(config, lines=doc.lines)


def parse_config(data: Any, *, env: Mapping[str, str]) -> Config:
    c = _Checker()
    root = c.mapping(data, "(root)")
    known = set(model.keys(model.ChatopsFile))
    for key in root:
        if key not in known:
            c.add(str(key), f"unknown key (known: {', '.join(sorted(known))})")
    gh = c.mapping(root.get("github"), "github")
    repository, default_branch, team_ttl, reconcile_after, redeliver_every = _github(c, gh)
    slack = c.mapping(root.get("slack"), "slack", required=False)
    channels = _slack_channels(c, slack)
    teams = c.mapping(root.get("teams"), "teams", required=False)
    webhooks = _teams_webhooks(c, teams, env)
    teams_approvals = _teams_bot(c, teams)
    slack_team, teams_tenant = _pins(c, slack, teams, env, slack_enabled="slack" in root)
    people = _people(c, root)
    groups = _groups(c, root, people)
    expand = _expander(c, groups, people)
    admins = expand(c.str_list(root.get("admins"), "admins"), "admins") or groups.get("admins", ())
    access = c.mapping(root.get("access"), "access", required=False)
    for extra in set(access) - set(model.keys(model.Access)):
        c.add(f"access.{extra}", f"unknown key (known: {', '.join(model.keys(model.Access))})")
    viewers = expand(c.str_list(access.get("viewers"), "access.viewers"), "access.viewers")
    environments: dict[str, Environment] = {}
    for name, spec in c.mapping(root.get("environments"), "environments").items():
        environments[str(name)] = _environment(c, name, c.mapping(spec, f"environments.{name}"), expand)
    _promotion_order(c, environments)
    services = _services(c, root.get("services"), environments=environments, expand=expand,
                         default_repository=repository, default_branch=default_branch,
                         explicit_branch="default_branch" in gh)
    routes = _routes(c, root, services=services, environments=environments, channels=channels, webhooks=webhooks)
    freezes = _freezes(c, root.get("freezes"), environments)
    if c.problems:
        raise ConfigError(c.problems)
    return Config(
        default_branch=default_branch, slack_team_id=slack_team, teams_tenant_id=teams_tenant, freezes=freezes,
        teams_approvals_conversation=teams_approvals, repository=repository, slack_channels=channels,
        teams_webhooks=webhooks, people=people, groups=groups, environments=environments, services=services,
        routes=tuple(routes), admins=admins, viewers=viewers, raw=root, team_cache_ttl_s=team_ttl,
        reconcile_after_s=reconcile_after, redeliver_every_s=redeliver_every,
    )


def _github(c: _Checker, gh: Mapping[str, Any]) -> tuple[str, str, int, int, int]:
    """``github``: the default repository and branch, and the periods of the team cache, reconcile and redelivery."""
    repository = c.string(gh.get("repository"), "github.repository", pattern=_REPO, hint="expected owner/name")
    default_branch = c.string(gh.get("default_branch", "main"), "github.default_branch",
                              pattern=re.compile(model.BRANCH), hint="a branch name")
    known_gh = model.keys(model.GitHub)
    for extra in set(gh) - set(known_gh):
        c.add(f"github.{extra}", f"unknown key (known: {', '.join(known_gh)})")
    team_ttl = _gh_duration(c, gh, "team_cache_ttl", 300)
    reconcile_after = _gh_duration(c, gh, "reconcile_after", 300, least=1)
    redeliver_every = _gh_duration(c, gh, "redeliver_every", 600, least=1)

    return repository, default_branch, team_ttl, reconcile_after, redeliver_every


def _slack_channels(c: _Checker, slack: Mapping[str, Any]) -> dict[str, str]:
    channels_raw = c.mapping(slack.get("channels"), "slack.channels", required=False)
    channels: dict[str, str] = {}
    for name, cid in channels_raw.items():
        channels[str(name)] = c.string(cid, f"slack.channels.{name}", pattern=_SLACK_CHANNEL,
                                       hint="expected a Slack channel id like C0123ABCD")

    for extra in sorted(set(slack) - set(SLACK_KEYS), key=str):
        c.add(f"slack.{extra}", f"unknown key (known: {', '.join(SLACK_KEYS)})")

    return channels


def _teams_webhooks(c: _Checker, teams: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, TeamsWebhook]:
    webhooks: dict[str, TeamsWebhook] = {}
    for name, spec in c.mapping(teams.get("webhooks"), "teams.webhooks", required=False).items():
        path = f"teams.webhooks.{name}"
        spec = c.mapping(spec, path)
        url_env = c.string(spec.get("url_env"), f"{path}.url_env", pattern=_ENV_NAME,
                           hint="the NAME of an environment variable holding the URL")
        fmt = spec.get("format", "adaptive")
        if fmt not in TEAMS_FORMATS:
            c.add(f"{path}.format", f"{fmt!r} is not one of {', '.join(TEAMS_FORMATS)}")
        if url_env and not env.get(url_env):
            c.add(f"{path}.url_env", f"environment variable {url_env} is not set")
        webhooks[str(name)] = TeamsWebhook(str(name), url_env, str(fmt))
    return webhooks


def _people(c: _Checker, root: Mapping[str, Any]) -> dict[str, Person]:
    people: dict[str, Person] = {}
    seen_ids: dict[tuple[str, str], str] = {}
    for key, spec in c.mapping(root.get("people"), "people").items():
        path = f"people.{key}"
        if not _NAME.match(str(key)):
            c.add(path, "person keys are lowercase letters, digits, '-', '_' or '.'")
        spec = c.mapping(spec, path)
        ids: dict[str, str] = {}
        for plat in ("slack", "github", "teams"):
            v = spec.get(plat)
            if v is None:
                continue
            pat = _SLACK_USER if plat == "slack" else None
            ids[plat] = c.string(v, f"{path}.{plat}", pattern=pat,
                                 hint="expected a Slack user id like U0123ABCD" if pat else "")
            if ids[plat]:
                ident = (plat, ids[plat].lower() if plat == "github" else ids[plat])
                if ident in seen_ids:
                    c.add(f"{path}.{plat}", f"{ids[plat]!r} is already used by people.{seen_ids[ident]}")
                seen_ids[ident] = str(key)
        for extra in set(spec) - set(model.keys(model.Person)):
            c.add(f"{path}.{extra}", f"unknown key (known: {', '.join(model.keys(model.Person))})")
        if not ids:
            c.add(path, "needs at least one of slack, github, teams")
        people[str(key)] = Person(str(key), ids.get("slack", ""), ids.get("github", ""), ids.get("teams", ""))

    return people


def _groups(c: _Checker, root: Mapping[str, Any], people: Mapping[str, Person]) -> dict[str, tuple[str, ...]]:
    groups: dict[str, tuple[str, ...]] = {}
    for name, members in c.mapping(root.get("groups"), "groups", required=False).items():
        vals = c.str_list(members, f"groups.{name}")
        for i, m in enumerate(vals):
            if m not in people:
                c.add(f"groups.{name}[{i}]", f"{m!r} is not a person in people")
        groups[str(name)] = vals

    return groups


def _expander(c: _Checker, groups: Mapping[str, tuple[str, ...]],
              people: Mapping[str, Person]) -> Callable[[tuple[str, ...], str], tuple[str, ...]]:
    """Entries of a policy list (a person, a group, or github-team:<org>/<slug>) expanded to people and teams."""

    def expand(values: tuple[str, ...], path: str) -> tuple[str, ...]:
        out: list[str] = []
        for i, v in enumerate(values):
            if v.startswith(TEAM_PREFIX):  # resolved at decision time from GitHub (bot/identity/teams.py)
                if _TEAM.match(v):
                    out.append(v.lower())
                else:
                    c.add(f"{path}[{i}]", f"{v!r} is not valid: expected github-team:<org>/<team-slug>")
            elif v in groups:
                out.extend(groups[v])
            elif v in people:
                out.append(v)
            else:
                c.add(f"{path}[{i}]", f"{v!r} is neither a group nor a person")
        return tuple(dict.fromkeys(out))

    return expand


def _environment(c: _Checker, name: Any, spec: Mapping[str, Any],
                 expand: Callable[[tuple[str, ...], str], tuple[str, ...]]) -> Environment:
    path = f"environments.{name}"
    env_keys = model.keys(model.Environment)
    for extra in set(spec) - set(env_keys):
        c.add(f"{path}.{extra}", f"unknown key (known: {', '.join(env_keys)})")
    deployers = expand(c.str_list(spec.get("deployers"), f"{path}.deployers"), f"{path}.deployers")
    approvers = expand(c.str_list(spec.get("approvers"), f"{path}.approvers"), f"{path}.approvers")
    approvals = spec.get("approvals", 0)
    if not isinstance(approvals, int) or isinstance(approvals, bool) or approvals < 0:
        c.add(f"{path}.approvals", "must be a whole number >= 0")
        approvals = 0
    elif approvals > len(approvers) and not any(a.startswith(TEAM_PREFIX) for a in approvers):
        c.add(f"{path}.approvals", f"needs {approvals} approvals but only {len(approvers)} approvers exist")
    ttl_s = 7200
    if "approval_ttl" in spec:
        try:
            ttl_s = parse_duration(str(spec["approval_ttl"]))
        except ValueError as exc:
            c.add(f"{path}.approval_ttl", str(exc))
    gate = spec.get("gate", "bot" if approvals else "none")
    if gate not in GATES:
        c.add(f"{path}.gate", f"{gate!r} is not one of {', '.join(GATES)}")
    verified = spec.get("require_verified_identity", approvals > 0)
    if not isinstance(verified, bool):
        c.add(f"{path}.require_verified_identity", "must be true or false")
        verified = True
    rollback = spec.get("rollback_approval", "policy")
    if rollback not in ("policy", "none"):
        c.add(f"{path}.rollback_approval", f"{rollback!r} is not one of policy, none")
        rollback = "policy"
    notes = spec.get("deploy_notes", str(name) == "production")
    if not isinstance(notes, bool):
        c.add(f"{path}.deploy_notes", "must be true or false")
        notes = False
    return Environment(str(name), deployers, approvers, approvals, ttl_s, str(gate),
                       verified, str(rollback), _promote_from(c, spec, str(name)), notes)


def _routes(c: _Checker, root: Mapping[str, Any], *, services: Mapping[str, Any], environments: Mapping[str, Any],
            channels: Mapping[str, str], webhooks: Mapping[str, TeamsWebhook]) -> list[Route]:
    routes: list[Route] = []
    routes_raw = root.get("routes", [])
    if not isinstance(routes_raw, list):
        c.add("routes", "must be a list")
        routes_raw = []
    for i, spec in enumerate(routes_raw):
        path = f"routes[{i}]"
        spec = c.mapping(spec, path)
        when = c.mapping(spec.get("when"), f"{path}.when", required=False)
        for extra in set(when) - set(model.keys(model.When)):
            c.add(f"{path}.when.{extra}", f"unknown filter (known: {', '.join(model.keys(model.When))})")
        kinds = c.str_list(when.get("kind"), f"{path}.when.kind")
        c.choice(kinds, f"{path}.when.kind", KINDS)
        svcs = c.str_list(when.get("service"), f"{path}.when.service")
        for j, s in enumerate(svcs):
            if s not in services:
                c.add(f"{path}.when.service[{j}]", f"{s!r} is not a service")
        envs = c.str_list(when.get("environment"), f"{path}.when.environment")
        for j, e in enumerate(envs):
            if e not in environments:
                c.add(f"{path}.when.environment[{j}]", f"{e!r} is not an environment")
        outcomes = c.str_list(when.get("outcome"), f"{path}.when.outcome")
        c.choice(outcomes, f"{path}.when.outcome", OUTCOMES)
        to = c.str_list(spec.get("to"), f"{path}.to")
        if not to:
            c.add(f"{path}.to", "needs at least one destination like slack:deploys or teams:ops")
        for j, dest in enumerate(to):
            plat, _, name = dest.partition(":")
            if plat == "slack" and name not in channels:
                c.add(f"{path}.to[{j}]", f"{name!r} is not a channel under slack.channels")
            elif plat == "teams" and name not in webhooks:
                c.add(f"{path}.to[{j}]", f"{name!r} is not a webhook under teams.webhooks")
            elif plat not in ("slack", "teams"):
                c.add(f"{path}.to[{j}]", f"{dest!r} must start with slack: or teams:")
        mention = spec.get("mention", "")
        if mention not in MENTIONS:
            c.add(f"{path}.mention", f"{mention!r} is not one of here, channel")
        routes.append(Route(to, kinds, svcs, envs, c.str_list(when.get("branch"), f"{path}.when.branch"),
                            outcomes, str(mention)))

    return routes


def _promote_from(c: _Checker, spec: Mapping[str, Any], name: str) -> str:
    """``environments.<env>.promote_from``: another environment's name ("" when absent)."""
    if spec.get("promote_from") is None:
        return ""
    source = c.string(spec.get("promote_from"), f"environments.{name}.promote_from", pattern=_NAME,
                      hint="an environment name")
    if source == name:
        c.add(f"environments.{name}.promote_from", "an environment cannot promote from itself")
        return ""
    return source


def _promotion_order(c: _Checker, environments: Mapping[str, Environment]) -> None:
    """Every ``promote_from`` names a defined environment, and following them never comes back (no cycle)."""
    for name, env in environments.items():
        if env.promote_from and env.promote_from not in environments:
            c.add(f"environments.{name}.promote_from", f"{env.promote_from!r} is not defined under environments")
            continue
        seen, cur = {name}, env.promote_from
        while cur and cur in environments:
            if cur in seen:
                c.add(f"environments.{name}.promote_from", f"promotion order goes round in a circle through {cur}")
                break
            seen.add(cur)
            cur = environments[cur].promote_from


def _gh_duration(c: _Checker, gh: Mapping[str, Any], key: str, default: int, *, least: int = 0) -> int:
    """``github.<key>``: a duration (``90s``, ``5m``), at least ``least`` seconds; ``default`` when absent."""
    if key not in gh:
        return default
    try:
        value = parse_duration(str(gh[key]))
    except ValueError as exc:
        c.add(f"github.{key}", str(exc))
        return default
    if value < least:
        c.add(f"github.{key}", f"must be at least {least}s")
        return default
    return value


_SERVICE_KEYS = model.keys(model.Service)
_BRANCH = re.compile(model.BRANCH)


def _services(c: _Checker, raw: Any, *, environments: Mapping[str, Environment],
              expand: Callable[[tuple[str, ...], str], tuple[str, ...]], default_repository: str,
              default_branch: str, explicit_branch: bool) -> dict[str, Service]:
    """``services``: each in its own repository (default ``github.repository``), with optional owners and
    approvers. Two services with the same workflow file in the same repository cannot be told apart: refused."""
    services: dict[str, Service] = {}
    seen: dict[tuple[str, str], str] = {}
    for name, spec in c.mapping(raw, "services").items():
        path = f"services.{name}"
        spec = c.mapping(spec, path)
        for extra in set(spec) - set(_SERVICE_KEYS):
            c.add(f"{path}.{extra}", f"unknown key (known: {', '.join(_SERVICE_KEYS)})")
        wf = c.string(spec.get("workflow"), f"{path}.workflow", pattern=_WORKFLOW, hint="a workflow file name")
        rb = spec.get("rollback_workflow", "")
        if rb:
            rb = c.string(rb, f"{path}.rollback_workflow", pattern=_WORKFLOW, hint="a workflow file name")
        envs = c.str_list(spec.get("environments"), f"{path}.environments")
        for i, e in enumerate(envs):
            if e not in environments:
                c.add(f"{path}.environments[{i}]", f"{e!r} is not defined under environments")
        repo = default_repository
        if spec.get("repository") is not None:
            repo = c.string(spec.get("repository"), f"{path}.repository", pattern=_REPO, hint="expected owner/name")
        branch = default_branch if explicit_branch and repo.lower() == default_repository.lower() else ""
        if spec.get("default_branch") is not None:
            branch = c.string(spec.get("default_branch"), f"{path}.default_branch", pattern=_BRANCH,
                              hint="a branch name")
        if wf and repo:
            key = (repo.lower(), wf)
            if key in seen:
                c.add(f"{path}.workflow", f"{wf} in {repo} is already services.{seen[key]}'s workflow "
                      "(duplicate: runs could not be told apart)")
            seen.setdefault(key, str(name))
        owners = expand(c.str_list(spec.get("owners"), f"{path}.owners"), f"{path}.owners")
        approvers = expand(c.str_list(spec.get("approvers"), f"{path}.approvers"), f"{path}.approvers")
        for e in envs:
            env = environments.get(e)
            if approvers and env is not None and env.approvals > len(approvers) and not any(
                    a.startswith(TEAM_PREFIX) for a in approvers):
                c.add(f"{path}.approvers", f"environments.{e} needs {env.approvals} approvals but only "
                      f"{len(approvers)} approvers are listed")
        for e in envs:
            source = environments[e].promote_from if e in environments else ""
            if source and source not in envs:
                c.add(f"{path}.environments", f"{e} takes only commits that succeeded in {source} "
                      f"(environments.{e}.promote_from), which {name} does not deploy to")
        services[str(name)] = Service(str(name), wf, envs, str(rb), repo, branch, owners, approvers)
    return services


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _clock(c: _Checker, value: Any, path: str) -> time | None:
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        c.add(path, f"{value!r} is not a time like 16:00")
        return None


def _freezes(c: _Checker, raw: Any, environments: Mapping[str, Environment]) -> tuple[Freeze, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        c.add("freezes", "must be a list")
        return ()
    out: list[Freeze] = []
    for i, spec in enumerate(raw):
        path = f"freezes[{i}]"
        spec = c.mapping(spec, path)
        for extra in set(spec) - set(model.keys(model.Freeze)):
            c.add(f"{path}.{extra}", f"unknown key (known: {', '.join(model.keys(model.Freeze))})")
        envs = c.str_list(spec.get("environments"), f"{path}.environments")
        if not envs:
            c.add(f"{path}.environments", "names no environment")
        for j, e in enumerate(envs):
            if e not in environments:
                c.add(f"{path}.environments[{j}]", f"{e!r} is not an environment")
        tz_name = str(spec.get("timezone", "UTC"))
        try:
            tz = ZoneInfo(tz_name)
        except (ZoneInfoNotFoundError, ValueError):
            c.add(f"{path}.timezone", f"{tz_name!r} is not a time zone like Europe/Berlin")
            tz = ZoneInfo("UTC")
        reason = str(spec.get("reason", "change freeze"))[:200]
        weekly = spec.get("weekly")
        if weekly is not None:
            w = c.mapping(weekly, f"{path}.weekly")
            days = c.str_list(w.get("days"), f"{path}.weekly.days")
            c.choice(days, f"{path}.weekly.days", _DAYS)
            start_t = _clock(c, w.get("from", "00:00"), f"{path}.weekly.from")
            end_t = _clock(c, w.get("to", "23:59:59"), f"{path}.weekly.to")
            if start_t and end_t and end_t <= start_t:
                c.add(f"{path}.weekly.to", "must be later than weekly.from (split windows that cross midnight)")
            out.append(Freeze(envs, reason, tz_name, days=tuple(_DAYS.index(d) for d in days if d in _DAYS),
                              from_time=start_t, to_time=end_t))
            continue
        bounds: list[datetime | None] = []
        for key in ("from", "to"):
            value = spec.get(key)
            try:
                moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
            except ValueError:
                c.add(f"{path}.{key}", f"{value!r} is not a date-time like 2026-12-20T00:00")
                bounds.append(None)
                continue
            bounds.append(moment if moment.tzinfo else moment.replace(tzinfo=tz))
        if bounds[0] and bounds[1] and bounds[1] <= bounds[0]:
            c.add(f"{path}.to", "must be later than from")
        out.append(Freeze(envs, reason, tz_name, start=bounds[0], end=bounds[1]))
    return tuple(out)


def _teams_bot(c: _Checker, teams: Mapping[str, Any]) -> str:
    """``teams.bot``: returns ``approvals_conversation`` ("" when the bot posts no approval requests)."""
    for extra in set(teams) - set(model.keys(model.Teams)):
        c.add(f"teams.{extra}", f"unknown key (known: {', '.join(model.keys(model.Teams))})")
    spec = c.mapping(teams.get("bot"), "teams.bot", required=False)
    for extra in set(spec) - set(model.keys(model.TeamsBot)):
        c.add(f"teams.bot.{extra}", f"unknown key (known: {', '.join(model.keys(model.TeamsBot))})")
    if spec.get("approvals_conversation") is None:
        return ""
    return c.string(spec.get("approvals_conversation"), "teams.bot.approvals_conversation",
                    pattern=_TEAMS_CONVERSATION,
                    hint="expected a Teams conversation id like 19:…@thread.tacv2 (URL-decoded, not a link)")


_SLACK_TEAM = re.compile(model.SLACK_TEAM)
_TENANT = re.compile(model.TENANT)


def _pins(c: _Checker, slack: Mapping[str, Any], teams: Mapping[str, Any], env: Mapping[str, str], *,
          slack_enabled: bool) -> tuple[str, str]:
    """``slack.team_id`` and ``teams.tenant_id``: the one workspace and tenant served; required when the
    platform is enabled (a ``slack`` section; the Teams bot, i.e. ``TEAMS_APP_ID`` or ``teams.bot``)."""
    team = tenant = ""
    if slack.get("team_id") is None and slack_enabled:
        c.add("slack.team_id", "is required: the workspace id (like T0123ABCD) whose requests are served")
    elif slack_enabled or slack.get("team_id") is not None:
        team = c.string(slack.get("team_id"), "slack.team_id", pattern=_SLACK_TEAM,
                        hint="a workspace id like T0123ABCD")
    teams_bot = bool(env.get("TEAMS_APP_ID")) or teams.get("bot") is not None
    if teams.get("tenant_id") is None and teams_bot:
        c.add("teams.tenant_id", "is required when the Teams bot is enabled (TEAMS_APP_ID or teams.bot): "
              "the Entra tenant id whose activities are served")
    elif teams.get("tenant_id") is not None:
        tenant = c.string(teams.get("tenant_id"), "teams.tenant_id", pattern=_TENANT, hint="a tenant id (a GUID)")
    return team, tenant
