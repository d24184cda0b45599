"""SIGKILL between accepting commands and delivering their messages loses nothing and duplicates nothing."""

from __future__ import annotations

import asyncio
from collections import Counter

from sandbox.process import BotProcess
from sandbox.stack import Stack, card_of, message_text, wait_for


async def test_sigkill_during_a_burst_then_restart_delivers_everything_once(tmp_path) -> None:
    stack = Stack(database_url=f"sqlite:///{tmp_path}/bot.db", step_delay=0.02)
    await stack.start_fakes()
    bot = BotProcess(stack.env, log_path=tmp_path / "bot.log")
    try:
        await bot.start()
        stack.url = bot.url
        stack.github.webhook_url = f"{bot.url}/github/webhook"
        stack.slack.down()  # nothing can be delivered yet: every message stays in the outbox
        services = ["api", "web", "worker"]
        answers = await asyncio.gather(*(
            stack.command("U0DEV", f"{services[i % 3]} v1.4.2 to {['dev', 'staging'][i % 2]}", key=f"c{i}")
            for i in range(12)
        ))
        assert all(status == 200 and "Request" in body["text"] for status, body in answers), answers
        ids = [body["text"].split("`")[1] for _, body in answers]
        await asyncio.sleep(0.3)
        bot.kill()

        stack.slack.up()
        bot2 = BotProcess(stack.env, log_path=tmp_path / "bot.log")
        await bot2.start()
        stack.github.webhook_url = f"{bot2.url}/github/webhook"
        # webhooks GitHub sent while no bot listened failed (GitHub does not retry them): redeliver them, as an
        # operator does from the App's "Recent deliveries" (or its redelivery API)
        for delivery in [d for d in stack.github.deliveries if d.status is None and not d.redelivery]:
            await stack.github.redeliver(delivery.delivery_id)
        try:
            await wait_for(lambda: all(
                any(rid in message_text(m) and "succeeded" in message_text(m) for m in stack.card_messages("C0DEPLOYS"))
                for rid in ids), timeout=150, what="every request's card shows success")
            # 150 s: what the killed bot had claimed waits for its lease (a dispatch: DISPATCH_LEASE_S, 60 s;
            # webhooks: 60 s), then the run and its cards; a kill that lands mid-claim took 64 s in one CI run
        finally:
            bot2.terminate()
        per_request = Counter(rid for m in stack.card_messages("C0DEPLOYS") for rid in ids if card_of(m.blocks, rid))
        assert per_request == Counter({rid: 1 for rid in ids}), "each request has exactly one card"
        dispatched = Counter(d.inputs["request_id"] for d in stack.github.dispatches)
        assert dispatched == Counter({rid: 1 for rid in ids}), "each request dispatched exactly once"
        posts = Counter(c.args["channel"] for c in stack.slack.posts())
        assert posts["C0DEPLOYS"] == len(ids)
    finally:
        bot.kill()
        await stack.stop()
