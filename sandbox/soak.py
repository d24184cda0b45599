"""Fault-injection soak (issue 24 item 6): ``python -m sandbox.soak --seconds 600`` (``make soak``).

Two replicas (``python -m bot serve``) on one PostgreSQL schema behind a loopback fail-over proxy, the sandbox fakes
of Slack, GitHub and Teams, and mixed traffic (slash commands that start deploys, an approver clicking Approve on
every production request's approval card, the GitHub webhooks the runs send, CloudTrail events) while 10 % of the
webhooks are dropped (the reconciler must find those runs) and a schedule injects faults: GitHub API 500s and
timeouts, Slack 429 and 500, Teams 429, SIGKILL of a replica (restarted), killed database sessions and a chat
outage. Senders retry what was refused with the same identity (EventBridge ``id``, Slack ``trigger_id`` and
``action_ts``).
Afterwards it waits for the bot to settle and checks the invariants; it prints a table and returns it.

Loopback only; bounded in time (``--seconds`` of traffic, then at most ``settle`` seconds to finish).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from sandbox.github_fake import DEFAULT_TAGS
from sandbox.process import BotProcess
from sandbox.proxy import FailoverProxy
from sandbox.stack import EXAMPLE_CONFIG, SANDBOX_SECRETS, Stack, card_of, message_text

PG_DSN = os.environ.get("CHATOPS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
API_KEY = SANDBOX_SECRETS["CHATOPS_EVENTS_API_KEY"]
FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "cloudtrail" / \
    "access-denied.states-DeleteStateMachine.awsdocs.json"
FINAL = ("succeeded", "failed", "cancelled", "lost")
REQ = re.compile(r"`(r-[a-z0-9]{8})`")
DROP_RATE = 0.10  # share of the webhooks the GitHub fake drops (a 502 from "the load balancer", never redelivered)
DISPATCHES = r"/actions/workflows/[^/]+/dispatches$"
# GitHub API timeouts, injected together: a dispatch GitHub ran although its answer was the timeout (the bot must
# find that run, not start a second one), one it terminated before it ran, and a read (the ref the bot resolves)
TIMEOUTS = ((DISPATCHES, True), (DISPATCHES, False), (r"/commits/[^/]+$", False))
# The schedule's kinds, one every 5 s in turn from the traffic's first second (see Soak.inject). Three are slow to
# recover from, by design: a dispatch that failed (500, timeout) is looked up and retried once its lease
# (bot.deploys.dispatch.DISPATCH_LEASE_S, 60 s) has run out, and what a SIGKILLed replica held (webhooks: 60 s; the
# reconcile job: 15 s here) waits for its lease too. They come first and are not injected in the traffic's last
# 90 s (the short run: after its first 15 s), so that a run ends within its settle time.
KINDS = 7
OUTAGE_S = 10.0
SLOW_KINDS, SLOW_QUIET_S = (0, 1, 2), 90.0


@dataclass
class Soak:
    stack: Stack
    replicas: list[BotProcess]
    proxy: FailoverProxy
    app_name: str
    session: aiohttp.ClientSession
    faults: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    events: list[str] = field(default_factory=list)  # acknowledged CloudTrail eventIDs
    requests: dict[str, str] = field(default_factory=dict)  # trigger_id -> request id, acknowledged commands
    clicks: dict[str, bool] = field(default_factory=dict)  # request id -> the Approve click was acknowledged
    clickers: list[asyncio.Task[None]] = field(default_factory=list)
    given_up: int = 0
    restarts: list[asyncio.Task[None]] = field(default_factory=list)

    # ------------------------------------------------------------------ traffic
    async def event(self) -> None:
        record = json.loads(FIXTURE.read_text(encoding="utf-8"))
        record["eventID"] = str(uuid.uuid4())
        record["userIdentity"]["arn"] = f"arn:aws:iam::123456789012:user/soak-{random.randrange(8)}"
        record["eventTime"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        body = json.dumps({"version": "0", "id": str(uuid.uuid4()), "detail-type": "AWS API Call via CloudTrail",
                           "source": "aws.states", "account": "123456789012", "time": record["eventTime"],
                           "region": "us-east-1", "resources": [], "detail": record}).encode()
        for _ in range(100):
            try:
                async with self.session.post(f"{self.proxy.url}/aws/events", data=body, headers={
                        "x-api-key": API_KEY, "Content-Type": "application/json"}) as r:
                    self.statuses[f"events {r.status}"] += 1
                    if r.status == 200:
                        self.events.append(record["eventID"])
                        return
            except aiohttp.ClientError:
                self.statuses["events connection error"] += 1
            await asyncio.sleep(0.2)  # EventBridge retries too, with backoff
        self.given_up += 1

    async def command(self, i: int) -> None:
        trigger = f"soak-{i}-{uuid.uuid4().hex[:8]}"
        service, env = random.choice(("api", "web", "worker")), random.choice(("dev", "staging", "production"))
        version = random.choice(DEFAULT_TAGS)  # tags the GitHub fake has
        for _ in range(100):
            try:
                status, body = await self.stack.slack.send_command(
                    f"{self.proxy.url}/slack/events", "/deploy", f"{service} {version} to {env}", user_id="U0DEV",
                    channel_id="C0DEPLOYS", key=trigger, trigger_id=trigger)
            except aiohttp.ClientError:
                status, body = 0, ""
            self.statuses[f"commands {status}"] += 1
            found = REQ.search(body)
            if status == 200 and found:
                self.requests[trigger] = found.group(1)
                return
            if status == 200 and "Already received" in body:  # an earlier try was applied; its answer was lost
                self.requests[trigger] = ""
                return
            await asyncio.sleep(0.3)  # a person trying again
        self.given_up += 1

    def approval_cards(self) -> list[tuple[str, str]]:
        """(request id, message ts) of each approval card that shows an Approve button."""
        found = []
        for m in self.stack.card_messages("C0APPROVALS"):
            buttons = [el for b in m.blocks or [] if b.get("type") == "actions" for el in b.get("elements") or []]
            found += [(el["value"], m.ts) for el in buttons
                      if el.get("action_id") == "approve" and isinstance(el.get("value"), str)]
        return found

    async def approver(self) -> None:
        """A person in the approvers group clicks Approve on every approval card once (also on the cards of
        requests whose command answer was lost: the approver goes by the cards, not by the answers)."""
        while True:
            for rid, ts in self.approval_cards():
                if rid not in self.clicks:
                    self.clicks[rid] = False
                    self.clickers.append(asyncio.create_task(self.click(rid, ts)))
            await asyncio.sleep(0.3)

    async def click(self, rid: str, ts: str) -> None:
        trigger, action_ts = f"soak-click-{uuid.uuid4().hex[:12]}", f"{time.time():.6f}"
        for _ in range(100):
            try:
                status, _ = await self.stack.slack.send_action(
                    f"{self.proxy.url}/slack/events", "approve", rid, user_id="U0LEAD", channel_id="C0APPROVALS",
                    message_ts=ts, key=trigger, trigger_id=trigger, action_ts=action_ts)
            except (aiohttp.ClientError, TimeoutError):
                status = 0
            self.statuses[f"clicks {status}"] += 1
            if status == 200:  # Slack shows a failed click to the person, who clicks again: the same identity here
                self.clicks[rid] = True
                return
            await asyncio.sleep(0.3)
        self.given_up += 1

    # ------------------------------------------------------------------ faults
    async def kill_sessions(self) -> None:
        conn = await asyncpg.connect(PG_DSN)
        try:
            rows = await conn.fetch(
                "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE datname = current_database() "
                "AND application_name = $1 AND pid <> pg_backend_pid()", self.app_name)
        finally:
            await conn.close()
        self.faults["database sessions killed"] += sum(1 for r in rows if r["ok"])

    async def sigkill_and_restart(self, n: int) -> None:
        replica = self.replicas[n % len(self.replicas)]
        await asyncio.to_thread(replica.kill)
        self.faults["replica SIGKILL"] += 1
        await replica.start(timeout=60)

    async def inject(self, kind: int, step: int) -> None:
        github, slack, teams = self.stack.github, self.stack.slack, self.stack.teams
        if kind == 0:
            for path, processed in TIMEOUTS:
                github.time_out(path, processed=processed)
            self.faults["GitHub API timeout (504 after 10 s)"] += len(TIMEOUTS)
        elif kind == 1:
            github.fail(DISPATCHES, 500, times=2)
            self.faults["GitHub API 500"] += 2
        elif kind == 2:
            self.restarts.append(asyncio.create_task(self.sigkill_and_restart(step)))
        elif kind == 3:
            slack.fail("chat.postMessage", 429, times=3, retry_after=1)
            slack.fail("chat.update", 500, times=3)
            self.faults["Slack 429/500"] += 6
        elif kind == 4:
            teams.fail(".*", 429, times=3, retry_after=1)
            self.faults["Teams 429"] += 3
        elif kind == 5:
            await self.kill_sessions()
        else:
            self.restarts.append(asyncio.create_task(self.chat_outage()))

    async def chat_outage(self) -> None:
        """Slack's API answers 500 to every call for OUTAGE_S. (Counted in calls instead, an outage never ended in a
        long run: the outbox backs off, so the failed calls came ever more slowly and the next outage began before
        the last one was used up.)"""
        self.faults[f"chat outage (Slack down {OUTAGE_S:.0f} s)"] += 1
        self.stack.slack.down()
        try:
            await asyncio.sleep(OUTAGE_S)
        finally:
            self.stack.slack.up()

    # ------------------------------------------------------------------ end state
    async def db_rows(self, sql: str) -> list[dict[str, Any]]:
        url = self.stack.database_url
        conn = await asyncpg.connect(url.split("&application_name=")[0])
        try:
            return [dict(r) for r in await conn.fetch(sql)]
        finally:
            await conn.close()

    def cards(self, rid: str) -> list[str]:
        """The text of each message in the deploys channel that is the card of ``rid`` (not a note naming it)."""
        return [message_text(m) for m in self.stack.card_messages("C0DEPLOYS") if card_of(m.blocks, rid)]

    def card_final(self, rid: str, state: str) -> bool:
        """The request's one card shows its final state (the state the database holds)."""
        cards = self.cards(rid)
        return state in FINAL and len(cards) == 1 and state in cards[0].lower()

    async def settled(self) -> bool:
        pending = await self.db_rows(
            "SELECT (SELECT COUNT(*) FROM inbox WHERE state = 'pending') + (SELECT COUNT(*) FROM outbox "
            "WHERE state = 'pending') AS n")
        states = await self.db_rows("SELECT id, state FROM requests")
        return int(pending[0]["n"]) == 0 and all(self.card_final(r["id"], r["state"]) for r in states)


