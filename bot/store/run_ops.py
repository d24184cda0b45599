"""What the worker reads of runs' requests to judge their webhooks (``Unit.run_heads``) and of the lanes whose turn it
may be (``Unit.lane_turns``), and the job lines' codec."""

from __future__ import annotations

import json
from collections.abc import Iterable

from bot.domain import RequestState, RunHead
from bot.store.db import Conn


def jobs_from_text(text: str | None) -> tuple[tuple[str, ...], ...]:
    """A request's job lines as stored (JSON); most requests have none yet."""
    return tuple(tuple(j) for j in json.loads(text)) if text and text != "[]" else ()


class RunOps:
    """Mixed into ``bot.store.store.Unit``; ``c`` is the transaction's connection."""

    c: Conn

    async def run_heads(self, run_ids: Iterable[int]) -> dict[int, RunHead]:
        """What the worker judges repeats against (``github_runs.unchanged``) for the requests bound to these runs,
        by run id: four columns, not the whole request (one statement per 500 ids). Issue 27 item 4: reading every
        claimed webhook's request whole (30 columns, a ``DeployRequest`` each) was ~10 % of the bot's CPU."""
        ids, out = sorted(set(run_ids)), {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for row in await self.c.fetch("SELECT run_id, state, attempt, run_url, jobs FROM requests WHERE run_id IN "
                                          f"({', '.join('?' * len(chunk))})", *chunk):
                out[int(row["run_id"])] = RunHead(state=RequestState(row["state"]), attempt=int(row["attempt"]),
                                                  run_url=row["run_url"], jobs=jobs_from_text(row["jobs"]))
        return out

    async def lane_turns(self, *, limit: int = 100) -> list[str]:
        """The ids of the requests that may be claimed now (``Unit.claim_dispatch``), oldest first: each DISPATCHING
        one (its lease may have run out) and each (service, environment) lane's oldest approved one. The worker
        tries these before the rest of the queue: it read only the 100 oldest approved or dispatching requests, so
        100 waiting in one lane hid every newer lane's turn, and a lapsed claim behind them for ever."""
        rows = await self.c.fetch(
            "SELECT id FROM requests r WHERE r.state = ? OR (r.state = ? AND NOT EXISTS (SELECT 1 FROM requests o "
            "WHERE o.service = r.service AND o.environment = r.environment AND o.state = ? "
            "AND o.created_at < r.created_at)) ORDER BY r.created_at LIMIT ?",
            RequestState.DISPATCHING.value, RequestState.APPROVED.value, RequestState.APPROVED.value, limit)
        return [str(row["id"]) for row in rows]
