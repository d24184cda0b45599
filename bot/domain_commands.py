"""The parsed chat commands (``/deploy``, ``/approve``, ``/rollback`` and their forms): what the parser makes of
a command line and the pipeline's command families run. Re-exported by ``bot.domain``."""

from __future__ import annotations

from dataclasses import dataclass


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
