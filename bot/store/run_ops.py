"""What the worker reads of runs' requests to judge their webhooks (``Unit.run_heads``), and the job lines' codec."""

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
