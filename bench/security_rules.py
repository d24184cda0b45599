"""``python -m bench.security_rules``: CloudTrail records evaluated per second, in process (issue 27 item 5).

What is timed is what the security worker does per record before it touches the store: normalise
(``parse_events``: payload -> ``SecurityEvent``, which keeps its record for the rules to read by path) and classify
(the bot's derived facts, then ``best_rule`` over the shipped default rules and the allow-list). Two rows: from the
parsed JSON object (``normalise + rules``, the target: >= 100,000 records/s) and from the recorded text
(``+ JSON``, what one inbox item costs the worker).

Records: every published CloudTrail sample in ``tests/fixtures/cloudtrail`` (see its SOURCES.md; a log file's
``Records`` count one each), each also wrapped as the EventBridge event AWS delivers, plus the bench's own
EventBridge event (``bench/payloads.py``, the AWS docs' example). One thread, no other work in this process. The
rate is records per **CPU second** of this process (``time.process_time``): the 2-core machine is shared, and wall
time would count the moments another process had the core (the wall-clock rate is printed beside it).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bot.alerts.normalize import parse_events
from bot.alerts.worker import SecurityWorker
from bot.config import load_config
from bot.wire import parse_json

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "cloudtrail"
CONFIG = ROOT / "examples" / "chatops.yml"
ENV = {"SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": "bench", "GITHUB_TOKEN": "bench",
       "GITHUB_WEBHOOK_SECRET": "bench", "AWS_EVENTS_API_KEY": "bench",
       "TEAMS_OPS_WEBHOOK_URL": "https://example.invalid/teams"}


def samples() -> list[Any]:
    """Payloads as the bot receives them: each fixture as published, and each of its records as EventBridge
    wraps it (``detail-type`` from the record's kind)."""
    out: list[Any] = []
    for path in sorted(FIXTURES.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        out.append(doc)
        for record in doc.get("Records", [doc]):
            kind = ("AWS Console Sign In via CloudTrail" if record.get("eventName", "").startswith("ConsoleLogin")
                    else "AWS API Call via CloudTrail")
            out.append({"version": "0", "id": f"bench-{len(out)}", "detail-type": kind, "source": "aws.bench",
                        "account": record.get("recipientAccountId", "111122223333"),
                        "time": record.get("eventTime", ""), "region": record.get("awsRegion", "us-east-1"),
                        "resources": [], "detail": record})
    from bench.payloads import eventbridge  # the bench's common case: a read matching no rule
    out.append(json.loads(eventbridge(0, tag="rules", denied=False)[1]))
    return out


def _worker() -> SecurityWorker:
    config = load_config(CONFIG, env=ENV)
    return SecurityWorker(store=None, config=config)  # type: ignore[arg-type]  # classify never touches it


def run(seconds: float, *, repeats: int) -> dict[str, Any]:
    worker = _worker()
    payloads = samples()
    texts = [json.dumps(p) for p in payloads]
    records = sum(len(parse_events(p)[0]) for p in payloads)
    matched = sum(worker.classify(e)[0] is not None for p in payloads for e in parse_events(p)[0])

    def from_objects() -> int:
        n = 0
        for p in payloads:
            for e in parse_events(p)[0]:
                worker.classify(e)
                n += 1
        return n

    def from_text() -> int:
        n = 0
        for t in texts:
            for e in parse_events(parse_json(t))[0]:
                worker.classify(e)
                n += 1
        return n

    out: dict[str, Any] = {"payloads": len(payloads), "records_per_pass": records, "matching_a_rule": matched,
                           "rules": len(worker.settings.rules)}
    for name, fn in (("normalise+rules", from_objects), ("json+normalise+rules", from_text)):
        rates, walls = [], []
        for _ in range(repeats):
            n, t0, c0 = 0, time.perf_counter(), time.process_time()
            while time.perf_counter() - t0 < seconds:
                n += fn()
            rates.append(n / (time.process_time() - c0))
            walls.append(n / (time.perf_counter() - t0))
        out[name] = {"records_per_cpu_s": [round(r) for r in rates], "median": round(statistics.median(rates)),
                     "records_per_wall_s": [round(r) for r in walls]}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.security_rules", description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=2.0, help="per repeat")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    r = run(args.seconds, repeats=args.repeats)
    print(json.dumps(r, indent=2))
    met = r["normalise+rules"]["median"] >= 100_000
    print(f"normalise + default rules: {r['normalise+rules']['median']:,} records per CPU s (target >= 100,000: "
          f"{'yes' if met else 'NO'}); with JSON parsing: {r['json+normalise+rules']['median']:,}/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
