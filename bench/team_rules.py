"""``python -m bench.team_rules [SECONDS]``: ``/deploy`` ack p99 when a ``github-team:`` rule decides who may
deploy (answers cached) vs the same people in a ``groups:`` list, at 20 commands/s; and how many team-membership
API calls the bot made (docs/benchmarks.md, "github-team rules"). Targets (issue 14): the team p99 within 20 ms of
the groups p99; a cold lookup at most once per (person, team) per ``github.team_cache_ttl``.

Each row gets its own ``python -m bot serve`` process on a fresh SQLite file. Ten people (``people.pN`` with a
configured, hence verified, GitHub login) take turns sending ``/deploy api v1.4.2 to dev``, open loop at 20/s
after a one-second warm-up (which is where the cold lookups happen). Membership calls are counted in the GitHub
fake's request log (``GET /orgs/acme/teams/deployers/memberships/{login}``).
"""

from __future__ import annotations

import asyncio
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench.socket_mode import RATE, TARGET_MS, open_loop, p99
from sandbox.process import BotProcess
from sandbox.stack import EXAMPLE_CONFIG, Stack

PEOPLE = 10
TEAM = "github-team:acme/deployers"
SHORT_TTL_S = 3


def write_config(path: Path, *, team: bool, ttl_s: int | None = None) -> Path:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    for n in range(PEOPLE):
        data["people"][f"p{n}"] = {"slack": f"U0P{n}", "github": f"p{n}-gh"}
    if team:
        data["environments"]["dev"]["deployers"] = [TEAM]
    else:
        data["groups"]["deployers"] += [f"p{n}" for n in range(PEOPLE)]
    if ttl_s is not None:
        data["github"]["team_cache_ttl"] = f"{ttl_s}s"
    path.write_text(yaml.safe_dump(data))
    return path


def membership_calls(stack: Stack) -> int:
    return sum(1 for r in stack.github.all_requests() if "/teams/deployers/memberships/" in r.path)


async def run(tmp: Path, name: str, seconds: float, *, team: bool, ttl_s: int | None = None) -> dict[str, Any]:
    stack = Stack(database_url=f"sqlite:///{tmp}/{name}.db")
    await stack.start_fakes()
    stack.github.set_team("acme", "deployers", {f"p{n}-gh": "active" for n in range(PEOPLE)})
    bot = BotProcess(stack.env, config=write_config(tmp / f"{name}.yml", team=team, ttl_s=ttl_s),
                     log_path=tmp / f"{name}.log")
    answers: list[str] = []
    try:
        await bot.start()
        stack.url = bot.url

        async def send(i: int) -> None:
            status, body = await stack.command(f"U0P{i % PEOPLE}", "api v1.4.2 to dev", key=f"{name}{i}")
            assert status == 200
            answers.append(str(body.get("text", "")))

        t0 = time.monotonic()
        await open_loop(send, 1.0)  # warm-up: every person's first command, so the cold lookups
        cold = membership_calls(stack)
        latencies = await open_loop(send, seconds)
        elapsed = time.monotonic() - t0
        return {"name": name, "lat": latencies, "cold": cold, "calls": membership_calls(stack), "elapsed": elapsed,
                "accepted": sum(a.startswith(":rocket:") for a in answers), "answers": len(answers)}
    finally:
        bot.terminate()
        await stack.stop()


async def main_async(seconds: float) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="chatops-bench-teams-"))
    groups = await run(tmp, "groups", seconds, team=False)
    team = await run(tmp, "team", seconds, team=True)
    short = await run(tmp, "team-ttl", seconds, team=True, ttl_s=SHORT_TTL_S)
    for row in (groups, team, short):
        lat = row["lat"]
        print(f"{row['name']:9s} {len(lat)} acks at {RATE:.0f}/s: p50 {statistics.median(lat):.1f} ms, "
              f"p99 {p99(lat):.1f} ms; accepted {row['accepted']}/{row['answers']}; "
              f"membership calls {row['calls']} ({row['cold']} in the warm-up)")
    gap = p99(team["lat"]) - p99(groups["lat"])
    print(f"team p99 - groups p99 = {gap:+.1f} ms (target <= {TARGET_MS:.0f} ms): "
          f"{'met' if gap <= TARGET_MS else 'NOT met'}")
    bound_ttl = PEOPLE * math.ceil(short["elapsed"] / SHORT_TTL_S + 1)
    ok = team["calls"] <= PEOPLE and short["calls"] <= bound_ttl and groups["calls"] == 0
    print(f"membership calls: default TTL {team['calls']} (bound {PEOPLE}: one per person), "
          f"{SHORT_TTL_S}s TTL over {short['elapsed']:.1f}s {short['calls']} (bound {bound_ttl}), "
          f"no team rule {groups['calls']}: {'met' if ok else 'NOT met'}")
    return 0


def main() -> int:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    return asyncio.run(main_async(seconds))


if __name__ == "__main__":
    sys.exit(main())
