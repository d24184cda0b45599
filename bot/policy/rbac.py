"""Who may do what. Deny by default: an unknown person, an unknown environment, or a fault means no."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.config import Config, Environment
from bot.domain import Actor, Approval, DeployRequest, RequestState


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str = ""


ALLOW = Decision(True)


def deny(reason: str) -> Decision:
    return Decision(False, reason)


def _known(config: Config, actor: Actor) -> Decision:
    if actor.person is None or actor.person not in config.people:
        return deny("you are not in this bot's people list; ask an admin to add you")
    return ALLOW


def _member(config: Config, actor: Actor, environment: str) -> Decision | Environment:
    """A known person and an existing environment, or the denial saying which is missing."""
    known = _known(config, actor)
    if not known.allowed:
        return known
    env = config.environments.get(environment)
    return env if env is not None else deny(f"unknown environment {environment}")


def can_deploy(config: Config, actor: Actor, environment: str, *, force: bool = False) -> Decision:
    env = _member(config, actor, environment)
    if isinstance(env, Decision):
        return env
    if actor.person not in env.deployers:
        return deny(f"you are not a deployer for {environment}")
    if force and actor.person not in config.admins:
        return deny("only admins may use --force")
    return ALLOW


def can_view(config: Config, actor: Actor) -> Decision:
    return _known(config, actor)


def can_lock(config: Config, actor: Actor, environment: str) -> Decision:
    env = _member(config, actor, environment)
    if isinstance(env, Decision):
        return env
    if actor.person in config.admins or actor.person in env.deployers:
        return ALLOW
    return deny(f"only {environment} deployers and admins may lock or unlock it")


def can_decide(
    config: Config, actor: Actor, request: DeployRequest, approvals: list[Approval], *, at: datetime
) -> Decision:
    """May ``actor`` approve or reject ``request`` now? Four eyes compares people, not platform ids."""
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
    if actor.person == request.requester:
        return deny("you requested this deploy; someone else must approve it (four eyes)")
    if actor.person not in env.approvers:
        return deny(f"you are not an approver for {request.environment}")
    if any(a.person == actor.person for a in approvals):
        return deny(f"you already decided on {request.id}")
    return ALLOW
