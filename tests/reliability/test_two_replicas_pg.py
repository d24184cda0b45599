"""Two bot processes on one PostgreSQL schema: concurrent approvals of the same request on both replicas, and
floods of GitHub webhooks and EventBridge events delivered to both at once, give no double dispatch and no
double chat message (one card per request or alert per channel)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.store.store import Store
from sandbox.process import BotProcess
from sandbox.stack import SANDBOX_SECRETS, Stack, card_of, message_text
from tests.conftest import drop_pg_schema, new_pg_schema, require_postgres
from tests.reliability.helpers import access_denied, envelope, request_id, write_config

API_KEY = SANDBOX_SECRETS["CHATOPS_EVENTS_API_KEY"]


class FanOut:
    """Stands in for the load balancer in front of the replicas: every GitHub delivery goes to both at once."""

    def __init__(self, targets: list[str]) -> None:
        self.targets = targets
        self.runner: web.AppRunner | None = None
        self.url = ""
        self.session: aiohttp.ClientSession | None = None
        self.statuses: list[int] = []

    async def start(self) -> None:
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))

        async def forward(request: web.Request) -> web.Response:
            body = await request.read()
            headers = {k: v for k, v in request.headers.items()
                       if k.lower().startswith("x-") or k.lower() == "content-type"}

            async def one(url: str) -> tuple[int, str]:
                assert self.session is not None
                async with self.session.post(f"{url}/github/webhook", data=body, headers=headers) as resp:
                    return resp.status, await resp.text()

            answers = await asyncio.gather(*(one(u) for u in self.targets))
            self.statuses.extend(s for s, _ in answers)
            status, text = answers[0]
            return web.Response(status=status, text=text, content_type="application/json")

        app = web.Application()
        app.router.add_post("/github/webhook", forward)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}/github/webhook"

    async def stop(self) -> None:
        if self.session is not None:
            await self.session.close()
        if self.runner is not None:
            await self.runner.cleanup()


async def poll(check: Callable[[], Awaitable[bool]], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.1)


async def fetch(store: Store, sql: str, *args: Any) -> list[Any]:
    async with store.unit() as u:
        return list(await u.c.fetch(sql, *args))


async def test_two_replicas_never_double_dispatch_or_double_post(tmp_path: Path) -> None:
    require_postgres()
    schema, url = await new_pg_schema()
    config = write_config(tmp_path, card_update_interval=0.3)
    stack = Stack(database_url=url, config_path=config, step_delay=0.02)
    await stack.start_fakes()
    replicas = [BotProcess(stack.env, config=config, log_path=tmp_path / f"bot-{n}.log") for n in "ab"]
    fanout = FanOut([r.url for r in replicas])
    store: Store | None = None
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
    try:
        await asyncio.gather(*(r.start() for r in replicas))  # both migrate at once: the advisory lock decides
        await fanout.start()
        stack.github.webhook_url = fanout.url
        store = await Store.open(url)
        a, b = replicas

        # production deploys requested on alternating replicas
        answers = await asyncio.gather(*(
            stack.slack.send_command(f"{replicas[i % 2].url}/slack/events", "/deploy",
                                     f"{['api', 'web', 'worker'][i % 3]} v1.4.2 to production",
                                     user_id="U0DEV", channel_id="C0DEPLOYS", key=f"cmd{i}")
            for i in range(6)))
        assert all(s == 200 for s, _ in answers), answers
        ids = [request_id(json.loads(t)) for _, t in answers]

        async def all_in(states: set[str]) -> bool:
            got = {r["id"]: r["state"] for r in await fetch(store, "SELECT id, state FROM requests")}
            return all(got.get(i) in states for i in ids)

        await poll(lambda: all_in({"pending_approval"}), timeout=20, what="requests waiting for approval")

        # every request: both approvers click on both replicas at the same moment (4 clicks, 2 people)
        clicks = [stack.slack.send_action(f"{r.url}/slack/events", "approve", rid, user_id=user,
                                          channel_id="C0APPROVALS", message_ts="1700000000.000100",
                                          key=f"{rid}-{user}-{n}")
                  for rid in ids for n, r in enumerate(replicas) for user in ("U0LEAD", "U0SRE")]
        assert all(s == 200 for s, _ in await asyncio.gather(*clicks))
        await poll(lambda: all_in({"succeeded"}), timeout=40, what="every request to succeed")

        # a flood of CloudTrail events: each sent to both replicas at once, and each eventID once more in a
        # different envelope to the other replica; 4 principals = 4 alert groups
        records = [access_denied(user=f"flood-{i % 4}") for i in range(80)]

        async def post_event(target: BotProcess, body: dict[str, Any]) -> int:
            async with session.post(f"{target.url}/aws/events", data=json.dumps(body).encode(),
                                    headers={"x-api-key": API_KEY, "Content-Type": "application/json"}) as resp:
                return resp.status

        sends = []
        for i, rec in enumerate(records):
            env = envelope(rec)
            sends += [post_event(a, env), post_event(b, env), post_event(replicas[i % 2], envelope(rec))]
        statuses = await asyncio.gather(*sends)
        assert set(statuses) == {200}, Counter(statuses)

        async def quiet() -> bool:
            left = await fetch(store, "SELECT COUNT(*) AS n FROM inbox WHERE state = 'pending' UNION ALL "
                                      "SELECT COUNT(*) FROM outbox WHERE state = 'pending' UNION ALL "
                                      "SELECT COUNT(*) FROM security_alerts WHERE dirty = 1")
            return all(int(r["n"]) == 0 for r in left)

        await stack.github.wait_idle(20)
        await poll(quiet, timeout=40, what="inbox and outbox to drain")
        await asyncio.sleep(1.0)
        await poll(quiet, timeout=20, what="inbox and outbox to drain (again)")

        # no double dispatch
        assert Counter(d.inputs["request_id"] for d in stack.github.dispatches) == Counter(dict.fromkeys(ids, 1))
        # one approval wins per request; everyone gets one answer per click
        approved = await fetch(store, "SELECT request_id, COUNT(*) AS n FROM approvals GROUP BY request_id")
        assert {r["request_id"]: int(r["n"]) for r in approved} == dict.fromkeys(ids, 1)
        for rid in ids:
            replies = [t["text"] for k in (f"{rid}-{u}-{n}" for u in ("U0LEAD", "U0SRE") for n in range(2))
                       for t in stack.slack.responses(k)]
            assert len(replies) == 4, (rid, replies)
            assert sum("starting the workflow" in t for t in replies) == 1, (rid, replies)
        # one card per request per channel, posted once, showing the end state
        for channel in ("C0APPROVALS", "C0DEPLOYS"):
            for rid in ids:
                cards = [m for m in stack.card_messages(channel) if card_of(m.blocks, rid)]
                assert len(cards) == 1, (channel, rid, len(cards))
                assert "succeeded" in message_text(cards[0])
                assert sum(card_of(c.args.get("blocks"), rid) for c in stack.slack.posts(channel)) == 1
        # every GitHub delivery recorded once although both replicas got it
        deliveries = {d.delivery_id for d in stack.github.deliveries}
        gh = await fetch(store, "SELECT key FROM inbox WHERE source = 'github'")
        assert sorted(r["key"] for r in gh) == sorted(f"gh:{d}" for d in deliveries)
        assert fanout.statuses and all(s < 500 for s in fanout.statuses), Counter(fanout.statuses)
        # security: one event per eventID, one alert per group, one card per alert
        events = await fetch(store, "SELECT event_id FROM security_events")
        assert sorted(r["event_id"] for r in events) == sorted(r["eventID"] for r in records)
        alerts = await fetch(store, "SELECT id, principal, event_count FROM security_alerts")
        by_group = Counter(r["principal"] for r in alerts)
        assert by_group == Counter({f"arn:aws:iam::123456789012:user/flood-{i}": 1 for i in range(4)}), by_group
        assert sorted(int(r["event_count"]) for r in alerts) == [20, 20, 20, 20]
        posts = stack.slack.posts("C0SECURITY")
        assert len(posts) == len(alerts)
        for alert in alerts:
            assert sum(alert["id"] in str(c.args.get("blocks")) for c in posts) == 1, alert["id"]
    finally:
        for r in replicas:
            r.kill()
        await session.close()
        await fanout.stop()
        if store is not None:
            await store.close()
        await stack.stop()
        await drop_pg_schema(schema)
