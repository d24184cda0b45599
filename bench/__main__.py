"""``python -m bench`` (``make bench``): measure the bot against the machine's own ceiling, in one run.

Order: the ceiling (bare aiohttp), then SQLite, then PostgreSQL, then the ceiling again. Prints a table
(figure | target | met?) and writes ``bench/results.json``. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from bench import card_latency, security_rules, wrk
from bench.loadgen import Generator
from bench.probe import DbProbe
from bench.report import table
from bench.scenarios import CONCURRENCY, WRK_CONNECTIONS, Database, Plan, _phase, bot_a, bot_b
from bench.wrk import Scripts
from sandbox.process import free_port
from sandbox.stack import ROOT, Stack

log = logging.getLogger("bench")
RESULTS = Path(__file__).resolve().parent / "results.json"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


async def ceiling(scripts: Scripts | None, seconds: float) -> dict[str, Any]:
    """bench/hello.py in its own process, measured by wrk at each connection count: with an EventBridge-sized
    body (the EventBridge rows' ceiling), then with the GitHub rows' own requests (theirs)."""
    if scripts is None:
        return {"error": "wrk is not installed"}
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench.hello", str(port)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        async with aiohttp.ClientSession() as s:
            for _ in range(100):
                try:
                    async with s.get(f"http://127.0.0.1:{port}/readyz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
        out: dict[str, Any] = {}
        for conns in WRK_CONNECTIONS:
            out[f"c{conns}"] = await wrk.run(f"http://127.0.0.1:{port}", script=scripts.script("hello", prefix="h"),
                                             connections=conns, seconds=seconds, pids=[proc.pid])
        for conns in WRK_CONNECTIONS:  # the GitHub rows' ceiling: their bodies (~18 KB, not ~0.9 KB) and headers
            out[f"github_c{conns}"] = await wrk.run(
                f"http://127.0.0.1:{port}", script=scripts.script("hello_github", prefix="hg"), connections=conns,
                seconds=seconds, pids=[proc.pid])
        return out
    finally:
        proc.terminate()
        proc.wait(10)


class PgSchema:
    """A fresh schema for one bot, dropped afterwards."""

    def __init__(self, dsn: str) -> None:
        self.dsn, self.name = dsn, f"bench_{uuid.uuid4().hex[:10]}"

    async def __aenter__(self) -> Database:
        conn = await asyncpg.connect(self.dsn)
        try:
            await conn.execute(f'CREATE SCHEMA "{self.name}"')
        finally:
            await conn.close()
        url = f"{self.dsn}?search_path={self.name}"
        self.db = Database(url=url, probe=DbProbe(url, schema=self.name))
        return self.db

    async def __aexit__(self, *exc: object) -> None:
        await self.db.probe.close()
        conn = await asyncpg.connect(self.dsn)
        try:
            await conn.execute(f'DROP SCHEMA "{self.name}" CASCADE')
        finally:
            await conn.close()


class SqliteFile:
    def __init__(self, folder: Path, name: str) -> None:
        self.path = folder / f"{name}.db"

    async def __aenter__(self) -> Database:
        url = f"sqlite:///{self.path}"
        return Database(url=url, probe=DbProbe(url))

    async def __aexit__(self, *exc: object) -> None:
        def remove() -> None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        await asyncio.to_thread(remove)


async def backend(name: str, make_db: Any, gens: tuple[Generator, Generator], plan: Plan, tmp: Path, *,
                  scripts: Scripts | None, args: argparse.Namespace) -> dict[str, Any]:
    stack = Stack(database_url="sqlite:///unused.db", channel_interval=1.0, step_delay=0.05)
    await stack.start_fakes()
    out: dict[str, Any] = {}
    try:
        async with make_db("a") as db:
            out["a"] = await bot_a(stack, db, gens, plan, tmp / f"{name}-a.log", scripts=scripts,
                                   ingest_only=args.ingest_only,
                                   sustained=name == "sqlite" and plan.sustained_seconds > 0)
        if name == "postgres" and args.workers > 1:  # scale-out: the same ingest rows with N processes
            async with make_db("w") as db:
                out["a_workers"] = await bot_a(stack, db, gens, plan, tmp / f"{name}-w.log", scripts=scripts,
                                               workers=args.workers, ingest_only=True)
        if not args.ingest_only:
            async with make_db("b") as db:
                out["b"] = await bot_b(stack, db, gens, plan, tmp / f"{name}-b.log")
    finally:
        await stack.stop()
    return out


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    plan = Plan(seconds=args.seconds, flood_seconds=args.flood_seconds,
                total_events=max(10_000, int(100_000 * args.scale)), sustained_seconds=args.sustained_seconds)
    tmp = Path(tempfile.mkdtemp(prefix="chatops-bench-"))
    gens = (Generator().start(), Generator().start())
    scripts = Scripts(tmp / "wrk").write() if wrk.available() else None
    if scripts is None:
        log.warning("NOTICE: wrk is not installed (make bench installs it when run as root): "
                    "the ceiling and ingest rows are skipped")
    started = time.time()
    results: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "plan": {"wrk": wrk.available() is not None, "workers": args.workers,
                 "seconds": plan.seconds, "flood_seconds": plan.flood_seconds,
                 "sustained_seconds": plan.sustained_seconds, "total_events": plan.total_events,
                 "concurrency": CONCURRENCY, "scale": args.scale},
        "backends": {},
    }
    try:
        results["ceiling"] = [await ceiling(scripts, plan.seconds)]
        if "sqlite" in args.backends:
            results["backends"]["sqlite"] = await backend(
                "sqlite", lambda n: SqliteFile(tmp, f"sqlite-{n}"), gens, plan, tmp, scripts=scripts, args=args)
        if "postgres" in args.backends:
            results["backends"]["postgres"] = await backend(
                "postgres", lambda n: PgSchema(args.postgres), gens, plan, tmp, scripts=scripts, args=args)
        if not args.ingest_only:  # issue 27: webhook -> card (its own bot and fakes), security rules in process
            results["card_latency"] = await _phase("webhook -> card (200 webhooks/s, 50 deployments)",
                                                   card_latency.run(card_latency.parser().parse_args([])))
            log.info("phase security rules (in process)")
            results["security_rules"] = security_rules.run(1.0, repeats=3)
        results["ceiling"].append(await ceiling(scripts, plan.seconds))
    finally:
        for g in gens:
            g.stop()
        if args.keep_logs:
            results["logs"] = str(tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    results["duration_s"] = round(time.time() - started, 1)
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--scale", type=float, default=float(os.environ.get("BENCH_SCALE", "1")),
                   help="fraction of the 100,000-event RSS run (default 1 = 100k; env BENCH_SCALE)")
    p.add_argument("--seconds", type=float, default=5.0, help="length of each throughput phase")
    p.add_argument("--flood-seconds", type=float, default=10.0, help="length of the 1,000 events/s flood")
    p.add_argument("--backends", default="sqlite,postgres", help="comma-separated: sqlite,postgres")
    p.add_argument("--postgres", default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_PG),
                   help="PostgreSQL DSN (a schema is created in it and dropped)")
    p.add_argument("--sustained-seconds", type=float, default=30.0,
                   help="SQLite: a wrk run this long per ingest kind, then the time to drain (0 = skip)")
    p.add_argument("--ingest-only", action="store_true", help="only the ceiling and the wrk ingest rows")
    p.add_argument("--workers", type=int, default=int(os.environ.get("BENCH_WORKERS", "2")),
                   help="PostgreSQL: also measure ingest with N bot processes (serve --workers N; 1 = skip)")
    p.add_argument("--keep-logs", action="store_true", help="keep the bot processes' logs (path in results)")
    p.add_argument("--output", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s bench %(message)s", stream=sys.stderr)
    results = asyncio.run(main_async(args))
    rows = table(results)
    results["table"] = rows
    args.output.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    print(render(rows))
    print(f"\nwrote {args.output} ({results['duration_s']} s)")
    return 0


def render(rows: list[dict[str, Any]]) -> str:
    head = ("figure", "measured", "target", "met?")
    cols = [[r["figure"], r["measured"], r["target"], r["met"]] for r in rows]
    widths = [max(len(str(x)) for x in [h, *(c[i] for c in cols)]) for i, h in enumerate(head)]
    line = " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))
    out = [line, "-+-".join("-" * w for w in widths)]
    out += [" | ".join(str(x).ljust(w) for x, w in zip(c, widths, strict=True)) for c in cols]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
