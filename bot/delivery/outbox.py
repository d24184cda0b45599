"""Durable delivery of chat messages.

Messages are claimed oldest first under a lease. Per destination: at most one message per
``interval`` seconds, strictly in order (a destination that failed is paused until its retry time, so a
later message never overtakes an earlier one). A card (``Op.CARD``) is posted once and then updated in
place; when several updates of one card are waiting, only the newest is sent.

A chat outage (5xx, timeouts: transient errors) loses nothing (issue 24 item 4): a message is retried with exponential
backoff (``backoff_base`` doubling up to ``max_backoff``) with equal jitter, so replicas and lanes do not retry in
step, for as long as it is younger than ``give_up_after`` (default a day), however many attempts that takes. Its lane
waits behind it, so each card and channel resumes in order, and each card's edits made meanwhile coalesce into its
newest state. Only a permanent error (a 4xx-like answer) gives up at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Mapping

from bot.delivery.pending import PendingCards
from bot.domain import Destination, Op, OutboundMessage, Platform
from bot.egress import Sender
from bot.errors import DeliveryError, StoreUnavailable
from bot.metrics import DELIVERIES
from bot.store.store import Store
from bot.tasks import idle

log = logging.getLogger(__name__)
# what was sent is recorded, retried this many times while the database is unavailable (~30 s in all: well inside
# the outbox lease, 60 s, so no other replica sends the row meanwhile)
RECORD_ATTEMPTS = 20
# ... and never once the round's lease is about to run out: then another replica may send the row again and record
# its own message reference, which a late recording here would overwrite. The margin covers one attempt against an
# unreachable server (bot.store.db.CONNECT_TIMEOUT_S, 5 s) and its statements, with room to spare
RECORD_LEASE_MARGIN_S = 10.0
QUIET_GAP_S = 0.05  # after a pass that could send none of what waits, the next pass waits at least this long


class Outbox:
    def __init__(self, *, store: Store, senders: Mapping[Platform, Sender], interval: float = 1.0,
                 max_attempts: int = 10, max_backoff: float = 300.0, lease_s: float = 60.0,
                 backoff_base: float = 1.0, give_up_after: float = 86400.0,
                 pending: PendingCards | None = None) -> None:
        self.store = store
        self.pending = pending  # webhooks recorded and not applied yet, by card (bot.delivery.pending)
        self.senders = senders
        self.interval = interval
        self.max_attempts = max_attempts  # bounds only the wait of a thread reply for its card
        self.max_backoff = max_backoff
        self.backoff_base = backoff_base
        self.give_up_after = give_up_after
        self.lease_s = lease_s
        self._next_ok: dict[Destination, float] = {}
        self._held: set[str] = set()  # cards whose slot was held for a webhook and not used yet (one hold a slot)
        # channels whose slot was held and not used yet: a held card superseded, the lane's next head can be another
        # card of the channel (cards are in their channel's lane, by id); it goes without a second hold
        self._held_lanes: set[Destination] = set()
        self._progress = 0  # work done without a send: the loop goes on at once
        self._held_back = False  # the last pass found messages waiting and could send none of them
        self._event = asyncio.Event()
        self._stop = asyncio.Event()
        self._lease_ends = 0.0  # monotonic: when the leases of this round's messages run out, at the earliest
        # rows whose send has begun and whose outcome is not recorded yet: on shutdown their leases are kept (left to
        # run out), never handed back, since the chat may have the message already (bot.runtime.shutdown)
        self.in_flight: set[int] = set()

    def wake(self) -> None:
        self._event.set()

    async def run(self, stop: asyncio.Event, *, poll: float = 0.25) -> None:
        self._stop = stop
        while not stop.is_set():
            self._progress = 0
            try:
                sent = await self.run_once()
            except Exception:
                log.exception("outbox pass failed")
                sent = 0
            if sent or self._progress:
                continue
            began = time.monotonic()
            await idle(self._event, stop, seconds=poll)
            # messages were waiting but none could go (channel rate limits): a wake right away (the worker wakes
            # us after each of its passes) waits a little, so that backlog is not re-read hundreds of times a
            # second; an outbox that had nothing waiting answers a wake at once
            rest = QUIET_GAP_S - (time.monotonic() - began) if self._held_back else 0.0
            if rest > 0 and not stop.is_set():
                await asyncio.sleep(rest)

    async def run_once(self, *, limit: int = 200, rounds: int = 50) -> int:
        """Deliver what is due. Each round claims the head of every lane and delivers them (channels
        concurrently, one channel's heads in order); rounds repeat until nothing more is due.
        Returns the number of messages sent."""
        sent = 0
        self._held_back = False
        for _ in range(rounds):
            if self._stop.is_set():
                break
            before = self._progress
            self._lease_ends = time.monotonic() + self.lease_s  # read before the lease is written: never later
            async with self.store.unit() as u:
                heads = await u.outbox_due(limit=limit, lease_s=self.lease_s)
            if not heads:
                break
            channels: dict[Destination, list[OutboundMessage]] = {}
            for m in heads:
                channels.setdefault(Destination(m.destination.platform, m.destination.address), []).append(m)
            # every channel's run ends before this pass does, even when one fails: a send left running after the
            # outbox task ended would have its lease handed back on shutdown while still on its way (posted twice)
            results = await asyncio.gather(*(self._channel_run(d, ms) for d, ms in channels.items()),
                                           return_exceptions=True)
            for r in results:
                if isinstance(r, BaseException):
                    raise r
            n = sum(r for r in results if isinstance(r, int))
            sent += n
            if not n and self._progress == before:
                self._held_back = True
                break
        return sent

    async def _channel_run(self, channel: Destination, heads: list[OutboundMessage]) -> int:
        """Deliver one channel's lane heads (its own lane and card threads), keeping ~1 message/interval."""
        sent = 0
        for m in heads:
            if self._stop.is_set():  # shutting down: hand the rest back now (another replica sends it)
                await self._release([m], delay=0.0)
                continue
            wait = self._next_ok.get(channel, 0.0) - time.monotonic()
            if wait > 0.5:
                await self._release([m], delay=wait)
                continue
            if wait > 0:
                await asyncio.sleep(wait)
            sent += await self._deliver(channel, m) or 0
        return sent

    async def _release(self, messages: list[OutboundMessage], *, delay: float) -> None:
        if not messages:
            return
        async with self.store.unit() as u:
            for m in messages:
                await u.outbox_release(m.id, delay_s=delay)

    def backoff(self, attempts: int) -> float:
        """Exponential backoff with equal jitter: between half and all of ``base * 2**attempts`` (capped)."""
        ceiling = min(self.max_backoff, self.backoff_base * 2.0 ** min(attempts, 40))
        return random.uniform(ceiling / 2, ceiling)

    async def _deliver(self, lane: Destination, m: OutboundMessage) -> int | None:
        """1 = sent, 0 = nothing sent but done (superseded), None = paused."""
        dest = m.destination
        ref: str | None = None
        if (m.op is Op.CARD and self.pending is not None and m.card_key not in self._held
                and lane not in self._held_lanes):
            # the card's slot has come: if a webhook of its run was acked and is being applied, hold the slot for
            # it (50 ms at most) and send the state it makes, rather than the one before it a second early (issue
            # 27 item 2); what is newer is found below, after the wait. Once per slot: whatever heads the channel's
            # lane next round (the card's newest update, or an older message of another card) goes without a second
            # hold (the round waits for every channel's turn)
            if await self.pending.settle(m.card_key):
                if len(self._held) > 10_000:
                    self._held.clear()
                self._held.add(m.card_key)
                self._held_lanes.add(lane)
        async with self.store.unit() as u:
            # several updates of one card waiting: all but the newest are dropped (this one included, unless it
            # is the newest); the newest keeps its place (its id) in the channel's order
            if m.op is Op.CARD and await u.supersede_older(m):
                self._progress += 1
                return None
            self._held.discard(m.card_key)  # this one uses the slot (sent, or paused for a retry)
            self._held_lanes.discard(lane)
            if m.card_key and m.op in (Op.CARD, Op.POST):
                ref = await u.message_ref(dest.platform, dest.address, m.card_key)
            if m.op is Op.POST and m.card_key and ref is None:  # the card it replies under is not posted yet
                await u.outbox_retry(m.id, delay_s=0.5, error="waiting for its card",
                                     give_up=m.attempts + 1 >= self.max_attempts * 12)
                return None
        sender = self.senders.get(dest.platform)
        try:
            if sender is None:
                raise DeliveryError(f"no sender configured for {dest.platform}", transient=False)
            self.in_flight.add(m.id)
            new_ref = await sender.send(m, ref=ref)
        except DeliveryError as exc:
            give_up = not exc.transient
            delay = exc.retry_after if exc.retry_after is not None else self.backoff(m.attempts)
            DELIVERIES.labels(platform=dest.platform.value, result="gave_up" if give_up else "retry").inc()
            log.warning("delivery of outbox %s to %s failed (%s)%s", m.id, dest.platform, exc,
                        "; giving up" if give_up else f"; retry in {delay:.1f}s")
            async with self.store.unit() as u:
                give_up = await u.outbox_retry(m.id, delay_s=delay, error=str(exc), give_up=give_up,
                                               expire_before=time.time() - self.give_up_after)
            self.in_flight.discard(m.id)
            if not give_up:
                self._next_ok[lane] = time.monotonic() + delay
                return None
            return 0
        self._next_ok[lane] = time.monotonic() + (self.interval if m.op in (Op.CARD, Op.POST) else 0.0)
        await self._record_sent(m, ref=ref, new_ref=new_ref)
        self.in_flight.discard(m.id)
        DELIVERIES.labels(platform=dest.platform.value, result="sent").inc()
        return 1

    async def _record_sent(self, m: OutboundMessage, *, ref: str | None, new_ref: str | None) -> None:
        """Mark ``m`` sent (and a card's new message reference), retrying while the database is unavailable. The
        message has reached the chat: left pending, it would be sent again when its lease ran out, and a card's first
        post would be posted twice (the soak showed it once, a database session killed between the post and this
        transaction). Gives up after ``RECORD_ATTEMPTS`` (~30 s), or sooner when the next attempt could end after
        the row's lease (``RECORD_LEASE_MARGIN_S`` before it)."""
        dest = m.destination
        for attempt in range(RECORD_ATTEMPTS):
            try:
                async with self.store.unit() as u:
                    if m.op is Op.CARD and new_ref and new_ref != ref:
                        await u.save_message_ref(dest.platform, dest.address, m.card_key, new_ref)
                    await u.outbox_done(m.id, supersede_card=m.op is Op.CARD)
                return
            except StoreUnavailable:
                pause = min(0.05 * 2**attempt, 2.0)
                if attempt + 1 >= RECORD_ATTEMPTS or \
                        time.monotonic() + pause > self._lease_ends - RECORD_LEASE_MARGIN_S:
                    raise
                log.warning("outbox %s was sent; recording it failed (database unavailable), retrying", m.id)
                await asyncio.sleep(pause)
