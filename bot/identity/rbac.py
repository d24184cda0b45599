"""Who may do what. Deny by default: an unknown person, an unknown environment, or a fault means no.

Lists of people may hold ``github-team:<org>/<slug>`` entries; the caller resolves them beforehand into a
``TeamView`` (bot/identity/teams.py) so these rules stay pure. Every refusal names the rule that refused."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.config import Config, Environment
from bot.domain import Actor, Approval, DeployRequest, RequestState
from bot.identity.teams import NO_TEAMS, TeamView, is_team


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str = ""


ALLOW = Decision(True)
LINKED_PREFIX = "github:"  # person key of someone known only through a verified GitHub link (bot.identity.links)


def deny(reason: str) -> Decision:
    return Decision(False, reason)


def listed(values: Sequence[str], actor: Actor, teams: TeamView = NO_TEAMS) -> bool:
    """Is the actor named in ``values``, directly or through a confirmed team membership?"""
    return actor.person in values or any(v in teams.member_of for v in values if is_team(v))


def _because(values: Sequence[str], teams: TeamView) -> str:
    """Why team entries did not let the actor in, when they could have."""
    unknown = [teams.unknown[v] for v in values if v in teams.unknown]
    if unknown:
        return f"; {unknown[0]}"
    if not teams.login and any(is_team(v) for v in values):
        return "; github-team rules count only a verified GitHub login: link yours with `/deploy link`"
    return ""


def _known(config: Config, actor: Actor) -> Decision:
    """Someone the rules can name: a ``people:`` entry, or a person known through a verified GitHub link (who can
    only be let in by a ``github-team:`` entry of the rule at hand)."""
    if actor.person is None or (actor.person not in config.people and not actor.person.startswith(LINKED_PREFIX)):
        return deny("you are not in this bot's people list and have no linked GitHub account; ask an admin to add "
                    "you or use `/deploy link`")
    return ALLOW


def _verified(env: Environment, teams: TeamView, what: str) -> Decision:
    if env.require_verified_identity and not teams.login:
        return deny(f"{what} in {env.name} need a verified GitHub identity: link yours with `/deploy link` (rule: "
                    f"environments.{env.name}.require_verified_identity)")
    return ALLOW


def same_person(actor: Actor, identities: Sequence[str], person: str, platform_id: tuple[str, str]) -> bool:
    """Is ``actor`` the person who holds any of ``identities`` (or the same person key, or the same platform
    account)? Identity sets are frozen when a request or decision is made, so unlinking or relinking later does
    not change who someone was."""
    if actor.person is not None and actor.person == person:
        return True
    if (str(actor.platform), actor.platform_id) == platform_id:
        return True
    mine = set(actor.identities) | {f"{actor.platform}:{actor.platform_id}"}
    return bool(mine & set(identities))


def _member(config: Config, actor: Actor, environment: str) -> Decision | Environment:
    """A known person and an existing environment, or the denial saying which is missing."""
    known = _known(config, actor)
    if not known.allowed:
        return known
    env = config.environments.get(environment)
    return env if env is not None else deny(f"unknown environment {environment}")


def is_admin(config: Config, actor: Actor, teams: TeamView = NO_TEAMS) -> bool:
    return listed(config.admins, actor, teams)


def can_deploy(config: Config, actor: Actor, environment: str, *, force: bool = False, service: str = "",
               teams: TeamView = NO_TEAMS, emergency: bool = False) -> Decision:
    """A deployer of the environment and, when the service names owners, one of them; ``--force`` and
    ``--emergency`` only for admins among them."""
    env = _member(config, actor, environment)
    if isinstance(env, Decision):
        return env
    if not listed(env.deployers, actor, teams):
        return deny(f"you are not a deployer for {environment} (rule: environments.{environment}.deployers"
                    f"{_because(env.deployers, teams)})")
    verified = _verified(env, teams, "requesters")
    if not verified.allowed:
        return verified
    svc = config.services.get(service)
    if svc is not None and svc.owners and not listed(svc.owners, actor, teams):
        return deny(f"you are not an owner of {service} (rule: services.{service}.owners"
                    f"{_because(svc.owners, teams)})")
    if force and not is_admin(config, actor, teams):
        return deny("only admins may use --force (rule: admins)")
    if emergency and not is_admin(config, actor, teams):
        return deny("only admins may deploy with --emergency (rule: admins)")
    return ALLOW


def viewer_entries(config: Config) -> tuple[str, ...]:
    """Every entry that lets someone see status and history: ``access.viewers`` and every rule's team entries
    (someone a rule may let deploy or approve may also see what they would act on)."""
    out = list(config.viewers) + list(config.admins)
    for e in config.environments.values():
        out += [*e.deployers, *e.approvers]
    for s in config.services.values():
        out += [*s.owners, *s.approvers]
    return tuple(dict.fromkeys(v for v in out if is_team(v) or v in config.viewers))


def can_view(config: Config, actor: Actor, teams: TeamView = NO_TEAMS) -> Decision:
    """Known means listed in ``people`` (or ``access.viewers``), or a verified member of a team named in config.
    Linking some GitHub account alone lets nobody see locks, pending requests or history."""
    if actor.person is not None and actor.person in config.people:
        return ALLOW
    if listed(viewer_entries(config), actor, teams):
        return ALLOW
    return deny("you are not in this bot's people list or access.viewers, and no team named in the config counts "
                "you as a member; ask an admin (rule: access.viewers)")


def can_lock(config: Config, actor: Actor, environment: str, *, teams: TeamView = NO_TEAMS) -> Decision:
    env = _member(config, actor, environment)
    if isinstance(env, Decision):
        return env
    if is_admin(config, actor, teams) or listed(env.deployers, actor, teams):
        return ALLOW
    return deny(f"only {environment} deployers and admins may lock or unlock it "
                f"(rule: environments.{environment}.deployers, admins)")


def approvers_of(config: Config, request: DeployRequest) -> tuple[tuple[str, ...], str]:
    """The approvers for a request and the rule they come from: the service's when set, else the environment's."""
    svc = config.services.get(request.service)
    if svc is not None and svc.approvers:
        return svc.approvers, f"services.{request.service}.approvers"
    env = config.environments.get(request.environment)
    return (env.approvers if env else ()), f"environments.{request.environment}.approvers"


def can_decide(
    config: Config, actor: Actor, request: DeployRequest, approvals: list[Approval], *, at: datetime,
    teams: TeamView = NO_TEAMS,
) -> Decision:
    """May ``actor`` approve or reject ``request`` now? Four eyes compares every identity the approver holds with
    every identity the requester held when asking (and with each earlier decider's)."""
    known = _known(config, actor)
    if not known.allowed:
        return known
    env = config.environments.get(request.environment)
    if env is None:
        return deny(f"unknown environment {request.environment}")
    if request.state is not RequestState.PENDING_APPROVAL:
        return deny(f"{request.id} is {request.state.value.replace('_', ' ')}, not waiting for approval")
    if request.expires_at is not None and at >= request.expires_at:
        return deny(f"{request.id} expired at {request.expires_at:%Y-%m-%d %H:%M} UTC")
    if same_person(actor, request.requester_identities, request.requester,
                   (str(request.requester_platform), request.requester_id)):
        return deny("you requested this deploy (as one of your chat or GitHub identities); someone else must "
                    "approve it (four eyes)")
    approvers, rule = approvers_of(config, request)
    if not listed(approvers, actor, teams):
        return deny(f"you are not an approver for {request.environment} (rule: {rule}{_because(approvers, teams)})")
    verified = _verified(env, teams, "approvers")
    if not verified.allowed:
        return verified
    if any(same_person(actor, a.identities, a.person, (str(a.platform), a.platform_id)) for a in approvals):
        return deny(f"you already decided on {request.id} (as one of your chat or GitHub identities)")
    return ALLOW


def can_cancel(config: Config, actor: Actor, request: DeployRequest, *, teams: TeamView = NO_TEAMS) -> Decision:
    """The requester (any identity they held when asking), an approver of the request, or an admin may cancel it."""
    known = _known(config, actor)
    if not known.allowed:
        return known
    if same_person(actor, request.requester_identities, request.requester,
                   (str(request.requester_platform), request.requester_id)):
        return ALLOW
    if is_admin(config, actor, teams):
        return ALLOW
    approvers, rule = approvers_of(config, request)
    env = config.environments.get(request.environment)
    if listed(approvers, actor, teams):
        return _verified(env, teams, "approvers") if env is not None else ALLOW
    return deny(f"only the requester, an approver or an admin may cancel {request.id} (rule: {rule}, admins"
                f"{_because((*approvers, *config.admins), teams)})")
