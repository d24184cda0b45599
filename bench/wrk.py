"""Closed-loop throughput measured with ``wrk`` (C, one thread): far less CPU than a Python client, so the
bot, not the generator, is what saturates the two cores.

Request bodies are prepared here once: GitHub ``workflow_run`` webhooks (a pool of bodies, one run id each,
``X-Hub-Signature-256`` computed per body; the Lua script gives every request its own ``X-GitHub-Delivery``)
and EventBridge events (the Lua script writes a unique ``id`` and CloudTrail ``eventID`` into a template; the
API key is a header). Every 10th request repeats the previous one's key, as the Python generator did, so the
de-duplication path is measured too. The Lua script counts answers that say "recorded" and "duplicate".

CPU: utime + stime of the measured process from ``/proc/<pid>/stat`` before and after the run, reported as
CPU seconds per 1,000 answered requests (a regression shows up as work per request, not only as a rate).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import payloads as p
from sandbox.signing import sign_github
from sandbox.stack import SANDBOX_SECRETS

log = logging.getLogger("bench")
GITHUB_BODIES = 1000  # distinct runs; each run gets ~10 deliveries per 5 s run, as real runs do
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

_LUA_COMMON = r"""
local n = 0
fresh, dups, other = 0, 0, 0  -- globals: done() reads them with thread:get
local prefix = "@@PREFIX@@"
function key(i)
  if i % 10 == 9 then i = i - 1 end  -- every 10th request repeats the previous key
  return string.format("%s-%012d", prefix, i)  -- a version 4 UUID's shape, as every real key is
end
function response(status, headers, body)
  if status == 202 and string.find(body, "accepted", 1, true) then fresh = fresh + 1
  elseif status == 200 and (string.find(body, '"duplicate":%s*true')
      or string.find(body, "duplicate delivery", 1, true)) then dups = dups + 1
  elseif status == 200 and string.find(body, '"duplicate":%s*false') then fresh = fresh + 1
  else other = other + 1 end
end
local threads = {}
function setup(thread) table.insert(threads, thread) end
function done(summary, latency, requests)
  local f, d, o = 0, 0, 0
  for _, t in ipairs(threads) do f = f + t:get("fresh"); d = d + t:get("dups"); o = o + t:get("other") end
  io.write(string.format("WRKJSON {\"fresh\": %d, \"dups\": %d, \"other\": %d, \"p50\": %.3f, \"p99\": %.3f,"
    .. " \"max\": %.3f}\n", f, d, o, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000))
end
"""

_LUA_GITHUB = r"""
local bodies = {}
local f = assert(io.open("@@BODIES@@", "rb"))
for line in f:lines() do
  local sig, body = string.match(line, "^(%S+) (.*)$")
  table.insert(bodies, {sig, body})
end
f:close()
local hdr = {["Content-Type"] = "application/json", ["User-Agent"] = "GitHub-Hookshot/bench",
             ["X-GitHub-Event"] = "workflow_run"}
