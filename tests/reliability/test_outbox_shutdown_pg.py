"""An outbox delivery in flight when its replica stops (test_handover_pg's rare "card posted twice").

The shutdown of chatops/app.py: ``stop`` set, ``stop_tasks(tasks, within=GRACE_S)``, then ``release_leases``; then
another replica's outbox takes what was handed back. A card whose chat.postMessage reached Slack must not be handed
back unrecorded, or the other replica posts it again (Slack's chat.postMessage has no idempotency key)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.delivery.outbox import Outbox
from bot.domain import Card, Destination, Op, OutboundMessage, Platform
from bot.egress.slack import SlackSender
from bot.runtime.shutdown import release_leases, stop_tasks
from bot.store.store import Store
from sandbox.slack_fake import SlackFake
from tests.conftest import drop_pg_schema, new_pg_schema, require_postgres

DEPLOYS, OTHER = "C0DEPLOYS", "C0OTHER"
LATENCY = 0.5  # Slack's answer to each write


class Watched(SlackSender):
    """The real SlackSender; says when a send to DEPLOYS has left, and can fail another channel's send."""

    def __init__(self, client: AsyncWebClient) -> None:
        super().__init__(client)
        self.started = asyncio.Event()
        self.fail_other = False

    async def send(self, message: OutboundMessage, *, ref: str | None) -> str | None:
        if message.destination.address == OTHER and self.fail_other:
            await asyncio.sleep(0.1)  # a store or programming error in another channel's delivery, mid-round
            raise RuntimeError("another channel's delivery failed")
        self.started.set()
        return await super().send(message, ref=ref)


@pytest.fixture
async def setup() -> AsyncIterator[tuple[str, SlackFake]]:
    require_postgres()
    schema, url = await new_pg_schema()
    async with SlackFake(known_channels={DEPLOYS, OTHER}) as fake:
        fake.latency = LATENCY
        yield url, fake
    await drop_pg_schema(schema)


async def _replica(url: str, fake: SlackFake) -> tuple[Store, Outbox, Watched]:
    store = await Store.open(url)
    sender = Watched(AsyncWebClient(token=fake.token, base_url=f"{fake.url}/api/"))
    return store, Outbox(store=store, senders={Platform.SLACK: sender}, interval=0.0), sender


async def _card(store: Store, channel: str = DEPLOYS) -> None:
    async with store.unit() as u:
        await u.enqueue(OutboundMessage(f"c1|{channel}", Destination(Platform.SLACK, channel), Op.CARD,
                                        Card(kind="info", title="r-1"), card_key="req:r-1"))


async def _stop_mid_send(url: str, fake: SlackFake, *, grace: float, other_channel: bool = False) -> dict[str, Any]:
    a_store, a, a_sender = await _replica(url, fake)
    await _card(a_store)
    if other_channel:
        await _card(a_store, OTHER)
        a_sender.fail_other = True
    stop = asyncio.Event()
    task = asyncio.create_task(a.run(stop, poll=0.05), name="outbox")
    await asyncio.wait_for(a_sender.started.wait(), 5)  # chat.postMessage is on its way
    await asyncio.sleep(0.2)  # SIGTERM while Slack is still answering (LATENCY)
    stop.set()  # chatops/app.py: stop_intake, then shutdown
    await stop_tasks([task], within=grace)
    await release_leases(a_store, keep_outbox=a.in_flight)  # as chatops/app.py's shutdown does
    b_store, b, _ = await _replica(url, fake)  # the other replica, at once
    await b.run_once()
    await asyncio.sleep(LATENCY + 0.2)  # whatever A had sent has reached Slack (and been recorded) by now
    async with b_store.unit() as u:
        rows = await u.c.fetch("SELECT state, lease_owner FROM outbox WHERE address = ?", DEPLOYS)
    for s in (a_store, b_store):
        await s.close()
    states = [(r["state"], r["lease_owner"] != "") if r["state"] == "pending" else r["state"] for r in rows]
    return {"posts": len(fake.posts(DEPLOYS)), "rows": states}


async def test_a_send_in_flight_at_sigterm_finishes_and_is_recorded_within_the_grace(setup: Any) -> None:
    """The shutdown as it is: the outbox loop saw ``stop`` and finished its send; nothing is handed back."""
    got = await _stop_mid_send(*setup, grace=10.0)
    assert got == {"posts": 1, "rows": ["sent"]}


async def test_a_send_still_in_flight_when_the_grace_ends_is_not_handed_back(setup: Any) -> None:
    """The window: the outbox task is cancelled (``stop_tasks``' grace ran out) after chat.postMessage left and
    before ``_record_sent``; the row is still pending under this replica's lease, and ``release_owned`` used to clear
    it, so the other replica posted the card again."""
    got = await _stop_mid_send(*setup, grace=0.1)
    assert got["posts"] == 1, got
    assert got["rows"] == [("pending", True)], got  # left to its lease: its outcome is unknown


async def test_a_failed_channel_does_not_leave_another_channels_send_running_unowned(setup: Any) -> None:
    """The other window: one channel's delivery raises, ``run_once``'s gather propagates it at once while the other
    channel's send is still running (gather does not cancel it); ``run`` sees ``stop`` and returns, so ``stop_tasks``
    is done at once and ``release_owned`` hands back the row whose post is still on its way."""
    got = await _stop_mid_send(*setup, grace=10.0, other_channel=True)
    assert got == {"posts": 1, "rows": ["sent"]}, got
