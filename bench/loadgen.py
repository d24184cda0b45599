"""The load generator: an aiohttp client in its own process (multiprocessing, spawn), so the bot, the fakes and
the generator never share an event loop. The parent sends a job (a dict), the child runs it and answers a
summary. Two modes: ``closed`` (N workers, each sends its next request when the last one is answered: measures
throughput) and ``open`` (requests start on a fixed schedule whatever the answers: measures latency at a rate).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import threading
import time
import uuid
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import aiohttp

Job = dict[str, Any]
Result = dict[str, Any]


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0, "mean": 0.0}
    v = sorted(values)

    def pick(q: float) -> float:
        return round(v[min(len(v) - 1, int(q * len(v)))], 2)

    return {"p50": pick(0.50), "p90": pick(0.90), "p99": pick(0.99), "max": round(v[-1], 2),
            "mean": round(sum(v) / len(v), 2)}


# ------------------------------------------------------------------ request factories (run in the child)
def _factory(job: Job) -> Callable[[int], tuple[str, bytes, dict[str, str]]]:
    from bench import payloads as p

    kind, tag = job["kind"], job.get("tag", uuid.uuid4().hex[:8])
    dup_every = int(job.get("dup_every", 0))  # every n-th request repeats the previous one's idempotency key
    if kind == "hello":
        pool = [p.hello(i) for i in range(64)]
        return lambda i: pool[i % len(pool)]
    if kind in ("slash-status", "slash-deploy", "slash-mix"):
        which, url = kind.split("-", 1)[1], job.get("response_url", "")
        if which == "mix":  # alternate a read (status) and a write (deploy request)
            return lambda i: p.slash(i, which=("status", "deploy")[i % 2], tag=tag, response_url=url)
        return lambda i: p.slash(i, which=which, tag=tag, response_url=url)
    if kind == "github":
        _, body, headers = p.github_webhook(0, delivery="@@DELIVERY@@")
        run_id = b"900000000"

        def github(i: int) -> tuple[str, bytes, dict[str, str]]:
            from sandbox.signing import sign_github
            from sandbox.stack import SANDBOX_SECRETS

            n = i - 1 if dup_every and i % dup_every == dup_every - 1 else i
            b = body.replace(run_id, str(900_000_000 + n).encode())
            h = {**headers, "X-GitHub-Delivery": f"{tag}-{n}",
                 **sign_github(SANDBOX_SECRETS["GITHUB_WEBHOOK_SECRET"], b)}
            return "/github/webhook", b, h
        return github
    if kind in ("events", "events-denied"):
        principal = job.get("principal")
        principals = int(job.get("principals", 1))
        denied_every = int(job.get("denied_every", 1 if kind == "events-denied" else 0))
        templates = {}
        for d in (False, True):
            for k in range(principals if d else 1):
                who = principal if principals == 1 else f"arn:aws:iam::123456789012:user/bench/p{k:03d}"
                _, body, headers = p.eventbridge(0, tag="TPL", denied=d, principal=who, event_id="@@EBID@@")
                rec = json.loads(body)["detail"]["eventID"].encode()
                templates[(d, k)] = (body.replace(rec, b"@@CTID@@"), headers)

        def event(i: int) -> tuple[str, bytes, dict[str, str]]:
            n = i - 1 if dup_every and i % dup_every == dup_every - 1 else i
            denied = bool(denied_every) and n % denied_every == 0
            body, headers = templates[(denied, (n // max(1, denied_every)) % principals if denied else 0)]
            ident = f"{tag}-{n:09d}".encode()
            return "/aws/events", body.replace(b"@@EBID@@", ident).replace(b"@@CTID@@", b"ct-" + ident), headers
        return event
    raise ValueError(f"unknown kind {kind}")


def _fresh(status: int, text: str) -> bool | None:
    """True = recorded, False = recognised duplicate, None = not an ingest answer."""
    if status == 202 and "accepted" in text:
        return True
    if status == 200 and "duplicate delivery" in text:
        return False
    if status == 200 and text.startswith("{") and '"duplicate"' in text:
        return not json.loads(text).get("duplicate", False)
    return None


async def run_job(job: Job) -> Result:
    make = _factory(job)
    base = job["base"].rstrip("/")
    offset = int(job.get("offset", 0))
    lat: list[float] = []
    statuses: dict[str, int] = {}
    fresh = dups = errors = 0
    first_sent = last_sent = 0.0

    async def one(session: aiohttp.ClientSession, i: int, scheduled: float | None = None) -> None:
        nonlocal fresh, dups, errors, first_sent, last_sent
        path, body, headers = make(offset + i)
        start = time.perf_counter()
        wall = time.time()
        first_sent = first_sent or wall
        last_sent = wall
        try:
            async with session.post(base + path, data=body, headers=headers) as resp:
                text = await resp.text()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            errors += 1
            statuses[type(exc).__name__] = statuses.get(type(exc).__name__, 0) + 1
            return
        lat.append((time.perf_counter() - start) * 1000)
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        f = _fresh(status, text)
        fresh += f is True
        dups += f is False

    timeout = aiohttp.ClientTimeout(total=30)
    t0 = time.perf_counter()
    late = 0
    if job["mode"] == "closed":
        conc = int(job.get("concurrency", 16))
        count, duration = job.get("count"), job.get("duration")
        deadline = t0 + float(duration) if duration else None
        counter = iter(range(10**12 if count is None else int(count)))
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conc), timeout=timeout) as s:
            async def worker() -> None:
                for i in counter:
                    if deadline is not None and time.perf_counter() >= deadline:
                        return
                    await one(s, i)
            await asyncio.gather(*(worker() for _ in range(conc)))
    else:
        rate, duration = float(job["rate"]), float(job["duration"])
        total = int(rate * duration)
        sem = asyncio.Semaphore(int(job.get("max_inflight", 2000)))
        tasks: set[asyncio.Task[None]] = set()
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as s:
            async def guarded(i: int) -> None:
                async with sem:
                    await one(s, i)
            for i in range(total):
                due = t0 + i / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                elif delay < -0.05:
                    late += 1  # the generator itself fell behind its schedule (CPU-starved)
                t = asyncio.create_task(guarded(i))
                tasks.add(t)
                t.add_done_callback(tasks.discard)
            await asyncio.gather(*list(tasks))
    elapsed = time.perf_counter() - t0
    n = len(lat)
    return {"kind": job["kind"], "mode": job["mode"], "concurrency": job.get("concurrency"),
            "rate": job.get("rate"), "n": n, "errors": errors, "statuses": statuses, "fresh": fresh,
            "duplicates": dups, "elapsed_s": round(elapsed, 3), "rps": round(n / elapsed, 1) if elapsed else 0.0,
            "latency_ms": percentiles(lat), "late_sends": late, "first_sent": first_sent, "last_sent": last_sent}


def _serve(conn: Connection) -> None:
    while True:
        job = conn.recv()
        if job is None:
            return
        try:
            conn.send(asyncio.run(run_job(job)))
        except Exception as exc:  # answer the parent rather than hang it
            conn.send({"error": f"{type(exc).__name__}: {exc}"})


class Generator:
    """A load-generator process. ``await gen.run(job)`` does not block the caller's event loop."""

    def __init__(self) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child,), daemon=True, name="bench-loadgen")
        self._lock = threading.Lock()

    def start(self) -> Generator:
        self.proc.start()
        return self

    def _call(self, job: Job) -> Result:
        with self._lock:
            self._conn.send(job)
            result: Result = self._conn.recv()
        if "error" in result:
            raise RuntimeError(f"load generator failed: {result['error']}")
        return result

    async def run(self, job: Job) -> Result:
        return await asyncio.get_running_loop().run_in_executor(None, self._call, job)

    def stop(self) -> None:
        if self.proc.is_alive():
            self._conn.send(None)
            self.proc.join(10)
        if self.proc.is_alive():
            self.proc.terminate()
