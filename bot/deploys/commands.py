"""Pure command parser: chat text -> Command | Reply. No I/O; the config is data."""

from __future__ import annotations

import re
from dataclasses import replace

from bot.config import Config, parse_duration
from bot.domain import (
    ApproveCommand,
    ApproveListCommand,
    CancelCommand,
    Command,
    DeployCommand,
    IdentityCommand,
    LockCommand,
    PromoteCommand,
    RejectCommand,
    Reply,
    RollbackCommand,
    StatsCommand,
    StatusCommand,
    UnlockCommand,
)

USAGE = {
    "deploy": (
        "Usage: `/deploy <service> <ref> to <env> [--emergency \"<reason>\"]` · "
        "`/deploy promote <service> <from-env> to <env>` · `/deploy status [service]` · "
        "`/deploy stats [service] [env] [period]` · "
        "`/deploy lock <env> [for <duration>] [reason]` · `/deploy unlock <env>` · `/deploy cancel <id>` · "
        "`/deploy link [code]` · `/deploy whoami` · `/deploy unlink` · `/deploy help`"
    ),
    "approve": "Usage: `/approve` (list) · `/approve <id> [comment]` · `/approve reject <id> [reason]`",
    "rollback": "Usage: `/rollback <service> <env> [to <version>]`",
}
_REF = re.compile(r"[A-Za-z0-9._/+-]+")  # fullmatch: "$" would also match before a trailing newline
_REQUEST_ID = re.compile(r"^r-[a-z0-9]{8}$")
MAX_TEXT = 2000
MAX_REASON = 300
# --emergency "<reason>": straight or typographic double quotes (Slack may send either), or single quotes
_EMERGENCY = re.compile(r"(?:^|\s)--emergency(?:\s+(?:\"([^\"]*)\"|\u201c([^\u201d]*)\u201d|'([^']*)'))?(?=\s|$)")
MAX_LOCK_S = 90 * 86400


def validate_ref(ref: str) -> str | None:
    """Return a reason if ``ref`` is not a safe branch, tag or SHA name, else None."""
    if not ref:
        return "the ref is empty"
    if len(ref) > 255:
        return "the ref is longer than 255 characters"
    if ref.startswith("-"):
        return f"`{ref[:40]}` may not start with '-'"
    if not _REF.fullmatch(ref):
        return f"`{ref[:40]}` has characters a branch, tag or SHA cannot have"
    if ".." in ref or ref.endswith((".", "/", ".lock")) or ref.startswith("/") or "//" in ref:
        return f"`{ref[:40]}` is not a valid git ref name"
    return None


def _err(command: str, reason: str) -> Reply:
    return Reply(f":warning: {reason}\n{USAGE[command]}")


def _check_target(config: Config, command: str, service: str, env: str) -> Reply | None:
    if service not in config.services:
        known = ", ".join(sorted(config.services))
        return _err(command, f"Unknown service `{service[:40]}` (known: {known}).")
    if env not in config.environments:
        known = ", ".join(sorted(config.environments))
        return _err(command, f"Unknown environment `{env[:40]}` (known: {known}).")
    if env not in config.services[service].environments:
        allowed = ", ".join(config.services[service].environments)
        return _err(command, f"`{service}` cannot be deployed to `{env}` (allowed: {allowed}).")
    return None


def parse(text: str, *, command: str, config: Config) -> Command | Reply:
    """Parse the text after ``/deploy``, ``/approve`` or ``/rollback``."""
    command = command.lstrip("/")
    if command not in USAGE:
        return Reply(f"Unknown command `{command[:20]}`. Commands: /deploy, /approve, /rollback.")
    if len(text) > MAX_TEXT:
        return _err(command, "That command is too long.")
    emergency, text, bad = _emergency(text)
    if bad:
        return _err(command, bad)
    if emergency and command != "deploy":
        return _err(command, "`--emergency` is for `/deploy <service> <ref> to <env>`.")
    words = text.split()
    force = "--force" in words
    words = [w for w in words if w != "--force"]
    if words and words[0].lower() == "help":
        return Reply(USAGE[command], ok=True)
    if command == "deploy":
        parsed = _deploy(words, force, config)
        if emergency and not isinstance(parsed, DeployCommand):
            return parsed if isinstance(parsed, Reply) else _err(command, "`--emergency` is for deploys only.")
        return replace(parsed, emergency=emergency) if isinstance(parsed, DeployCommand) and emergency else parsed
    if command == "approve":
        return _approve(words, text)
    return _rollback(words, force, config)


def _emergency(text: str) -> tuple[str, str, str]:
    """(reason, the text without ``--emergency "<reason>"``, a problem or "")."""
    m = _EMERGENCY.search(text)
    if m is None:
        return "", text, ""
    reason = " ".join(next((g for g in m.groups() if g is not None), "").split())
    if not reason:
        return "", text, '`--emergency` needs a reason in quotes: `--emergency "payments are down"`.'
    if len(reason) > MAX_REASON:
        return "", text, f"The emergency reason is longer than {MAX_REASON} characters."
    return reason, text[:m.start()] + " " + text[m.end():], ""


def _promote(words: list[str], config: Config) -> Command | Reply:
    """``promote <service> <from-env> to <env>``."""
    if len(words) != 5 or words[3].lower() != "to":
        return _err("deploy", "`promote` takes `<service> <from-env> to <env>`, like `promote api staging to "
                              "production`.")
    _, service, source, _, target = words
    bad = _check_target(config, "deploy", service, source) or _check_target(config, "deploy", service, target)
    if bad:
        return bad
    if source == target:
        return _err("deploy", "`promote` moves a commit from one environment to another.")
    return PromoteCommand(service, source, target)


