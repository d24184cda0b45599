"""Delivery figures (DORA) from the bot's own records.

One row per finished run (``delivery_outcomes``), written when a request's run ends, carries the figures known at
that moment: lead time (oldest commit of the deployed range -> success), approval wait and time to restore. The
Prometheus series are observed from that same row, so ``/deploy stats`` and Grafana agree by construction.

Definitions (docs/configuration.md, "Delivery metrics"):
- deployment frequency: successful deploy runs (rollbacks are not deployments) finished in the period;
- lead time for changes: p50 / p90 (nearest rank) over successful deploys with a known range;
- change failure rate: of the deploy runs that ended in success or failure, those that failed or were followed,
  within ``metrics.failure_window``, by another run (rollback or deploy) of the same service in that environment;
- time to restore: from the first failed deploy (its end) or rollback (its start) after the last success to the
  next successful deploy of that service in that environment; p50.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.config import Config
from bot.delivery.settings import delivery_settings
from bot.domain import DeployRequest, RequestKind, RequestState, StatsCommand
from bot.metrics import APPROVAL_WAIT, DEPLOYMENTS, LEAD_TIME, TIME_TO_RESTORE
from bot.previews import AHEAD, DIVERGED, FIRST
from bot.store import delivery_ops as ops
from bot.store.delivery_ops import Outcome
from bot.store.store import Unit

_OUTCOME = {RequestState.SUCCEEDED: "success", RequestState.FAILED: "failure", RequestState.CANCELLED: "cancelled"}


def _restore(history: Sequence[Outcome], at: datetime) -> float | None:
    """Seconds from the start of the incident still open before ``at`` (history newest first), or None."""
    start: datetime | None = None
    for o in history:
        if o.kind == "deploy" and o.outcome == "success":
            break
        if o.kind == "deploy" and o.outcome == "failure":
            start = o.at
        elif o.kind == "rollback" and o.outcome != "cancelled":
            start = o.started_at
    return (at - start).total_seconds() if start is not None else None


async def record_outcome(u: Unit, r: DeployRequest | None, *, at: datetime) -> Outcome | None:
    """Record a request's finished run once (a redelivered webhook records nothing) and observe its metrics."""
    if r is None or r.state not in _OUTCOME or not r.environment or r.service == "?":
        return None
    kind = "rollback" if r.kind is RequestKind.ROLLBACK else "deploy"
    outcome = _OUTCOME[r.state]
    lead = wait = restore = None
    if kind == "deploy" and outcome == "success":
        changes = await ops.get_changes(u, r.id)
        if changes and changes.oldest_commit_at and changes.relation in (AHEAD, DIVERGED, FIRST):
            lead = max(0.0, (at - changes.oldest_commit_at).total_seconds())
        history = await ops.last_outcomes(u, service=r.service, environment=r.environment, before=at)
        restore = _restore([h for h in history if h.request_id != r.id or h.attempt != r.attempt], at)
    approved = [a.at for a in await u.approvals(r.id) if a.decision == "approve"]
    if r.approvals_required and approved:
        wait = max(0.0, (max(approved) - r.created_at).total_seconds())
    o = Outcome(r.id, r.attempt, kind, r.service, r.environment, outcome, r.created_at, at, lead, wait, restore)
    if not await ops.add_outcome(u, o):
        return None
    labels = {"service": r.service, "environment": r.environment}
    DEPLOYMENTS.labels(outcome="rollback" if kind == "rollback" else outcome, **labels).inc()
    for histogram, value in ((LEAD_TIME, lead), (TIME_TO_RESTORE, restore), (APPROVAL_WAIT, wait)):
        if value is not None:
            histogram.labels(**labels).observe(value)
    return o


