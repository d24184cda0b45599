"""The measured scenarios, per storage backend, against the bot as a real process (``python -m bot serve``)."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import wrk
from bench.loadgen import Generator
from bench.payloads import STORM_PRINCIPAL
from bench.probe import DbProbe, card_count, rss_kb, security_calls
from bench.wrk import Scripts
from sandbox.process import BotProcess
from sandbox.stack import Stack, wait_for

log = logging.getLogger("bench")
SECURITY_CHANNEL = "C0SECURITY"
FLOOD_RATE = 1000.0
COMMAND_RATE = 20.0
STORM_EVENTS = 10_000
CONCURRENCY = 16
WRK_CONNECTIONS = (16, 64)


@dataclass
class Plan:
    seconds: float = 5.0  # each throughput phase
    flood_seconds: float = 10.0
    total_events: int = 100_000  # events sent to the second bot (storm included) before its RSS is read
    drain_timeout: float = 120.0
    sustained_seconds: float = 30.0  # issue 17: a run this long at the ingest rate, then the backlog must drain


@dataclass
class Database:
    """One fresh database per bot: a SQLite file, or a PostgreSQL schema created for the run."""

    url: str
    probe: DbProbe


async def _bot(env: dict[str, str], db: Database, log_path: Path) -> BotProcess:
    bot = BotProcess({**env, "DATABASE_URL": db.url}, log_path=log_path)
    await bot.start(timeout=60)
    return bot


async def _verify_recorded(probe: DbProbe, source: str, before: int, fresh: int) -> dict[str, Any]:
    """Every answer that said 'recorded' is a row in the inbox; duplicates added none."""
    rows = await probe.inbox(source) - before
    return {"inbox_rows_added": rows, "answered_recorded": fresh, "consistent": rows == fresh}


async def _phase(name: str, coro: Any) -> dict[str, Any]:
    log.info("phase %s", name)
    t0 = time.monotonic()
    try:
        out: dict[str, Any] = await coro
    except Exception as exc:  # a failed phase is reported, the run goes on
        log.exception("phase %s failed", name)
        out = {"error": f"{type(exc).__name__}: {exc}"}
    out["phase_s"] = round(time.monotonic() - t0, 1)
    return out


async def wrk_ingest(url: str, db: Database, scripts: Scripts, plan: Plan, *, pids: list[int],
                     sustained: bool = False) -> dict[str, Any]:
    """GitHub and EventBridge ingest with wrk at each connection count; after each run the inbox rows are
    counted (every "recorded" answer must be a row) and the workers' backlog is timed until it drains."""
    out: dict[str, Any] = {}
    # EventBridge first: the GitHub rows leave cards queued in the outbox (1 msg/s per channel) that would
    # keep the bot busy during whatever is measured next
    for kind, source in (("events", "security"), ("github", "github")):
        for conns in WRK_CONNECTIONS:
            name = f"{kind}_c{conns}"
            log.info("phase ingest %s (wrk)", name)
            before = await db.probe.inbox(source)
            t0 = time.monotonic()
            r = await wrk.run(url, script=scripts.script(kind, prefix=f"{name}-{time.time_ns()}"),
                              connections=conns, seconds=plan.seconds, pids=pids)
            r["backlog_at_end"] = await db.probe.inbox(source, "pending")
            rec = await _verify_recorded(db.probe, source, before, r["fresh"])
            # wrk stops at its deadline with up to ``conns`` requests in flight: the bot may have committed
            # those rows without wrk counting the answers. Every "recorded" answer must be a row.
            rec["consistent"] = r["fresh"] <= rec["inbox_rows_added"] <= r["fresh"] + conns
            r["recorded"] = rec
            r["worker_drain_s"] = drain = await db.probe.wait_drained(source, timeout=plan.drain_timeout)
            total = time.monotonic() - t0
            r["drained_rps"] = round(r["fresh"] / total, 1) if drain is not None else None
            out[name] = r
    if sustained:
        for kind, source in (("events", "security"), ("github", "github")):
            out[f"{kind}_sustained"] = await _sustained(url, db, scripts, plan, kind=kind, source=source, pids=pids)
    return out


