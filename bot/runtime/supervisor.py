"""``serve --workers N`` (or ``CHATOPS_WORKERS=N``): N server processes on one host, one port, one database.

The supervisor validates the configuration once, then starts N ``python -m bot serve`` children. Each child
is a complete bot (HTTP server, workers, outbox) that binds the port with ``SO_REUSEPORT``, so the kernel
spreads connections across them; background work is shared through the database's leases exactly as between
replicas on different hosts, which is why N > 1 needs PostgreSQL (one SQLite file serializes every writer).

SIGTERM/SIGINT is passed to every child; each drains and releases its own leases (bot/runtime/shutdown.py); the
supervisor exits when all have, with the worst exit status. A child that dies on its own is not restarted:
the supervisor stops the others and exits 1, so the process manager (Docker, systemd, Kubernetes) restarts
the whole group with a clean state rather than the group running short-handed unnoticed.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from types import FrameType

from bot.errors import ConfigError
from bot.runtime.early_signals import HANDLED, EarlySignals, blocked
from bot.runtime.pidfile import write_pid_file

log = logging.getLogger(__name__)
MAX_WORKERS = 64
ENV_WORKERS = "CHATOPS_WORKERS"
ENV_REUSE_PORT = "CHATOPS_REUSE_PORT"  # set by the supervisor for its children


def worker_count(arg: int | None, env: Mapping[str, str]) -> int:
    """``--workers`` wins over ``CHATOPS_WORKERS``; default 1 (one process, as before)."""
    if arg is not None:
        value, source = str(arg), "--workers"
    else:
        value, source = env.get(ENV_WORKERS, "1").strip() or "1", f"env {ENV_WORKERS}"
    if not value.isdigit() or not 1 <= int(value) <= MAX_WORKERS:
        raise ConfigError([f"{source}: must be a whole number from 1 to {MAX_WORKERS}, got {value[:20]!r}"])
    return int(value)


def check_database(url: str, workers: int) -> None:
    if workers > 1 and not url.startswith(("postgresql://", "postgres://")):
        raise ConfigError([f"{ENV_WORKERS}/--workers {workers}: several processes need PostgreSQL "
                           "(DATABASE_URL=postgresql://...); SQLite serializes every writer"])


def reuse_port(env: Mapping[str, str]) -> bool:
    return env.get(ENV_REUSE_PORT) == "1"


def supervise(config_path: str, workers: int, *, early: EarlySignals, grace_s: float = 60.0) -> int:
    """Run ``workers`` children until a stop signal (or one dies); return the exit status for the group.

    A reload (SIGHUP) at any moment is safe: the supervisor's handlers are in place before it starts a child or
    writes the pid file, and each child starts with the signals blocked until its own handlers are installed
    (bot/runtime/early_signals.py), so a signal it gets during start-up waits instead of killing it."""
    env = {**os.environ, ENV_WORKERS: "1", ENV_REUSE_PORT: "1"}
    argv = [sys.executable, "-m", "bot", "serve", "--config", config_path]
    children: list[subprocess.Popen[bytes]] = []
    stopping = early.stop  # a SIGHUP before any child exists needs nothing: the children read the file anew

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = stopping or signum != signal.SIGHUP  # SIGHUP: every child reloads its config (bot/runtime/reload.py)
        for c in children:
            if c.poll() is None:
                c.send_signal(signum)

    previous = {s: signal.signal(s, on_signal) for s in HANDLED}
    if stopping:
        return 0
    with blocked():  # children inherit the mask: a signal before their handlers exist stays pending
        children.extend(subprocess.Popen(argv, env=env) for _ in range(workers))  # noqa: S603 - our interpreter
    log.info("supervisor: started %d worker processes: pids=%s", workers, [c.pid for c in children])
    pid = write_pid_file(os.environ)  # `python -m bot reload` signals the supervisor, which tells every child
    try:
        while not stopping and all(c.poll() is None for c in children):
            time.sleep(0.2)
        if not stopping:
            dead = [c.pid for c in children if c.poll() is not None]
            log.error("supervisor: worker process(es) %s exited on their own; stopping the others", dead)
            for c in children:
                if c.poll() is None:
                    c.terminate()  # each drains and releases its leases
        deadline = time.monotonic() + grace_s
        for c in children:
            try:
                c.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("supervisor: worker %d did not stop in %.0fs; killing it", c.pid, grace_s)
                c.kill()
                c.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if pid is not None:
            pid.remove()
    codes = [c.returncode for c in children]
    log.info("supervisor: all worker processes stopped: exit codes %s", codes)
    if not stopping:
        return 1
    return 0 if all(code == 0 for code in codes) else 1
