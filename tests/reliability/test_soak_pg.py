"""Issue 24 item 6, the short soak inside ``make test``: 60 seconds of mixed traffic under injected faults (two
replicas on PostgreSQL behind a loopback proxy; see sandbox/soak.py). ``make soak`` runs the 10-minute version."""

from __future__ import annotations

from pathlib import Path

from sandbox.soak import render, run
from tests.conftest import require_postgres


async def test_a_minute_of_faults_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    require_postgres()
    rows = await run(60.0, workdir=tmp_path)
    print("\n" + render(rows))
    assert rows["settled"] is True, rows
    assert rows["lost"] == 0 and rows["duplicated"] == 0, rows
    assert rows["security events acknowledged"] == rows["security events recorded exactly once"] \
        == rows["security events counted on alerts"] > 0
    assert rows["commands acknowledged"] == rows["requests created"] == rows["requests dispatched exactly once"] \
        == rows["cards showing a final state"] > 0
    assert rows["cards posted more than once"] == 0
    # production deploys need an approval: each was approved by one acknowledged click and dispatched once
    assert rows["requests needing approval"] == rows["approve clicks acknowledged"] \
        == rows["approvals recorded exactly once"] == rows["approved requests dispatched exactly once"] > 0
    dropped = int(str(rows["webhooks dropped (10 % at random)"]).split(" ")[0])
    assert rows["webhooks sent"] > dropped > 0  # the reconciler found the runs whose webhooks were lost
    for fault in ("replica SIGKILL", "database sessions killed", "GitHub API 500",
                  "GitHub API timeout (504 after 10 s)", "Slack 429/500", "Teams 429", "chat outage (Slack down 10 s)"):
        assert rows[f"fault: {fault}"] > 0, fault  # the faults were injected