async def _sustained(url: str, db: Database, scripts: Scripts, plan: Plan, *, kind: str, source: str,
                     pids: list[int]) -> dict[str, Any]:
    """wrk c=16 for ``plan.sustained_seconds`` (closed loop: as fast as the bot answers), then the time until
    the worker's backlog is empty. Issue 17: it must drain within as long again as the run."""
    log.info("phase sustained ingest %s for %.0f s (wrk)", kind, plan.sustained_seconds)
    before = await db.probe.inbox(source)
    r = await wrk.run(url, script=scripts.script(kind, prefix=f"{kind}-sustained-{time.time_ns()}"),
                      connections=16, seconds=plan.sustained_seconds, pids=pids)
    r["backlog_at_end"] = await db.probe.inbox(source, "pending")
    r["worker_drain_s"] = await db.probe.wait_drained(source, timeout=max(plan.drain_timeout,
                                                                          2 * plan.sustained_seconds))
    rows = await db.probe.inbox(source) - before
    r["recorded"] = {"inbox_rows_added": rows, "answered_recorded": r["fresh"],
                     "consistent": r["fresh"] <= rows <= r["fresh"] + 16}
    r["seconds"] = plan.sustained_seconds
    return r


async def bot_a(stack: Stack, db: Database, gens: tuple[Generator, Generator], plan: Plan, logs: Path,
                *, scripts: Scripts | None = None, workers: int = 1, ingest_only: bool = False,
                sustained: bool = False) -> dict[str, Any]:
    """Ingest, acks, acks during a flood. One bot (``workers`` processes), phases in sequence."""
    gen, gen2 = gens
    bot = await _bot({**stack.env, "CHATOPS_WORKERS": str(workers)}, db, logs)
    stack.github.webhook_url = f"{bot.url}/github/webhook"
    reply = stack.slack.response_url("bench")
    base = {"base": bot.url}
    out: dict[str, Any] = {"pid": bot.proc.pid if bot.proc else None, "workers": workers}
    try:
        if scripts is not None:
            out["ingest"] = await _phase("ingest (wrk)", wrk_ingest(bot.url, db, scripts, plan, pids=bot.pids(),
                                                                     sustained=sustained))
        else:
            log.warning("NOTICE: wrk is not installed: the ingest rows are skipped (make bench installs it as root)")
        if ingest_only:
            return out
        out["ack_status"] = await _phase("ack status", gen.run(
            {**base, "kind": "slash-status", "mode": "closed", "concurrency": CONCURRENCY,
             "duration": plan.seconds, "response_url": reply}))
        out["ack_open"] = await _phase("ack at a rate", gen.run(
            {**base, "kind": "slash-mix", "mode": "open", "rate": COMMAND_RATE, "duration": plan.seconds,
             "response_url": reply}))

        async def flood() -> dict[str, Any]:
            before = await db.probe.inbox("security")
            flood_job = gen.run({**base, "kind": "events", "mode": "open", "rate": FLOOD_RATE,
                                 "duration": plan.flood_seconds, "tag": f"flood-{time.time_ns()}"})
            await asyncio.sleep(0.5)
            acks = await gen2.run({**base, "kind": "slash-mix", "mode": "open", "rate": COMMAND_RATE,
                                   "duration": plan.flood_seconds - 1.0, "response_url": reply})
            events = await flood_job
            backlog = await db.probe.inbox("security", "pending")
            recorded = await _verify_recorded(db.probe, "security", before, events["fresh"])
            drain = await db.probe.wait_drained("security", timeout=plan.drain_timeout)
            return {"acks": acks, "flood": events, "recorded": recorded, "backlog_at_end": backlog,
                    "worker_drain_s": drain}

        out["flood"] = await _phase("acks during a flood", flood())
        out["ack_deploy"] = await _phase("ack deploy", gen.run(
            {**base, "kind": "slash-deploy", "mode": "closed", "concurrency": CONCURRENCY,
             "duration": plan.seconds, "response_url": reply}))
        out["rss_kb"] = rss_kb(bot.proc.pid) if bot.proc else {}
    finally:
        bot.terminate()
    return out