function request()
  local b = bodies[(n % #bodies) + 1]
  hdr["X-GitHub-Delivery"] = key(n)
  hdr["X-Hub-Signature-256"] = b[1]
  n = n + 1
  return wrk.format("POST", "/github/webhook", hdr, b[2])
end
"""

# the GitHub row's ceiling: the same bodies and headers (signature, event, a delivery per request) to the bare
# hello-world, which only reads them: what moving these bytes through aiohttp costs, without the bot's work
_LUA_HELLO_GITHUB = _LUA_GITHUB.replace('"/github/webhook"', '"/hello"')

_LUA_EVENTS = r"""
local parts = {}
local f = assert(io.open("@@BODIES@@", "rb"))
for line in f:lines() do table.insert(parts, line) end
f:close()
local hdr = {["Content-Type"] = "application/json", ["x-api-key"] = "@@APIKEY@@"}
function request()
  local k = key(n)
  n = n + 1
  return wrk.format("POST", "/aws/events", hdr, parts[1] .. k .. parts[2] .. "ct-" .. k .. parts[3])
end
"""

_LUA_HELLO = r"""
local f = assert(io.open("@@BODIES@@", "rb"))
local body = f:read("*a")
f:close()
local hdr = {["Content-Type"] = "application/json"}
function request()
  n = n + 1
  return wrk.format("POST", "/hello", hdr, body)
end
"""


def available() -> str | None:
    return shutil.which("wrk")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds the processes used so far (0 for one that is gone)."""
    return sum(cpu_ticks(pid) for pid in pids) / _TICK


def cpu_ticks(pid: int) -> int:
    """utime + stime of a process (all its threads) in clock ticks; 0 if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5), after pid and (comm)


@dataclass
class Scripts:
    """The Lua scripts and their body files, written once per bench run into ``folder``."""

    folder: Path

    def write(self) -> Scripts:
        self.folder.mkdir(parents=True, exist_ok=True)
        secret = SANDBOX_SECRETS["GITHUB_WEBHOOK_SECRET"]
        _, body, _ = p.github_webhook(0, delivery="x")
        run_id = b"900000000"
        lines = []
        for i in range(GITHUB_BODIES):
            b = body.replace(run_id, str(900_000_000 + i).encode())
            assert b"\n" not in b
            lines.append(sign_github(secret, b)["X-Hub-Signature-256"].encode() + b" " + b)
        (self.folder / "github.bodies").write_bytes(b"\n".join(lines) + b"\n")
        _, ev, _ = p.eventbridge(0, tag="TPL", denied=False, event_id="@@EBID@@")
        record_id = json.loads(ev)["detail"]["eventID"].encode()
        ev = ev.replace(record_id, b"@@CTID@@")
        head, rest = ev.split(b"@@EBID@@")
        mid, tail = rest.split(b"@@CTID@@")
        (self.folder / "events.bodies").write_bytes(b"\n".join((head, mid, tail)) + b"\n")
        _, hello, _ = p.hello(0)
        (self.folder / "hello.bodies").write_bytes(hello)
        return self

    def script(self, kind: str, *, prefix: str) -> Path:
        lua = {"github": _LUA_GITHUB, "events": _LUA_EVENTS, "hello": _LUA_HELLO,
               "hello_github": _LUA_HELLO_GITHUB}[kind]
        bodies = "github" if kind == "hello_github" else kind
        # keys are shaped as the platforms make them: an EventBridge event's ``id`` is "a Version 4 UUID that's
        # generated for every event" (docs.aws.amazon.com/eventbridge/latest/userguide/eb-events-structure.html),
        # CloudTrail's ``eventID`` and GitHub's ``X-GitHub-Delivery`` are GUIDs. A fresh UUID's first four groups
        # per script, the request number as the fifth. (Until issue 27's end the keys held ``time.time_ns()``,
        # 19 digits in a row, which sent every EventBridge body to json's slow path for wide integers: bot.wire.)
        text = (_LUA_COMMON + lua).replace("@@PREFIX@@", str(uuid.uuid4())[:23])
        text = text.replace("@@BODIES@@", str(self.folder / f"{bodies}.bodies"))
        text = text.replace("@@APIKEY@@", SANDBOX_SECRETS["CHATOPS_EVENTS_API_KEY"])
        path = self.folder / f"{kind}-{prefix}.lua"
        path.write_text(text, encoding="utf-8")
        return path


_REQS = re.compile(r"(\d+) requests in ([\d.]+)(\w+)")
_NON2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_UNIT = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def _parse(out: str) -> dict[str, Any]:
    m = _REQS.search(out)
    if not m:
        raise RuntimeError(f"wrk printed no summary: {out[-500:]}")
    n, elapsed = int(m.group(1)), float(m.group(2)) * _UNIT.get(m.group(3), 1.0)
    tail = re.search(r"WRKJSON (\{.*\})", out)
    extra: dict[str, Any] = json.loads(tail.group(1)) if tail else {}
    err = _ERRORS.search(out)
    bad = _NON2XX.search(out)
    return {"n": n, "elapsed_s": round(elapsed, 3), "rps": round(n / elapsed, 1) if elapsed else 0.0,
            "non_2xx": int(bad.group(1)) if bad else 0,
            "socket_errors": sum(int(x) for x in err.groups()) if err else 0,
            "fresh": extra.get("fresh", 0), "duplicates": extra.get("dups", 0),
            "latency_ms": {"p50": extra.get("p50", 0.0), "p99": extra.get("p99", 0.0), "max": extra.get("max", 0.0)}}


async def run(url: str, *, script: Path, connections: int, seconds: float, pids: list[int]) -> dict[str, Any]:
    """One closed-loop wrk run (1 thread, ``connections`` connections) and the CPU the ``pids`` used meanwhile."""
    exe = available()
    if exe is None:
        raise RuntimeError("wrk is not installed")
    before = sum(cpu_ticks(pid) for pid in pids)
    proc = await asyncio.create_subprocess_exec(
        exe, "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s", "-s", str(script), url,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out_b, _ = await proc.communicate()
    after = sum(cpu_ticks(pid) for pid in pids)
    out = _parse(out_b.decode(errors="replace"))
    cpu_s = (after - before) / _TICK
    out.update(connections=connections, cpu_s=round(cpu_s, 2),
               cpu_s_per_1k=round(1000 * cpu_s / out["n"], 3) if out["n"] else None)
    return out