async def _new_schema() -> tuple[str, str]:
    schema = f"soak_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(PG_DSN)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()
    return schema, f"{PG_DSN}{'&' if '?' in PG_DSN else '?'}search_path={schema}"


async def _drop_schema(schema: str) -> None:
    conn = await asyncpg.connect(PG_DSN)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


def _config(tmp: Path) -> Path:
    path = tmp / "chatops.yml"
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8").replace(
        "github: {repository: acme/platform}", "github: {repository: acme/platform, reconcile_after: 5s}")
    path.write_text(text + "  card_update_interval: 0.5\n", encoding="utf-8")
    return path


async def run(seconds: float, *, settle: float = 180.0, workdir: Path | None = None) -> dict[str, Any]:
    """Run the soak; returns the report (also printed by ``main``)."""
    tmp = workdir or Path(tempfile.mkdtemp(prefix="chatops-soak-"))
    schema, url = await _new_schema()
    app_name = f"chatops-soak-{uuid.uuid4().hex[:8]}"
    stack = Stack(database_url=f"{url}&application_name={app_name}", config_path=_config(tmp), step_delay=0.05)
    stack.github.hooks.drop_rate = DROP_RATE
    await stack.start_fakes()
    # time is compressed: the outbox backs off as in production but caps at 10 s (default 300 s), so a chat outage
    # a few seconds long is caught up within the settle time
    env = {**stack.env, "CHATOPS_OUTBOX_MAX_BACKOFF": "10"}
    replicas = [BotProcess(env, config=stack.config_path, log_path=tmp / f"bot-{n}.log") for n in "ab"]
    proxy = FailoverProxy([r.url for r in replicas])
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))
    soak = Soak(stack, replicas, proxy, app_name, session)
    approver = asyncio.create_task(soak.approver())
    try:
        await asyncio.gather(*(r.start(timeout=60) for r in replicas))
        await proxy.start()
        stack.url = proxy.url
        stack.github.webhook_url = f"{proxy.url}/github/webhook"
        started = time.monotonic()  # the traffic's start (the replicas are up)
        senders: list[asyncio.Task[None]] = []
        step, faults = 0, 0
        next_fault = started + 1.0
        while time.monotonic() - started < seconds:
            senders.append(asyncio.create_task(soak.event()))
            if step % 4 == 0:
                senders.append(asyncio.create_task(soak.command(step)))
            if time.monotonic() >= next_fault:
                late = time.monotonic() - started >= max(15.0, seconds - SLOW_QUIET_S)
                kinds = [k for k in range(KINDS) if not (late and k in SLOW_KINDS)]
                await soak.inject(kinds[faults % len(kinds)], faults)
                faults += 1
                next_fault = time.monotonic() + 5.0
            step += 1
            await asyncio.sleep(0.25)
        await asyncio.gather(*senders, *soak.restarts)
        traffic_s = time.monotonic() - started
        settling = time.monotonic()
        deadline = settling + settle
        while time.monotonic() < deadline:
            if await soak.settled():
                break
            await asyncio.sleep(0.5)
        approver.cancel()
        await asyncio.gather(*soak.clickers)
        settle_s = time.monotonic() - settling
        return await report(soak, traffic_s=traffic_s, settle_s=settle_s, settled=await soak.settled())
    finally:
        for task in (approver, *soak.clickers):
            task.cancel()
        await session.close()
        for r in replicas:
            await asyncio.to_thread(r.terminate)
        await proxy.stop()
        await stack.stop()
        await _drop_schema(schema)


