"""Issue 16, items 3 and 4: delivery figures from the bot's own records, through the real app and the fakes, on a
fixed clock. The history is made the way production makes it: commands, approvals and runs the GitHub fake
completes; only the clock is set between steps."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sandbox.stack import Stack
from tests.scenario.test_github_flow import write_config

ROOT = Path(__file__).resolve().parents[2]
REQ = re.compile(r"`(r-[a-z0-9]{8})`")


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
async def clocked(sqlite_url: str, tmp_path: Path) -> AsyncIterator[tuple[Stack, Clock]]:
    clock = Clock(t("2026-02-01T00:00"))
    # the figures below count deploys' approval waits; production rollbacks go straight through here
    config = write_config(tmp_path, **{"environments.production.rollback_approval": "none"})
    async with Stack(database_url=sqlite_url, clock=clock, config_path=config) as s:
        yield s, clock


async def state_of(stack: Stack, rid: str) -> str:
    from chatops.app import STORE

    assert stack.app is not None
    async with stack.app[STORE].unit() as u:
        r = await u.get_request(rid)
    return r.state.value if r else ""


async def reach(stack: Stack, rid: str, states: tuple[str, ...]) -> str:
    """Wait (at most 15 s) for the request to be in one of ``states``; returns the state."""
    seen = ""
    for _ in range(300):
        seen = await state_of(stack, rid)
        if seen in states:
            return seen
        await asyncio.sleep(0.05)
    raise AssertionError(f"{rid} is {seen}, not {states}")


async def finished(stack: Stack, rid: str) -> str:
    return await reach(stack, rid, ("succeeded", "failed"))


async def deploy(stack: Stack, clock: Clock, *, at: str, tag: str, conclusion: str = "success") -> str:
    """Ask at ``at`` - 10 min, approve (another person) at ``at``; the run ends at ``at``."""
    clock.at = t(at) - timedelta(minutes=10)
    stack.github.conclusion_by_ref[tag] = conclusion
    _, answer = await stack.command("U0DEV", f"api {tag} to production")
    m = REQ.search(answer.get("text", ""))
    assert m, answer
    rid = m.group(1)
    await reach(stack, rid, ("pending_approval",))
    clock.at = t(at)
    await stack.click("U0LEAD", "approve", rid, key=f"approve-{rid}")
    assert await finished(stack, rid) == conclusion.replace("failure", "failed").replace("success", "succeeded")
    return rid


async def rollback(stack: Stack, clock: Clock, *, at: str) -> None:
    clock.at = t(at)
    _, answer = await stack.command("U0LEAD", "api production", command="/rollback")
    m = REQ.search(answer.get("text", ""))
    assert m, answer
    assert await finished(stack, m.group(1)) == "succeeded"


def commits(stack: Stack, parent: str | None, *dates: str, tag: str) -> str:
    shas = stack.github.add_commits(parent, [(f"change {i} (#{100 + i})", "dev-gh", t(d).timestamp())
                                             for i, d in enumerate(dates)], tag=tag)
    return shas[-1]


def metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(got.get(k) == v for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def seed(stack: Stack, clock: Clock) -> None:
    v200 = commits(stack, None, "2026-02-09T10:00", tag="v2.0.0")
    await deploy(stack, clock, at="2026-02-10T10:00", tag="v2.0.0")  # previous period; first: lead 24h
    v210 = commits(stack, v200, "2026-03-05T08:00", "2026-03-05T08:30", "2026-03-05T09:00", tag="v2.1.0")
    await deploy(stack, clock, at="2026-03-05T10:00", tag="v2.1.0")  # lead 2h
    v220 = commits(stack, v210, "2026-03-09T10:00", "2026-03-09T11:00", tag="v2.2.0")
    await deploy(stack, clock, at="2026-03-10T10:00", tag="v2.2.0", conclusion="failure")
    v221 = commits(stack, v220, "2026-03-10T11:00", tag="v2.2.1")
    await deploy(stack, clock, at="2026-03-10T12:00", tag="v2.2.1")  # range from v2.1.0: lead 26h; restore 2h
    v230 = commits(stack, v221, "2026-03-20T06:00", tag="v2.3.0")
    await deploy(stack, clock, at="2026-03-20T10:00", tag="v2.3.0")  # lead 4h; rolled back: a failed change
    await rollback(stack, clock, at="2026-03-20T16:00")  # back to v2.2.1
    commits(stack, v230, "2026-03-21T09:00", tag="v2.3.1")
    await deploy(stack, clock, at="2026-03-21T10:00", tag="v2.3.1")  # from v2.2.1: lead 28h; restore 18h


async def test_stats_print_the_exact_figures_and_prometheus_agrees(clocked: tuple[Stack, Clock]) -> None:
    stack, clock = clocked
    _, before = await stack.get("/metrics")
    await seed(stack, clock)
    clock.at = t("2026-03-31T12:00")
    _, answer = await stack.command("U0DEV", "stats api production 30d")
    assert answer["response_type"] == "ephemeral"
    lines = answer["text"].splitlines()
    assert lines[1:] == [
        "• Deployment frequency: 4 (0.13/day) · previous 1 (0.03/day)",
        "• Lead time for changes: p50 4h 00m, p90 1d 4h · previous p50 1d 0h, p90 1d 0h",
        "• Change failure rate: 40% (2 of 5) · previous 0% (0 of 1)",
        "• Time to restore: p50 2h 00m (2 restore(s)) · previous p50 –",
    ], answer["text"]
    _, default = await stack.command("U0DEV", "stats api")  # production and 30d are the defaults
    assert default["text"] == answer["text"]

    _, after = await stack.get("/metrics")
    labels = {"service": "api", "environment": "production"}

    def delta(name: str, **extra: str) -> float:
        return metric(after, name, **labels, **extra) - metric(before, name, **labels, **extra)

    assert delta("chatops_deployments_total", outcome="success") == 5
    assert delta("chatops_deployments_total", outcome="failure") == 1
    assert delta("chatops_deployments_total", outcome="rollback") == 1
    # the same observations as the stats: leads 24h (previous period), 2h, 26h, 4h, 28h; restores 2h and 18h
    assert delta("chatops_deploy_lead_time_seconds_count") == 5
    # sums are floats on a registry the whole test process shares: equal up to rounding of what was there before
    assert delta("chatops_deploy_lead_time_seconds_sum") == pytest.approx((24 + 2 + 26 + 4 + 28) * 3600, abs=1e-6)
    assert delta("chatops_deploy_lead_time_seconds_bucket", le="14400.0") == 2  # 2h and 4h: p50 of the four is 4h
    assert delta("chatops_time_to_restore_seconds_count") == 2
    assert delta("chatops_time_to_restore_seconds_sum") == pytest.approx(20 * 3600, abs=1e-6)
    assert delta("chatops_approval_wait_seconds_count") == 6  # every approved deploy, the failed one too
    assert delta("chatops_approval_wait_seconds_sum") == pytest.approx(6 * 600, abs=1e-6)


async def test_no_deployments_in_the_period_says_so(clocked: tuple[Stack, Clock]) -> None:
    stack, clock = clocked
    clock.at = t("2026-03-31T12:00")
    _, answer = await stack.command("U0DEV", "stats web staging 7d")
    assert answer["text"] == "No deployments of web to staging in the last 1w."
    _, everything = await stack.command("U0DEV", "stats")
    assert everything["text"] == "No deployments of all services to production in the last 30d."


@pytest.mark.parametrize("text", ["stats nosuch", "stats api production 30x", "stats api production 0d",
                                  "stats api api", "stats 30d 7d"])
async def test_bad_stats_input_gets_the_usage_line_and_changes_nothing(stack: Stack, text: str) -> None:
    _, answer = await stack.command("U0DEV", text)
    assert answer["text"].startswith(":warning:") and "/deploy stats [service] [env] [period]" in answer["text"]
    assert stack.github.dispatches == []


def test_grafana_dashboard_queries_only_metrics_the_bot_exports() -> None:
    import bot.metrics as m

    exported = set()
    for value in vars(m).values():
        if hasattr(value, "_name") and hasattr(value, "_type"):
            base = value._name
            kind = value._type
            exported |= {f"{base}_total"} if kind == "counter" else (
                {f"{base}_bucket", f"{base}_sum", f"{base}_count"} if kind == "histogram" else {base})
    dashboard = json.loads((ROOT / "docs" / "grafana" / "chatops-delivery.json").read_text())
    panels = dashboard["panels"]
    titles = {p["title"] for p in panels}
    assert {"Deploys per day", "Lead time p50 / p90", "Change failure rate", "Time to restore",
            "Approval wait"} <= titles
    for panel in panels:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            names = set(re.findall(r"\b(chatops_[a-z_]+)\b", target["expr"]))
            assert names, (panel["title"], target["expr"])
            assert names <= exported, (panel["title"], names - exported)