async def bot_b(stack: Stack, db: Database, gens: tuple[Generator, Generator], plan: Plan, logs: Path,
                ) -> dict[str, Any]:
    """An alert storm, then events up to ``plan.total_events``; peak RSS of the process at the end."""
    gen, _ = gens
    bot = await _bot(stack.env, db, logs)
    stack.github.webhook_url = f"{bot.url}/github/webhook"
    pid = bot.proc.pid if bot.proc else 0
    out: dict[str, Any] = {"pid": pid}
    samples: list[tuple[float, int, int]] = []  # (events sent so far, VmRSS kB, VmHWM kB)
    try:
        async def storm() -> dict[str, Any]:
            since = time.time()
            teams_before = len(stack.teams.posts)
            first_alert: float | None = None
            job = asyncio.ensure_future(gen.run(
                {"base": bot.url, "kind": "events-denied", "mode": "open", "rate": FLOOD_RATE,
                 "duration": STORM_EVENTS / FLOOD_RATE, "principal": STORM_PRINCIPAL,
                 "tag": f"storm-{time.time_ns()}"}))
            while not job.done():
                if first_alert is None:
                    posts = [c for c in security_calls(stack.slack, SECURITY_CHANNEL, since)
                             if c.method == "chat.postMessage" and c.ok]
                    first_alert = posts[0].at if posts else None
                await asyncio.sleep(0.02)
            sent = await job
            try:
                await wait_for(lambda: card_count(stack.slack, SECURITY_CHANNEL) >= sent["fresh"], timeout=90,
                               what="the storm card's final count")
            except TimeoutError:
                log.warning("storm card did not reach %s within 90 s", sent["fresh"])
            settled = time.time()
            await asyncio.sleep(2.5)  # anything still trickling out after the card is final counts too
            calls = security_calls(stack.slack, SECURITY_CHANNEL, since)
            posts = [c for c in calls if c.method == "chat.postMessage" and c.ok]
            if first_alert is None and posts:
                first_alert = posts[0].at
            window = settled - sent["first_sent"]
            return {
                "sent": sent, "groups": len(posts), "chat_calls": len(calls),
                "chat_posts": len(posts), "chat_updates": len(calls) - len(posts),
                "time_to_first_alert_s": round(first_alert - sent["first_sent"], 3) if first_alert else None,
                "storm_send_s": round(sent["last_sent"] - sent["first_sent"], 2),
                "first_event_to_final_card_s": round(window, 2),
                "final_count_on_card": card_count(stack.slack, SECURITY_CHANNEL),
                "events_recorded": sent["fresh"],
                "teams_calls": len(stack.teams.posts) - teams_before,
            }

        out["storm"] = await _phase("alert storm", storm())
        sent_so_far = STORM_EVENTS
        samples.append((sent_so_far, *_rss(pid)))

        async def volume() -> dict[str, Any]:
            nonlocal sent_so_far
            remaining = max(0, plan.total_events - sent_so_far)
            chunk = 10_000
            results = []
            t0 = time.monotonic()
            while remaining > 0:
                n = min(chunk, remaining)
                r = await gen.run({"base": bot.url, "kind": "events", "mode": "closed", "concurrency": CONCURRENCY,
                                   "count": n, "denied_every": 10, "principals": 20,
                                   "tag": f"vol-{time.time_ns()}"})
                results.append(r)
                remaining -= n
                sent_so_far += n
                samples.append((sent_so_far, *_rss(pid)))
            drain = await db.probe.wait_drained("security", timeout=plan.drain_timeout)
            samples.append((sent_so_far, *_rss(pid)))
            return {"events_sent": sum(r["n"] for r in results), "errors": sum(r["errors"] for r in results),
                    "send_s": round(time.monotonic() - t0, 1),
                    "rps": round(sum(r["n"] for r in results) / max(1e-9, sum(r["elapsed_s"] for r in results)), 1),
                    "worker_drain_s": drain}

        out["volume"] = await _phase("100k events", volume())
        out["events_total"] = sent_so_far
        out["rss_samples"] = [{"events": e, "rss_kb": r, "hwm_kb": h} for e, r, h in samples]
        out["rss_kb"] = rss_kb(pid)
    finally:
        bot.terminate()
    return out


def _rss(pid: int) -> tuple[int, int]:
    r = rss_kb(pid)
    return r.get("VmRSS", 0), r.get("VmHWM", 0)
