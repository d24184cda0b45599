"""``python -m bench.critical_lane``: how long a critical alert takes to reach Slack while 300 other alert cards
are queued in the same channel at the default 1 message/s (issue 12: goal within 2 s). A figure, not a test.

The bot runs in process against the loopback fakes (``sandbox.stack``), on SQLite. 300 access-denied events from
300 principals (folding turned off, so each queues its own card), then one CloudTrail StopLogging event: the
time is from its signed POST on /aws/events to the Slack fake holding its card.
"""

from __future__ import annotations

import asyncio
import copy
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from sandbox.stack import EXAMPLE_CONFIG, SANDBOX_SECRETS, Stack, wait_for

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "cloudtrail"
HEADERS = {"x-api-key": SANDBOX_SECRETS["CHATOPS_EVENTS_API_KEY"], "Content-Type": "application/json"}
QUEUED = 300


def _event(record: dict[str, Any], source: str) -> bytes:
    return json.dumps({"version": "0", "id": f"eb-{record['eventID']}", "detail-type": "AWS API Call via CloudTrail",
                       "source": source, "account": "123456789012", "time": "2024-01-01T00:00:00Z",
                       "region": "us-east-1", "resources": [], "detail": record}).encode()


async def measure(tmp: Path) -> dict[str, Any]:
    config = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    config["security"] = {**config.get("security", {}), "fold_after": 100_000}
    path = tmp / "chatops.yml"
    path.write_text(yaml.safe_dump(config))
    denied = json.loads((FIXTURES / "access-denied.states-DeleteStateMachine.awsdocs.json").read_text())
    stop = json.loads((FIXTURES / "stop-logging.panther-analysis.json").read_text())
    async with Stack(database_url=f"sqlite:///{tmp}/bench.db", config_path=path, channel_interval=1.0) as stack:
        for i in range(QUEUED):
            r = copy.deepcopy(denied)
            r["eventID"], r["userIdentity"]["arn"] = f"storm-{i}", f"arn:aws:sts::123456789012:assumed-role/x/s-{i}"
            await stack.post("/aws/events", _event(r, "aws.states"), HEADERS)
        await asyncio.sleep(3)  # the worker turns them into queued cards; a few are sent meanwhile
        posted_before = len(stack.slack.posts("C0SECURITY"))
        start = time.perf_counter()
        await stack.post("/aws/events", _event(stop, "aws.cloudtrail"), HEADERS)
        await wait_for(lambda: any("StopLogging" in json.dumps(c.args.get("blocks", ""))
                                   for c in stack.slack.posts("C0SECURITY")), timeout=600, what="critical card")
        elapsed = time.perf_counter() - start
        return {"critical_alert_s": round(elapsed, 3), "queued": QUEUED - posted_before,
                "storm_cards_posted_before": posted_before}


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(measure(Path(tmp)))
    met = "yes" if result["critical_alert_s"] <= 2.0 else "NO"
    print(f"critical alert delivered while {result['queued']} other cards queued (1 msg/s per channel) | "
          f"{result['critical_alert_s']:.2f} s | target <= 2 s | met: {met}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
