"""``python -m bench.ingress_budgets``: issue 22 items 2 and 3, as figures (never asserted in tests).

1. **slow GitHub clients**: 400 connections to ``/github/webhook`` that declare 100 kB and send one byte a second
   (a refused or cut-off one reconnects a second later), while signed Slack ``/deploy status`` commands leave at 20/s
   (open loop) for ``--seconds``: ack p50/p99 and status codes. Goal: p99 < 100 ms, no 503.
2. **large bodies**: 150 connections to ``/github/webhook`` that each send a 5 MiB body but its last byte and hold
   it (a refused one reconnects a second later): the bot's peak RSS (``VmHWM``) and its RSS before. Goal: peak < 300 MB.

The bot is a real process (``python -m bot serve`` from ``--bot-root``, default this checkout, so an older
checkout can be measured the same way) on SQLite against the loopback fakes; each attacker runs in its own
process, so the bot, the attacker and the Slack generator never share an event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.loadgen import percentiles
from bench.probe import rss_kb
from sandbox.process import free_port
from sandbox.signing import sign_slack, slash_command_body
from sandbox.stack import ROOT, SANDBOX_SECRETS, Stack

MIB = 1024 * 1024


async def _slow_client(host: str, port: int, stop_at: float) -> None:
    while time.monotonic() < stop_at:
        try:
            r, w = await asyncio.open_connection(host, port)
            w.write(b"POST /github/webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
            while time.monotonic() < stop_at and not r.at_eof() and not r._buffer:
                w.write(b"x")
                await w.drain()
                await asyncio.sleep(1.0)
            w.close()
        except OSError:
            pass
        await asyncio.sleep(1.0)  # answered (503 or 408) or reset: a new connection a second later


async def _big_client(host: str, port: int, stop_at: float) -> None:
    body = b"x" * (5 * MIB - 1)
    while time.monotonic() < stop_at:
        try:
            r, w = await asyncio.open_connection(host, port)
            w.write(b"POST /github/webhook HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (5 * MIB))
            for start in range(0, len(body), 256 * 1024):
                if r.at_eof() or r._buffer:
                    break
                w.write(body[start:start + 256 * 1024])
                await w.drain()
            try:  # hold the body, one byte short, until the bot answers or the run ends
                await asyncio.wait_for(r.read(1), max(0.0, stop_at - time.monotonic()))
            except TimeoutError:
                pass
            w.close()
        except OSError:
            pass
        await asyncio.sleep(1.0)  # refused: a new connection a second later


def _attack(kind: str, port: int, connections: int, seconds: float) -> None:
    async def run() -> None:
        stop_at = time.monotonic() + seconds
        client = _slow_client if kind == "slow" else _big_client
        await asyncio.gather(*(client("127.0.0.1", port, stop_at) for _ in range(connections)))

    asyncio.run(run())


async def _commands(url: str, rate: float, seconds: float) -> dict[str, Any]:
    secret = SANDBOX_SECRETS["SLACK_SIGNING_SECRET"]
    latencies: list[float] = []
    statuses: dict[str, int] = {}

    async def one(session: aiohttp.ClientSession, i: int) -> None:
        body = slash_command_body("/deploy", "status", "U0DEV", "C0DEPLOYS", trigger_id=f"bench-{i}-{time.time()}")
        headers = {**sign_slack(secret, body), "Content-Type": "application/x-www-form-urlencoded"}
        start = time.perf_counter()
        try:
            async with session.post(f"{url}/slack/events", data=body, headers=headers) as resp:
                await resp.read()
                statuses[str(resp.status)] = statuses.get(str(resp.status), 0) + 1
        except aiohttp.ClientError as exc:
            statuses[type(exc).__name__] = statuses.get(type(exc).__name__, 0) + 1
            return
        latencies.append((time.perf_counter() - start) * 1000)

    async with aiohttp.ClientSession() as session:
        tasks = []
        begin = time.monotonic()
        for i in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, begin + i / rate - time.monotonic()))
            tasks.append(asyncio.create_task(one(session, i)))
        await asyncio.gather(*tasks)
    return {"statuses": statuses, "ms": percentiles(latencies) if latencies else {}}


async def _start_bot(env: dict[str, str], root: Path, tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    full = {**env, "PORT": str(port), "HOST": "127.0.0.1", "PYTHONPATH": str(root)}
    config = str(root / "examples" / "chatops.yml")
    with open(tmp / "bot.log", "ab") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--config", config],
                                cwd=root, env=full, stdout=log, stderr=subprocess.STDOUT)
    async with aiohttp.ClientSession() as s:
        for _ in range(300):
            try:
                async with s.get(f"http://127.0.0.1:{port}/readyz") as r:
                    if r.status == 200:
                        return proc, port
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("bot did not start")


async def measure(*, root: Path, seconds: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        stack = Stack(database_url=f"sqlite:///{tmp}/bench.db")
        await stack.start_fakes()
        ctx = multiprocessing.get_context("spawn")
        try:
            for kind, connections in (("slow", 400), ("big", 150)):
                proc, port = await _start_bot({**stack.env, "CHATOPS_PID_FILE": str(tmp / f"{kind}.pid")}, root, tmp)
                try:
                    before = rss_kb(proc.pid).get("VmRSS", 0)
                    attacker = ctx.Process(target=_attack, args=(kind, port, connections, seconds + 3))
                    attacker.start()
                    await asyncio.sleep(3)  # the attack ramps up before the commands start
                    acks = await _commands(f"http://127.0.0.1:{port}", 20.0, seconds)
                    attacker.join(seconds + 30)
                    out[kind] = {"connections": connections, "acks": acks, "rss_before_mb": before // 1024,
                                 "peak_rss_mb": rss_kb(proc.pid).get("VmHWM", 0) // 1024}
                finally:
                    proc.terminate()
                    proc.wait(60)
        finally:
            await stack.stop()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingress_budgets")
    parser.add_argument("--bot-root", default=str(ROOT), help="checkout whose bot is measured (default: this one)")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    result = asyncio.run(measure(root=Path(args.bot_root).resolve(), seconds=args.seconds))
    slow, big = result["slow"], result["big"]
    p99 = slow["acks"]["ms"].get("p99", float("nan"))
    print(f"400 slow GitHub connections, Slack /deploy status at 20/s: ack p50 {slow['acks']['ms'].get('p50', 0):.1f} "
          f"ms, p99 {p99:.1f} ms, statuses {slow['acks']['statuses']} | target p99 < 100 ms, no 503 | met: "
          f"{'yes' if p99 < 100 and '503' not in slow['acks']['statuses'] else 'NO'}")
    print(f"150 connections holding 5 MiB bodies: RSS {big['rss_before_mb']} MB before, peak {big['peak_rss_mb']} MB; "
          f"Slack acks meanwhile {big['acks']['statuses']} p99 {big['acks']['ms'].get('p99', float('nan')):.1f} ms "
          f"| target peak < 300 MB | met: {'yes' if big['peak_rss_mb'] < 300 else 'NO'}")
    print(f"raw: {result}", file=sys.stderr if os.environ.get("BENCH_QUIET") else sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