def _deploy(words: list[str], force: bool, config: Config) -> Command | Reply:
    if not words:
        return _err("deploy", "Tell me what to deploy.")
    head = words[0].lower()
    if head == "link" and len(words) == 2:  # the one-time code from the sign-in page (bot/identity/links.py)
        code = words[1].upper()
        if len(code) != 8 or not code.isascii() or not code.isalnum():
            return _err("deploy", "`link <code>` takes the 8-character code shown after signing in to GitHub.")
        return IdentityCommand("link", code)
    if head in ("link", "unlink", "whoami"):
        return IdentityCommand(head) if len(words) == 1 else _err("deploy", f"`{head}` takes no arguments.")
    if head == "cancel":
        if len(words) != 2 or not _REQUEST_ID.match(words[1]):
            return _err("deploy", "`cancel` takes one request id like r-abcd2345.")
        return CancelCommand(words[1])
    if head == "promote":
        return _promote(words, config)
    if head == "status":
        if len(words) > 2:
            return _err("deploy", "`status` takes at most one service.")
        svc = words[1] if len(words) == 2 else None
        if svc is not None and svc not in config.services:
            return _err("deploy", f"Unknown service `{svc[:40]}` (known: {', '.join(sorted(config.services))}).")
        return StatusCommand(svc)
    if head == "stats":
        return _stats(words[1:], config)
    if head in ("lock", "unlock"):
        if len(words) < 2 or words[1] not in config.environments:
            return _err("deploy", f"`{head}` needs an environment (known: {', '.join(config.environments)}).")
        if head == "unlock":
            return UnlockCommand(words[1]) if len(words) == 2 else _err("deploy", "`unlock` takes one env.")
        rest = words[2:]
        duration = None
        if len(rest) >= 2 and rest[0] == "for":
            try:
                duration = parse_duration(rest[1])
            except ValueError as exc:
                return _err("deploy", str(exc))
            if duration > MAX_LOCK_S:
                return _err("deploy", "A lock lasts at most 90 days; unlock it by hand after that.")
            rest = rest[2:]
        return LockCommand(words[1], duration, " ".join(rest)[:300])
    if len(words) != 4 or words[2].lower() != "to":
        if len(words) == 3 and words[2].lower() != "to":
            return _err("deploy", "Missing `to` before the environment.")
        if len(words) < 4:
            return _err("deploy", "Missing `to <env>`." if len(words) >= 2 else "Missing the ref and environment.")
        return _err("deploy", "Too many words.")
    service, ref, _, env = words
    bad = _check_target(config, "deploy", service, env)
    if bad:
        return bad
    reason = validate_ref(ref)
    if reason:
        return _err("deploy", f"Malformed ref: {reason}.")
    return DeployCommand(service, ref, env, force)


MAX_STATS_S = 366 * 86400


def _stats(words: list[str], config: Config) -> StatsCommand | Reply:
    """``stats [service] [env] [period]``, in any order; each at most once."""
    service: str | None = None
    env: str | None = None
    period: int | None = None
    for word in words:
        if word in config.services and service is None:
            service = word
        elif word in config.environments and env is None:
            env = word
        elif period is None and word[:1].isdigit():
            try:
                period = parse_duration(word)
            except ValueError as exc:
                return _err("deploy", f"`stats`: {exc}.")
            if not 3600 <= period <= MAX_STATS_S:
                return _err("deploy", "`stats`: the period is between 1h and 366d.")
        else:
            return _err("deploy", f"`stats`: `{word[:40]}` is not a service, an environment or a period like 30d "
                                  f"(services: {', '.join(sorted(config.services))}; "
                                  f"environments: {', '.join(config.environments)}).")
    env = env or "production"
    if env not in config.environments:
        return _err("deploy", "`stats` needs an environment (there is no `production`).")
    return StatsCommand(service, env, period or 30 * 86400)


def _approve(words: list[str], text: str) -> Command | Reply:
    if not words:
        return ApproveListCommand()
    if words[0].lower() == "reject":
        if len(words) < 2 or not _REQUEST_ID.match(words[1]):
            return _err("approve", "`reject` needs a request id like r-abcd2345.")
        return RejectCommand(words[1], text.split(words[1], 1)[1].strip()[:500])
    if not _REQUEST_ID.match(words[0]):
        return _err("approve", f"`{words[0][:40]}` is not a request id (they look like r-abcd2345).")
    return ApproveCommand(words[0], text.split(words[0], 1)[1].strip()[:500])


def _rollback(words: list[str], force: bool, config: Config) -> Command | Reply:
    if len(words) not in (2, 4):
        return _err("rollback", "Name the service and the environment.")
    service, env = words[0], words[1]
    bad = _check_target(config, "rollback", service, env)
    if bad:
        return bad
    if not config.services[service].rollback_workflow:
        return _err("rollback", f"`{service}` has no rollback_workflow in the config.")
    version = ""
    if len(words) == 4:
        if words[2].lower() != "to":
            return _err("rollback", "Expected `to <version>` after the environment.")
        version = words[3]
        reason = validate_ref(version)
        if reason:
            return _err("rollback", f"Malformed version: {reason}.")
    return RollbackCommand(service, env, version, force)
