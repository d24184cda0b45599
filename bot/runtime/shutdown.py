"""Serving and the hand-over on SIGTERM.

On SIGTERM (or SIGINT) the process:

1. turns ``/readyz`` to 503 at once (:class:`Lifecycle`), optionally keeps listening for
   ``CHATOPS_DRAIN_SECONDS`` so a load balancer sees it before the port closes;
2. stops accepting connections; in-flight requests get up to ``grace`` seconds to finish;
3. stops its workers from claiming (the app's ``on_shutdown``), waits for their current step (bounded);
4. releases every lease it still holds (:func:`bot.store.leases.release_owned`) so another replica takes
   the work at once instead of after the lease timeout; then exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Collection, Mapping

from aiohttp import web

from bot.runtime.early_signals import EarlySignals
from bot.store.leases import release_owned
from bot.store.store import Store

log = logging.getLogger(__name__)
GRACE_S = 10.0


class Lifecycle:
    """Readiness gates of the process: draining (set on SIGTERM) and any number of named checks."""

    def __init__(self) -> None:
        self.draining = False
        self.drain_started: float | None = None
        self._checks: list[Callable[[], str | None]] = []

    def add_check(self, check: Callable[[], str | None]) -> None:
        """``check`` answers None when ready, else the reason shown by ``/readyz``."""
        self._checks.append(check)

    def drain(self) -> None:
        if not self.draining:
            self.draining, self.drain_started = True, time.monotonic()

    def not_ready(self) -> str | None:
        if self.draining:
            return "shutting down"
        for check in self._checks:
            reason = check()
            if reason:
                return reason
        return None


LIFECYCLE: web.AppKey[Lifecycle] = web.AppKey("lifecycle", Lifecycle)


def drain_seconds(env: Mapping[str, str]) -> float:
    try:
        return max(0.0, min(float(env.get("CHATOPS_DRAIN_SECONDS", "0")), 30.0))
    except ValueError:
        return 0.0


async def serve(make_app: Callable[[], Awaitable[web.Application]], *, host: str, port: int,
                drain_s: float = 0.0, grace: float = GRACE_S, reuse_port: bool = False,
                on_hup: Callable[[web.Application], object] | None = None,
                early: EarlySignals | None = None) -> None:
    """Run the app until SIGTERM/SIGINT, then hand over as described in the module docstring. SIGHUP calls
    ``on_hup`` (the config reload, bot/runtime/reload.py) and keeps serving. Signals that ``early`` recorded during
    start-up are acted on once the loop's handlers are in place."""
    app = await make_app()
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=grace)
    await runner.setup()  # on_startup: a bad Slack app token raises here, before the port opens
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    if on_hup is not None:
        loop.add_signal_handler(signal.SIGHUP, on_hup, app)
    if early is not None:
        early.replay(on_reload=lambda: on_hup(app) if on_hup is not None else None, on_stop=stopping.set)
    try:
        # reuse_port: several processes of one bot share the port (serve --workers N, bot/runtime/supervisor.py)
        await web.TCPSite(runner, host, port, reuse_port=reuse_port or None).start()
        log.info("listening on %s:%d", host, port)
        await stopping.wait()
        log.info("stop signal: draining (readyz 503), then handing work over")
        app[LIFECYCLE].drain()
        if drain_s:
            await asyncio.sleep(drain_s)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        # stops listening, runs on_shutdown (workers stop claiming, socket closes), waits for in-flight
        # requests up to ``grace``, then on_cleanup (waits for workers, releases leases, closes the store)
        sweep = asyncio.create_task(close_idle_connections(runner), name="close-idle-connections")
        try:
            await runner.cleanup()
        finally:
            sweep.cancel()
    started = app[LIFECYCLE].drain_started
    if started is not None:
        log.info("handed over in %.2fs", time.monotonic() - started)


SWEEP_S = 0.05


async def close_idle_connections(runner: web.BaseRunner, *, every: float = SWEEP_S) -> None:
    """While ``runner.cleanup()`` runs, close every connection again now and then (aiohttp's ``close()``: an idle one
    ends at once, a busy one after its response). aiohttp closes each connection once, just after the port closes; a
    connection accepted just before may have no task waiting for a request yet (on Python 3.11 aiohttp starts that
    task a loop turn after the connection is made; 3.12+ starts it at once), so that one ``close()`` has nothing to
    cancel. The request that then arrives on it is dropped (a closing connection reads nothing) and the connection,
    idle, would hold the shutdown and its client for the whole ``grace`` (10 s). Closed again, its client sees the
    connection close within ``every`` and sends the request elsewhere (the load balancer's retry)."""
    while True:
        await asyncio.sleep(every)
        server = runner.server
        if server is None:
            return
        for conn in server.connections:
            conn.close()


async def stop_tasks(tasks: list[asyncio.Task[None]], *, within: float) -> None:
    """Let the owned loops finish their current step (they saw ``stop``), then cancel what is left."""
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=within)
    for t in pending:
        log.warning("task %s did not stop in %.0fs; cancelling it", t.get_name(), within)
        t.cancel()
    if pending:
        await asyncio.wait(pending, timeout=2)


async def release_leases(store: Store, *, keep_outbox: Collection[int] = ()) -> None:
    """Hand back every lease this process still holds (see :mod:`bot.store.leases`), but those of the outbox rows
    in ``keep_outbox``: a send cancelled in flight may have reached the chat, so that row is left to its lease."""
    if keep_outbox:
        log.warning("outbox %s: send cancelled in flight on shutdown; left to its lease", sorted(keep_outbox))
    try:
        async with store.unit() as u:
            counts = await release_owned(u.c, keep_outbox=keep_outbox)
    except Exception as exc:  # store unreachable: the leases run out on their own
        log.warning("could not release leases on shutdown (%s); they expire with their timeout", type(exc).__name__)
        return
    log.info("released leases on shutdown: inbox=%d outbox=%d requests=%d",
             counts["inbox"], counts["outbox"], counts["requests"])
