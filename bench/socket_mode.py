"""``python -m bench.socket_mode [SECONDS]``: Slack ack p99 over Socket Mode vs over signed HTTP at 20 commands/s
(docs/benchmarks.md, "Socket Mode"). Target: the Socket Mode p99 within 20 ms of the HTTP p99.

Each transport gets its own ``python -m bot serve`` process on a fresh SQLite file, driven open-loop at 20
``/deploy`` commands per second (half ``status``, half a dev deploy) from the sandbox fakes. HTTP ack = request
sent -> response read; Socket Mode ack = envelope sent -> ack frame received by the fake.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sandbox.process import BotProcess
from sandbox.socket_mode_fake import SocketModeFake, command_payload
from sandbox.stack import Stack

RATE = 20.0
TARGET_MS = 20.0


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def text_of(i: int) -> str:
    return "status" if i % 2 else "api v1.4.2 to dev"


async def open_loop(send: object, seconds: float) -> list[float]:
    """Start one command every 1/RATE s regardless of answers; returns ack latencies in ms."""
    latencies: list[float] = []

    async def one(i: int) -> None:
        t0 = time.perf_counter()
        await send(i)  # type: ignore[operator]
        latencies.append((time.perf_counter() - t0) * 1000)

    tasks = []
    start = time.perf_counter()
    for i in range(int(seconds * RATE)):
        await asyncio.sleep(max(0.0, start + i / RATE - time.perf_counter()))
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    return latencies


async def http_run(tmp: Path, seconds: float) -> list[float]:
    stack = Stack(database_url=f"sqlite:///{tmp}/http.db")
    await stack.start_fakes()
    bot = BotProcess(stack.env, log_path=tmp / "http.log")
    try:
        await bot.start()
        stack.url = bot.url

        async def send(i: int) -> None:
            status, _ = await stack.command("U0DEV", text_of(i), key=f"h{i}")
            assert status == 200

        await open_loop(send, 1.0)  # warm-up
        return await open_loop(send, seconds)
    finally:
        bot.terminate()
        await stack.stop()


async def socket_run(tmp: Path, seconds: float) -> list[float]:
    stack = Stack(database_url=f"sqlite:///{tmp}/socket.db", extra_env={"SLACK_APP_TOKEN": "xapp-1-A0SANDBOX-1-sb"})
    await stack.start_fakes()
    stack.slack.app_token = "xapp-1-A0SANDBOX-1-sb"
    fake = await SocketModeFake().start()
    stack.slack.socket_mode = fake
    bot = BotProcess(stack.env, log_path=tmp / "socket.log")
    try:
        await bot.start()
        await fake.wait_connections(1)

        async def send(i: int) -> None:
            payload = command_payload("/deploy", text_of(i), user_id="U0DEV", channel_id="C0DEPLOYS",
                                      response_url=stack.slack.response_url(f"s{i}"))
            await fake.ack(await fake.send("slash_commands", payload), timeout=30)

        await open_loop(send, 1.0)
        return await open_loop(send, seconds)
    finally:
        bot.terminate()
        await stack.stop()
        await fake.stop()


async def main_async(seconds: float) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="chatops-bench-socket-"))
    http = await http_run(tmp, seconds)
    sock = await socket_run(tmp, seconds)
    for name, lat in (("http", http), ("socket mode", sock)):
        print(f"{name:12s} {len(lat)} acks at {RATE:.0f}/s: p50 {statistics.median(lat):.1f} ms, p99 {p99(lat):.1f} ms")
    gap = p99(sock) - p99(http)
    print(f"socket mode p99 - http p99 = {gap:+.1f} ms (target <= {TARGET_MS:.0f} ms): "
          f"{'met' if gap <= TARGET_MS else 'NOT met'}")
    return 0


def main() -> int:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    return asyncio.run(main_async(seconds))


if __name__ == "__main__":
    sys.exit(main())