def nearest_rank(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass(frozen=True, slots=True)
class Figures:
    days: float
    deployments: int
    lead_p50: float | None
    lead_p90: float | None
    failed: int
    attempted: int
    restore_p50: float | None
    restores: int

    @property
    def per_day(self) -> float:
        return self.deployments / self.days if self.days else 0.0

    @property
    def failure_rate(self) -> float | None:
        return self.failed / self.attempted if self.attempted else None


def figures(rows: Sequence[Outcome], *, since: datetime, until: datetime, window_s: int) -> Figures:
    """Figures for outcomes finished in [since, until); ``rows`` may reach ``window_s`` past ``until``."""
    inside = [o for o in rows if since <= o.at < until]
    ok = [o for o in inside if o.kind == "deploy" and o.outcome == "success"]
    leads = [o.lead_s for o in ok if o.lead_s is not None]
    restores = [o.restore_s for o in ok if o.restore_s is not None]
    attempted = [o for o in inside if o.kind == "deploy" and o.outcome in ("success", "failure")]
    window = timedelta(seconds=window_s)

    def failed(d: Outcome) -> bool:
        if d.outcome == "failure":
            return True
        return any(x is not d and x.service == d.service and x.outcome != "cancelled"
                   and d.at < x.started_at <= d.at + window for x in rows)

    return Figures((until - since).total_seconds() / 86400, len(ok), nearest_rank(leads, 0.5),
                   nearest_rank(leads, 0.9), sum(1 for d in attempted if failed(d)), len(attempted),
                   nearest_rank(restores, 0.5), len(restores))


async def period_figures(u: Unit, *, services: Sequence[str], environment: str, now: datetime, period_s: int,
                         window_s: int) -> tuple[Figures, Figures]:
    """(this period, the period before it)."""
    period = timedelta(seconds=period_s)
    rows = await ops.outcomes(u, services=services, environment=environment, since=now - 2 * period,
                              until=now + timedelta(seconds=1))
    current = figures(rows, since=now - period, until=now + timedelta(microseconds=1), window_s=window_s)
    previous = figures(rows, since=now - 2 * period, until=now - period, window_s=window_s)
    return current, previous


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    s = round(seconds)
    if s < 3600:
        return f"{s // 60}m" if s >= 60 else f"{s}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def _rate(f: Figures) -> str:
    rate = f.failure_rate
    return "–" if rate is None else f"{rate * 100:.0f}% ({f.failed} of {f.attempted})"


def render_lines(cur: Figures, prev: Figures) -> list[str]:
    """The four figures, each with the previous period beside it (plain text; the surface escapes it)."""
    return [
        f"Deployment frequency: {cur.deployments} ({cur.per_day:.2f}/day) · previous {prev.deployments} "
        f"({prev.per_day:.2f}/day)",
        f"Lead time for changes: p50 {duration(cur.lead_p50)}, p90 {duration(cur.lead_p90)} · previous p50 "
        f"{duration(prev.lead_p50)}, p90 {duration(prev.lead_p90)}",
        f"Change failure rate: {_rate(cur)} · previous {_rate(prev)}",
        f"Time to restore: p50 {duration(cur.restore_p50)} ({cur.restores} restore(s)) · previous p50 "
        f"{duration(prev.restore_p50)}",
    ]


def period_label(period_s: int) -> str:
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600)):
        if period_s % size == 0:
            return f"{period_s // size}{unit}"
    return f"{period_s}s"


def render_stats(*, what: str, environment: str, period_s: int, cur: Figures, prev: Figures) -> str:
    head = f"Delivery of {what} to {environment}, last {period_label(period_s)} (previous period beside each figure)"
    if cur.attempted == 0 and cur.deployments == 0:
        tail = (f" The {period_label(period_s)} before: {prev.deployments} deployment(s)."
                if prev.attempted else "")
        return f"No deployments of {what} to {environment} in the last {period_label(period_s)}.{tail}"
    return "\n".join([head, *(f"• {line}" for line in render_lines(cur, prev))])


async def stats_text(u: Unit, *, config: Config, cmd: StatsCommand, now: datetime) -> str:
    services = [cmd.service] if cmd.service else sorted(config.services)
    cur, prev = await period_figures(u, services=services, environment=cmd.environment, now=now,
                                     period_s=cmd.period_s, window_s=delivery_settings(config).failure_window_s)
    return render_stats(what=cmd.service or "all services", environment=cmd.environment, period_s=cmd.period_s,
                        cur=cur, prev=prev)
