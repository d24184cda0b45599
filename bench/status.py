"""``python -m bench.status``: ``/deploy status`` with 16 in flight, on its own (issue 27 item 3).

The same figure as ``make bench``'s "ack /deploy status, c=16" row, in ~1 minute and repeatable: one bot process on
a fresh SQLite file (or PostgreSQL with ``--postgres DSN``), first **wrk's GitHub ingest for ``--seed-seconds``**
(as in ``make bench``, where it runs first: it leaves thousands of tracked runs in flight, each one an open request
that a status reads, and their cards queued behind the channel rate limit), the worker's backlog drained, then
signed ``/deploy status`` commands closed loop at c=16 for ``--seconds``, ``--repeats`` times. Prints p50/p99 per
repeat and the number of open requests. ``--bot-root DIR`` measures another checkout's bot the same way (the
"before" column of docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import wrk
from bench.loadgen import Generator
from bench.probe import DbProbe
from bench.wrk import Scripts
from bot.domain import RequestState
from sandbox.process import BotProcess
from sandbox.stack import Stack


async def run(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="chatops-bench-status-"))
    url = args.postgres or f"sqlite:///{tmp / 'status.db'}"
    stack = Stack(database_url="sqlite:///unused.db", channel_interval=1.0, step_delay=0.05)
    await stack.start_fakes()
    gen = Generator().start()
    out: dict[str, Any] = {"database": "postgres" if args.postgres else "sqlite", "repeats": []}
    probe = DbProbe(url)
    try:
        env = {**stack.env, "DATABASE_URL": url}
        bot = BotProcess(env, log_path=tmp / "bot.log")
        await bot.start(timeout=60)
        stack.github.webhook_url = f"{bot.url}/github/webhook"
        try:
            if args.seed_seconds > 0 and wrk.available():
                scripts = Scripts(tmp / "wrk").write()
                seed = await wrk.run(bot.url, script=scripts.script("github", prefix=f"seed-{time.time_ns()}"),
                                     connections=16, seconds=args.seed_seconds, pids=bot.pids())
                out["seed"] = {"fresh": seed.get("fresh"), "drain_s": await probe.wait_drained("github",
                                                                                                timeout=120)}
            open_states = [s.value for s in RequestState if not s.final]
            out["open_requests"] = await probe.scalar(
                f"SELECT COUNT(*) FROM requests WHERE state IN ({', '.join(repr(s) for s in open_states)})")
            reply = stack.slack.response_url("bench")
            for _ in range(args.repeats):
                r = await gen.run({"base": bot.url, "kind": "slash-status", "mode": "closed", "concurrency": 16,
                                   "duration": args.seconds, "response_url": reply})
                out["repeats"].append({"n": r.get("n"), "errors": r.get("errors"), "latency_ms": r.get("latency_ms")})
        finally:
            bot.terminate()
    finally:
        gen.stop()
        await probe.close()
        await stack.stop()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.status", description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed-seconds", type=float, default=5.0, help="wrk GitHub ingest first (0 = none)")
    p.add_argument("--postgres", default="", help="a PostgreSQL DSN instead of SQLite")
    args = p.parse_args(argv)
    r = asyncio.run(run(args))
    print(json.dumps(r, indent=2))
    for i, rep in enumerate(r["repeats"]):
        lat = rep.get("latency_ms") or {}
        print(f"repeat {i + 1}: {rep.get('n')} answered, p50 {lat.get('p50')} ms, p99 {lat.get('p99')} ms "
              f"(target p99 < 100 ms), errors {rep.get('errors')}; open requests {r.get('open_requests')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
