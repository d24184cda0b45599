"""Signals that arrive before the event loop can take them (issue 22 item 8).

``serve`` installs :class:`EarlySignals` first, before it reads the config or writes the pid file, so a SIGHUP
(``python -m bot reload``) or a SIGTERM that comes during start-up is remembered instead of killing the process
by the default action (which left a stale pid file). Once the loop has its own handlers, :meth:`replay` hands
over what arrived: the loop then reloads or stops exactly as if the signal had come later.

``serve --workers N`` starts its children with these signals blocked (:func:`blocked`): a signal sent to a child
that has not installed its handlers yet stays pending, and is delivered to :class:`EarlySignals` when the child
unblocks them.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator
from types import FrameType

HANDLED = (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)


class EarlySignals:
    def __init__(self) -> None:
        self.reload = False
        self.stop = False

    def _record(self, signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            self.reload = True
        else:
            self.stop = True

    @classmethod
    def install(cls) -> EarlySignals:
        """Record SIGHUP/SIGTERM/SIGINT from now on, then unblock them (pending ones are delivered here)."""
        early = cls()
        for sig in HANDLED:
            signal.signal(sig, early._record)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED)
        return early

    def replay(self, *, on_reload: Callable[[], object], on_stop: Callable[[], object]) -> None:
        """Call what the recorded signals ask for (each at most once), once the real handlers are in place."""
        if self.stop:
            on_stop()
        elif self.reload:
            on_reload()
        self.reload = self.stop = False


@contextlib.contextmanager
def blocked() -> Iterator[None]:
    """Block SIGHUP/SIGTERM/SIGINT in this thread (and in processes started meanwhile, which inherit the mask)."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
