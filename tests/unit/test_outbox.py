"""The outbox worker with a real Store (SQLite) and a real SlackSender against the Slack fake.

Timing assertions use what the fake recorded (the time each call arrived), never the test's duration."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.delivery.outbox import Outbox
from bot.delivery.pending import PendingCards
from bot.domain import Card, Destination, Op, OutboundMessage, Platform
from bot.egress.slack import SlackSender
from bot.store.store import Store
from sandbox.slack_fake import SlackCall, SlackFake

DEPLOYS, APPROVALS, UNKNOWN = "C0DEPLOYS", "C0APPROVALS", "C0UNKNOWN"


@pytest.fixture
async def store(sqlite_url: str) -> AsyncIterator[Store]:
    s = await Store.open(sqlite_url)
    yield s
    await s.close()


@pytest.fixture
async def fake() -> AsyncIterator[SlackFake]:
    async with SlackFake(known_channels={DEPLOYS, APPROVALS}) as f:
        yield f


def make_outbox(store: Store, fake: SlackFake, **kw: Any) -> Outbox:
    sender = SlackSender(AsyncWebClient(token=fake.token, base_url=f"{fake.url}/api/"))
    kw.setdefault("interval", 0.0)
    kw.setdefault("max_backoff", 0.2)
    return Outbox(store=store, senders={Platform.SLACK: sender}, **kw)


@contextlib.asynccontextmanager
async def running(outbox: Outbox, *, poll: float = 0.05) -> AsyncIterator[Outbox]:
    stop = asyncio.Event()
    task = asyncio.create_task(outbox.run(stop, poll=poll))
    try:
        yield outbox
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=5)


async def until(pred: Callable[[], bool], *, within: float = 5.0) -> None:
    """Poll what the fake recorded until ``pred`` holds (the fake has no event to wait on)."""
    async with asyncio.timeout(within):
        while not pred():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def enqueue(store: Store, key: str, title: str, *, channel: str = DEPLOYS, op: Op = Op.POST,
                  card_key: str = "") -> None:
    async with store.unit() as u:
        assert await u.enqueue(OutboundMessage(key=key, destination=Destination(Platform.SLACK, channel), op=op,
                                               card=Card(kind="info", title=title), card_key=card_key))


async def counts(store: Store) -> dict[str, int]:
    async with store.unit() as u:
        return await u.outbox_counts()


def writes(fake: SlackFake, channel: str | None = None) -> list[SlackCall]:
    """Every chat.postMessage / chat.update call that reached the fake (failed ones included), in order."""
    return [c for c in fake.calls if c.method in ("chat.postMessage", "chat.update")
            and channel in (None, c.args.get("channel"))]


def texts(calls: list[SlackCall]) -> list[str]:
    return [c.args["text"] for c in calls]


# ------------------------------------------------------------------------------------------ cards


async def test_card_is_posted_once_then_updated_in_place(store: Store, fake: SlackFake) -> None:
    outbox = make_outbox(store, fake)
    async with running(outbox):
        await enqueue(store, "c1", "v1", op=Op.CARD, card_key="req:1")
        outbox.wake()
        await until(lambda: len(fake.posts()) == 1)
        ts = fake.posts()[0].response["ts"]
        await enqueue(store, "c2", "v2", op=Op.CARD, card_key="req:1")
        outbox.wake()
        await until(lambda: len(fake.updates()) == 1)
        await enqueue(store, "c3", "v3", op=Op.CARD, card_key="req:1")
        outbox.wake()
        await until(lambda: len(fake.updates()) == 2)
    assert len(fake.posts()) == 1
    assert [(c.args["ts"], c.args["text"]) for c in fake.updates()] == [(ts, "v2"), (ts, "v3")]
    assert fake.messages[(DEPLOYS, ts)].text == "v3"
    async with store.unit() as u:
        assert await u.message_ref(Platform.SLACK, DEPLOYS, "req:1") == ts
    assert await counts(store) == {"sent": 3}


async def test_pending_updates_of_one_card_coalesce_into_the_newest(store: Store, fake: SlackFake) -> None:
    outbox = make_outbox(store, fake)
    for i in range(4):  # never posted yet: only the newest is posted
        await enqueue(store, f"a{i}", f"a v{i}", op=Op.CARD, card_key="req:a")
    await outbox.run_once()
    assert texts(writes(fake)) == ["a v3"]
    ts = fake.posts()[0].response["ts"]
    for i in range(4, 9):  # posted: the waiting updates collapse into one chat.update of the newest
        await enqueue(store, f"a{i}", f"a v{i}", op=Op.CARD, card_key="req:a")
    await enqueue(store, "b0", "b v0", op=Op.CARD, card_key="req:b")  # another card is not collapsed
    await outbox.run_once()
    assert [(c.method, c.args["text"]) for c in writes(fake)] == [
        ("chat.postMessage", "a v3"), ("chat.update", "a v8"), ("chat.postMessage", "b v0")
    ]
    assert fake.updates()[0].args["ts"] == ts
    assert await counts(store) == {"sent": 3, "superseded": 7}


async def test_a_cards_slot_waits_for_a_webhook_of_its_run_being_applied(store: Store, fake: SlackFake) -> None:
    """Issue 27 item 2: when a card's turn comes while a webhook of its run is acked but not applied, the outbox
    sends the state that webhook makes, not the one before it (which would keep it off the channel a second)."""
    pending = PendingCards(wait_s=30.0)  # only the worker's forget can end this wait
    outbox = make_outbox(store, fake, pending=pending)
    await enqueue(store, "c1", "v1", op=Op.CARD, card_key="req:1")
    pending.card_shows("req:1", 7)
    pending.recording("gh:d2", 7)  # ingest: a webhook of run 7, recorded and acked
    sending = asyncio.create_task(outbox.run_once())
    await until(lambda: pending.noted() == 1 and bool(pending._waiters))  # the card's slot: held
    assert writes(fake) == []
    await enqueue(store, "c2", "v2", op=Op.CARD, card_key="req:1")  # the worker applies it: the card's new state
    pending.forget(["gh:d2"])
    async with asyncio.timeout(5):
        await sending
    await outbox.run_once()
    assert texts(writes(fake)) == ["v2"]
    assert await counts(store) == {"sent": 1, "superseded": 1}


async def test_a_cards_slot_is_held_once(store: Store, fake: SlackFake) -> None:
    """After a hold the card's newest update goes in that slot without a second hold, even when another webhook of
    its run is on its way by then (a round of the outbox waits for every channel's turn: holds must not chain)."""
    pending = PendingCards(wait_s=30.0)
    outbox = make_outbox(store, fake, pending=pending)
    await enqueue(store, "c1", "v1", op=Op.CARD, card_key="req:1")
    pending.card_shows("req:1", 7)
    pending.recording("gh:d2", 7)
    sending = asyncio.create_task(outbox.run_once())
    await until(lambda: bool(pending._waiters))
    await enqueue(store, "c2", "v2", op=Op.CARD, card_key="req:1")
    pending.recording("gh:d3", 7)  # the next webhook, acked before the worker applied the first
    pending.forget(["gh:d2"])
    await asyncio.sleep(0)
    pending.forget(["gh:d3"])  # ends the first hold (nothing of run 7 left); a second hold would find d4 below
    pending.recording("gh:d4", 7)
    async with asyncio.timeout(5):
        await sending
    assert texts(writes(fake)) == ["v2"] and pending.waits == 1
    await enqueue(store, "c3", "v3", op=Op.CARD, card_key="req:1")  # the next slot may be held again
    held = asyncio.create_task(outbox.run_once())
    await until(lambda: bool(pending._waiters))
    await enqueue(store, "c4", "v4", op=Op.CARD, card_key="req:1")
    pending.forget(["gh:d4"])
    async with asyncio.timeout(5):
        await held
    assert texts(writes(fake)) == ["v2", "v4"] and pending.waits == 2


async def test_a_channels_slot_is_held_once_across_its_cards(store: Store, fake: SlackFake) -> None:
    """Cards are in their channel's lane, in id order: when a held card is superseded, the lane's next head can be
    another card of the same channel with a webhook on its way. The channel's slot is held once: that card goes
    without a second hold (else N busy cards in one channel hold its slot N x wait_s before anything is sent)."""
    pending = PendingCards(wait_s=30.0)  # only a forget can end a hold here
    outbox = make_outbox(store, fake, pending=pending)
    await enqueue(store, "a1", "a v1", op=Op.CARD, card_key="req:1")
    await enqueue(store, "b1", "b v1", op=Op.CARD, card_key="req:2")  # interleaved: b1 is older than a2
    pending.card_shows("req:1", 7)
    pending.card_shows("req:2", 8)
    pending.recording("gh:a", 7)
    pending.recording("gh:b", 8)  # applied by another replica, say: never forgotten here
    sending = asyncio.create_task(outbox.run_once())
    await until(lambda: 7 in pending._waiters)  # req:1's slot: held
    await enqueue(store, "a2", "a v2", op=Op.CARD, card_key="req:1")  # the worker applied gh:a
    pending.forget(["gh:a"])
    try:
        await until(lambda: sending.done() or 8 in pending._waiters)
        assert sending.done(), "the channel's slot was held a second time, for req:2"
    finally:
        pending.forget(["gh:b"])
        async with asyncio.timeout(5):
            await sending
    assert pending.waits == 1
    assert texts(writes(fake)) == ["b v1", "a v2"]


async def test_a_cards_slot_is_held_briefly_at_most(store: Store, fake: SlackFake) -> None:
    """A webhook that this process does not see applied (another replica's worker took it) holds the slot for
    ``wait_s`` at most; then the card goes as it is. Other cards are not held."""
    pending = PendingCards(wait_s=0.02)
    outbox = make_outbox(store, fake, pending=pending)
    await enqueue(store, "c1", "v1", op=Op.CARD, card_key="req:1")
    await enqueue(store, "o1", "other card", op=Op.CARD, card_key="req:2", channel=APPROVALS)
    pending.card_shows("req:1", 7)
    pending.card_shows("req:2", 8)
    pending.recording("gh:d2", 7)
    async with asyncio.timeout(5):
        await outbox.run_once()
    assert texts(writes(fake, DEPLOYS)) == ["v1"] and texts(writes(fake, APPROVALS)) == ["other card"]
    assert pending.waits == 1


# ------------------------------------------------------------------------------------------ rate and order


async def test_per_channel_interval_and_order(store: Store, fake: SlackFake) -> None:
    interval = 0.2
    outbox = make_outbox(store, fake, interval=interval)
    for i in range(4):
        await enqueue(store, f"d{i}", f"deploys {i}", channel=DEPLOYS)
        await enqueue(store, f"a{i}", f"approvals {i}", channel=APPROVALS)
    async with running(outbox):
        await until(lambda: len(fake.posts()) == 8)
    for channel, name in ((DEPLOYS, "deploys"), (APPROVALS, "approvals")):
        calls = fake.posts(channel)
        assert texts(calls) == [f"{name} {i}" for i in range(4)]  # in order
        gaps = [b.at - a.at for a, b in itertools.pairwise(calls)]
        assert all(g >= interval * 0.95 for g in gaps), (channel, gaps)
    # channels are paced independently: the second channel is not queued behind the first
    firsts = sorted(fake.posts(c)[0].at for c in (DEPLOYS, APPROVALS))
    assert firsts[1] - firsts[0] < interval
    assert await counts(store) == {"sent": 8}


async def test_server_errors_are_retried_then_delivered_in_order(store: Store, fake: SlackFake) -> None:
    fake.fail("chat.postMessage", 500, times=2)
    outbox = make_outbox(store, fake, max_backoff=1.0)
    for i in range(3):
        await enqueue(store, f"m{i}", f"message {i}")
    async with running(outbox):
        await until(lambda: len(fake.posts()) == 3)
    calls = writes(fake)
    assert [(c.ok, c.args["text"]) for c in calls] == [
        (False, "message 0"), (False, "message 0"), (True, "message 0"), (True, "message 1"), (True, "message 2")
    ]
    async with store.unit() as u:
        rows = await u.c.fetch("SELECT key, state, attempts FROM outbox ORDER BY id")
    assert [(r["key"], r["state"], r["attempts"]) for r in rows] == [
        ("m0", "sent", 2), ("m1", "sent", 0), ("m2", "sent", 0)
    ]


async def test_order_is_kept_when_the_retry_is_due_soon(store: Store, fake: SlackFake) -> None:
    """A failed message pauses its channel: a later message must not overtake it, whatever the backoff."""
    fake.fail("chat.postMessage", 500, times=2)
    outbox = make_outbox(store, fake, max_backoff=0.5)
    for i in range(2):
        await enqueue(store, f"m{i}", f"message {i}")
    async with running(outbox):
        await until(lambda: len(fake.posts()) == 2)
    # every attempt of message 1 comes after message 0 was delivered
    assert [(c.ok, c.args["text"]) for c in writes(fake)] == [
        (False, "message 0"), (False, "message 0"), (True, "message 0"), (True, "message 1")
    ]


async def test_a_second_replica_does_not_overtake_a_failed_message(sqlite_url: str, fake: SlackFake) -> None:
    """Two replicas share the outbox; the channel pause after a failure must hold for both (default backoff)."""
    fake.fail("chat.postMessage", 500, times=1)
    one, two = await Store.open(sqlite_url), await Store.open(sqlite_url)
    try:
        await enqueue(one, "m0", "message 0")
        await enqueue(one, "m1", "message 1")
        assert await make_outbox(one, fake, max_backoff=300.0).run_once() == 0  # message 0 failed: retry in 1 s
        await asyncio.sleep(0.3)
        await make_outbox(two, fake, max_backoff=300.0).run_once()  # the other replica's next pass
        assert [(c.ok, c.args["text"]) for c in writes(fake)] == [(False, "message 0")]
    finally:
        await one.close()
        await two.close()


async def test_retry_after_is_honoured(store: Store, fake: SlackFake) -> None:
    fake.fail("chat.postMessage", 429, retry_after=1)
    outbox = make_outbox(store, fake)
    await enqueue(store, "m0", "message 0")
    await enqueue(store, "m1", "message 1")
    async with running(outbox):
        await until(lambda: len(fake.posts()) == 2)
    calls = writes(fake)
    assert calls[0].error == "ratelimited"
    assert [(c.ok, c.args["text"]) for c in calls] == [(False, "message 0"), (True, "message 0"),
                                                       (True, "message 1")]
    assert calls[1].at - calls[0].at >= 1.0  # not one attempt before Retry-After


async def test_permanent_error_gives_up_without_blocking_other_channels(store: Store, fake: SlackFake) -> None:
    outbox = make_outbox(store, fake, interval=0.05)
    await enqueue(store, "bad", "to nowhere", channel=UNKNOWN)
    for i in range(3):
        await enqueue(store, f"ok{i}", f"ok {i}", channel=DEPLOYS)
    await enqueue(store, "bad2", "to nowhere again", channel=UNKNOWN)
    async with running(outbox):
        await until(lambda: len(fake.posts()) == 3)
        await until(lambda: len([c for c in fake.calls if c.error == "channel_not_found"]) == 2)
        await asyncio.sleep(0.3)  # give it time to (wrongly) retry
    assert [c.error for c in writes(fake, UNKNOWN)] == ["channel_not_found", "channel_not_found"]  # tried once each
    assert texts(fake.posts(DEPLOYS)) == ["ok 0", "ok 1", "ok 2"]
    async with store.unit() as u:
        rows = await u.c.fetch("SELECT key, state, attempts, last_error FROM outbox ORDER BY id")
    failed = {r["key"]: r for r in rows if r["state"] == "failed"}
    assert set(failed) == {"bad", "bad2"}
    assert failed["bad"]["attempts"] == 1 and "channel_not_found" in failed["bad"]["last_error"]
    assert await counts(store) == {"sent": 3, "failed": 2}


async def test_transient_errors_are_retried_until_the_message_is_too_old(store: Store, fake: SlackFake) -> None:
    """Issue 24: an outage longer than any attempt count loses nothing; a transient error gives up only once the
    message is older than give_up_after (a day by default; 1 s here), whatever max_attempts says."""
    fake.fail("chat.postMessage", 500, times=10_000)
    outbox = make_outbox(store, fake, max_attempts=3, max_backoff=0.01, give_up_after=1.0)
    await enqueue(store, "m0", "message 0")
    async with running(outbox):
        await until(lambda: len(writes(fake)) > 3)
        assert await counts(store) == {"pending": 1}, "more attempts than max_attempts, still kept"
        async with asyncio.timeout(10):
            while await counts(store) != {"failed": 1}:  # noqa: ASYNC110
                await asyncio.sleep(0.05)


async def test_thread_reply_waits_for_its_card(store: Store, fake: SlackFake) -> None:
    outbox = make_outbox(store, fake)
    # the reply is accepted before its card (e.g. the card's post is still being retried)
    await enqueue(store, "reply", "run started", op=Op.POST, card_key="req:1")
    await enqueue(store, "card", "Deploy api", op=Op.CARD, card_key="req:1")
    async with running(outbox):
        await until(lambda: len(fake.posts()) == 2)
    card_call, reply_call = fake.posts()
    assert card_call.args["text"] == "Deploy api" and "thread_ts" not in card_call.args
    assert reply_call.args["text"] == "run started"
    assert reply_call.args["thread_ts"] == card_call.response["ts"]
    assert [m.text for m in fake.thread(DEPLOYS, card_call.response["ts"])] == ["run started"]


async def test_accepted_message_survives_a_restart_and_is_delivered_once(sqlite_url: str, fake: SlackFake) -> None:
    first = await Store.open(sqlite_url)
    await enqueue(first, "m0", "message 0")
    async with first.unit() as u:  # a worker claims it and dies before sending
        assert len(await u.outbox_due(limit=10, lease_s=0.3)) == 1
    await first.close()
    second = await Store.open(sqlite_url)
    try:
        outbox = make_outbox(second, fake)
        async with running(outbox):
            await until(lambda: len(fake.posts()) == 1)
            await asyncio.sleep(0.3)
        assert texts(fake.posts()) == ["message 0"]
        assert await counts(second) == {"sent": 1}
    finally:
        await second.close()


async def test_a_card_sent_while_the_database_fails_is_recorded_once_it_is_back(
        store: Store, fake: SlackFake, monkeypatch: pytest.MonkeyPatch) -> None:
    """The soak posted a card twice: a database session was killed between chat.postMessage and the transaction
    recording it, the row stayed pending with no message reference, and when its lease ran out the card was posted
    again. The outbox now retries recording what it sent while the database is unavailable."""
    from bot.errors import StoreUnavailable
    from bot.store.store import Unit

    done = Unit.outbox_done
    failures = [StoreUnavailable("database unavailable: ConnectionDoesNotExistError")] * 2

    async def outbox_done(self: Unit, *args: Any, **kw: Any) -> Any:
        if failures:  # the session is killed after the post reached Slack: the recording transaction fails
            raise failures.pop()
        return await done(self, *args, **kw)

    monkeypatch.setattr(Unit, "outbox_done", outbox_done)
    outbox = make_outbox(store, fake)
    await enqueue(store, "c1", "v1", op=Op.CARD, card_key="req:1")
    assert await outbox.run_once() == 1
    assert failures == [] and len(fake.posts()) == 1
    ts = fake.posts()[0].response["ts"]
    async with store.unit() as u:
        assert await u.message_ref(Platform.SLACK, DEPLOYS, "req:1") == ts  # the reference survived the failures
    assert await counts(store) == {"sent": 1}
    await enqueue(store, "c2", "v2", op=Op.CARD, card_key="req:1")
    await outbox.run_once()
    assert len(fake.posts()) == 1 and [c.args["ts"] for c in fake.updates()] == [ts]  # updated in place, not again


async def test_recording_a_sent_message_is_not_retried_after_its_lease_ran_out(
        store: Store, fake: SlackFake, monkeypatch: pytest.MonkeyPatch) -> None:
    """The recording retry is meant to stay inside the outbox lease (no other replica may send the row meanwhile).
    Bounded by a count (20 attempts, ~29 s of sleeps) it is not: an unreachable server makes each attempt wait for
    its connect timeout (5 s), ~130 s in all, and a short lease runs out during the sleeps alone. After the lease
    another replica sends the row again and records its own message reference; a late recording here would then
    overwrite that reference with this replica's older message. No attempt may start once the lease has run out."""
    import time

    from bot.errors import StoreUnavailable
    from bot.store.store import Unit

    attempts: list[float] = []

    async def outbox_done(self: Unit, *args: Any, **kw: Any) -> Any:
        attempts.append(time.monotonic())
        raise StoreUnavailable("database unavailable: ConnectionRefusedError")

    monkeypatch.setattr(Unit, "outbox_done", outbox_done)
    lease_s = 1.0  # the sleeps between attempts (0.05 s, doubling) pass it at the sixth attempt
    outbox = make_outbox(store, fake, lease_s=lease_s)
    await enqueue(store, "c1", "v1", op=Op.CARD, card_key="req:1")
    before_lease = time.monotonic()  # the lease is taken after this, by run_once
    with pytest.raises(StoreUnavailable):
        await outbox.run_once()
    assert len(fake.posts()) == 1 and attempts
    assert [round(t - before_lease, 2) for t in attempts if t >= before_lease + lease_s] == []
