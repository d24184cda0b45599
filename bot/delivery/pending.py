"""Cards about to change (issue 27 item 2): the GitHub webhooks this process recorded (and acked) that its worker has
not applied yet, by workflow run, so that the outbox, when a card's channel slot comes up, can hold that slot for a
moment (``WAIT_S`` at most) and send the state those webhooks make instead of the one before them.

Why: a card gets ~4 webhooks a second and its channel ~1 message a second (DESIGN rule 5), so a webhook misses its
card's next slot with a probability of about (ack -> its update queued) / 1 s (~11 ms after the ack under the card
bench's load: ~1.3 % of webhooks rode the next slot, a second later). The wait is per card and only while a webhook
of its run is on its way, so it is rare (a slot meets one about as often as a webhook misses it today).

In-process knowledge, and only a hint: ingest notes a delivery before it is committed (so the worker cannot apply it
before it is noted), the worker forgets it once the transaction that applied it (or judged it a repeat, or counted
its failure) has committed, and learns which run a card shows when it queues the card. What this process does not
know costs nothing: after a restart, or for a card whose run it never queued, the outbox sends at once as before. A
webhook that another replica applies is never forgotten here; it is only waited for while it is younger than
``FRESH_S`` (longer than an apply takes), so it delays its card's slot by ``WAIT_S`` at most once, and old entries
are dropped.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from bot.metrics import CARD_HELD, CARD_HOLDS

WAIT_S = 0.05  # the longest a card's slot is held for its run's webhooks
FRESH_S = 0.25  # a webhook recorded longer ago than this is not "about to be applied" (another replica, a failure)
KEEP_S = 60.0  # entries older than this are dropped (the inbox lease: a crashed claim comes back after it)
MAX_CARDS = 4096  # cards whose run is remembered (least recently queued dropped first)


class PendingCards:
    """Webhooks recorded and not yet applied, by run; which run each recently queued card shows."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, wait_s: float = WAIT_S,
                 fresh_s: float = FRESH_S) -> None:
        self._clock = clock
        self.wait_s = wait_s
        self.fresh_s = fresh_s
        self._recorded: dict[str, tuple[int, float]] = {}  # inbox key -> (run id, noted at)
        self._runs: dict[int, tuple[int, float]] = {}  # run id -> (webhooks noted, the newest noted at)
        self._card_runs: OrderedDict[str, int] = OrderedDict()  # card key -> run id
        self._waiters: dict[int, list[asyncio.Future[None]]] = {}
        self._pruned_at = clock()
        self.waits = 0  # slots held (for tests and benches)
        self.waited_s = 0.0

    # ------------------------------------------------------------------ ingest
    def recording(self, key: str, run_id: int) -> bool:
        """Note a webhook of ``run_id`` about to be recorded under inbox ``key`` (call it before the record, so the
        worker cannot apply it first). False when the key is noted already (a repeat in flight): then the caller
        must not forget it."""
        if key in self._recorded:
            return False
        now = self._clock()
        if now - self._pruned_at > KEEP_S:
            self._prune(now)
        self._recorded[key] = (run_id, now)
        n, _ = self._runs.get(run_id, (0, now))
        self._runs[run_id] = (n + 1, now)
        return True

    # ------------------------------------------------------------------ worker
    def forget(self, keys: Iterable[str]) -> None:
        """These webhooks are done with (applied, repeats, failed, or never recorded): their cards are queued."""
        for key in keys:
            got = self._recorded.pop(key, None)
            if got is None:
                continue
            run, _ = got
            n, newest = self._runs.get(run, (1, 0.0))
            if n > 1:
                self._runs[run] = (n - 1, newest)
                continue
            self._runs.pop(run, None)
            for waiter in self._waiters.pop(run, ()):
                if not waiter.done():
                    waiter.set_result(None)

    def card_shows(self, card_key: str, run_id: int) -> None:
        """The worker queued ``card_key``'s card for a request of run ``run_id``."""
        self._card_runs[card_key] = run_id
        self._card_runs.move_to_end(card_key)
        while len(self._card_runs) > MAX_CARDS:
            self._card_runs.popitem(last=False)

    def noted(self) -> int:
        """How many webhooks are noted and not forgotten."""
        return len(self._recorded)

    def run_of(self, card_key: str) -> int | None:
        """The run a card was last queued for, as far as this process knows."""
        return self._card_runs.get(card_key)

    # ------------------------------------------------------------------ outbox
    async def settle(self, card_key: str) -> bool:
        """Wait until the webhooks of the card's run noted in the last ``fresh_s`` are applied, ``wait_s`` at most;
        False when nothing of the card was on its way (no wait)."""
        run = self._card_runs.get(card_key)
        if run is None:
            return False
        noted = self._runs.get(run)
        began = self._clock()
        if noted is None or began - noted[1] > self.fresh_s:
            return False
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters = self._waiters.setdefault(run, [])
        waiters.append(waiter)
        try:
            await asyncio.wait([waiter], timeout=self.wait_s)  # done when the run's last noted webhook is forgotten
        finally:
            if waiter in waiters:
                waiters.remove(waiter)
            if not waiters and self._waiters.get(run) is waiters:
                del self._waiters[run]
        waited = self._clock() - began
        self.waits += 1
        self.waited_s += waited
        CARD_HOLDS.labels(result="applied" if waiter.done() else "timeout").inc()
        CARD_HELD.inc(max(0.0, waited))
        return True

    def _prune(self, now: float) -> None:
        """Drop webhooks noted more than ``KEEP_S`` ago (applied by another replica, or their claim was lost)."""
        self._pruned_at = now
        old = [key for key, (_, at) in self._recorded.items() if now - at > KEEP_S]
        self.forget(old)