async def report(soak: Soak, *, traffic_s: float, settle_s: float, settled: bool) -> dict[str, Any]:
    per_event = {r["event_id"]: int(r["n"]) for r in await soak.db_rows(
        "SELECT event_id, COUNT(*) AS n FROM security_events GROUP BY event_id")}
    counted = await soak.db_rows("SELECT COALESCE(SUM(event_count), 0) AS n FROM security_alerts")
    requests = {r["id"]: r["state"] for r in await soak.db_rows("SELECT id, state FROM requests")}
    dispatches = Counter(v for d in soak.stack.github.dispatches for v in d.inputs.values() if v in requests)
    approvals = Counter(r["request_id"] for r in await soak.db_rows(
        "SELECT request_id FROM approvals WHERE decision = 'approve'"))
    gated = [r["id"] for r in await soak.db_rows("SELECT id FROM requests WHERE approvals_required > 0")]
    clicked = [rid for rid, ok in soak.clicks.items() if ok]
    hooks = soak.stack.github.hooks
    sent = sum(1 for d in hooks.deliveries if not d.redelivery)
    acked = len(soak.requests)  # commands acknowledged (some only as "Already received": id unknown to the sender)
    # an acknowledged click without its approval is lost (a request whose approval card never reached chat, so that
    # nobody could click, is unfinished: "settled" is false); a second approval of one request, or an approval
    # nobody's acknowledged click made, is duplicated
    lost = (sum(1 for e in soak.events if e not in per_event) + max(0, acked - len(requests))
            + sum(1 for r in soak.requests.values() if r and r not in requests) + soak.given_up
            + sum(1 for rid in clicked if approvals.get(rid, 0) == 0))
    duplicated = (sum(n - 1 for n in per_event.values()) + sum(n - 1 for n in dispatches.values())
                  + max(0, len(requests) - acked) + sum(n - 1 for n in approvals.values())
                  + sum(max(0, len(soak.cards(r)) - 1) for r in requests)
                  + sum(1 for rid in approvals if rid not in clicked))
    rows = {
        "traffic seconds": round(traffic_s, 1),
        "seconds to settle after the traffic": round(settle_s, 1),
        "security events acknowledged": len(soak.events),
        "security events recorded exactly once": sum(1 for e in soak.events if per_event.get(e) == 1),
        "security events counted on alerts": int(counted[0]["n"]),
        "commands acknowledged": acked,
        "requests created": len(requests),
        "requests dispatched exactly once": sum(1 for r in requests if dispatches.get(r) == 1),
        "cards showing a final state": sum(1 for r, state in requests.items() if soak.card_final(r, state)),
        "cards posted more than once": sum(1 for r in requests if len(soak.cards(r)) > 1),
        "requests needing approval": len(gated),
        "approve clicks acknowledged": len(clicked),
        "approvals recorded exactly once": sum(1 for rid in clicked if approvals.get(rid) == 1),
        "approved requests dispatched exactly once": sum(1 for rid in clicked if dispatches.get(rid) == 1),
        "webhooks sent": sent,
        "webhooks dropped (10 % at random)": f"{hooks.dropped} ({hooks.dropped / max(1, sent):.1%})",
        "settled": settled,
        **{f"requests {state}": n for state, n in sorted(Counter(requests.values()).items())},
        "outbox pending": int((await soak.db_rows(
            "SELECT COUNT(*) AS n FROM outbox WHERE state = 'pending'"))[0]["n"]),
        **{f"fault: {k}": v for k, v in sorted(soak.faults.items())},
        **{f"answers: {k}": v for k, v in sorted(soak.statuses.items())},
        "lost": lost,
        "duplicated": duplicated,
    }
    return rows


def render(rows: dict[str, Any]) -> str:
    width = max(len(k) for k in rows)
    return "\n".join(f"| {k.ljust(width)} | {v} |" for k, v in rows.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    args = parser.parse_args()
    rows = asyncio.run(run(args.seconds))
    print(render(rows))
    raise SystemExit(0 if rows["lost"] == 0 and rows["duplicated"] == 0 and rows["settled"] else 1)


if __name__ == "__main__":
    main()
