"""``python -m bench.container IMAGE BASE``: the image's figures (docs/benchmarks.md, "Container").

Prints the size the runtime layers add to the base and the time from ``docker run`` to ``/readyz`` 200
(median of five starts, read-only root, --network host). Needs a Docker engine and images built as in
tests/container (``chatops-bot:test`` on ``chatops-test/base:bookworm``).
"""

from __future__ import annotations

import json
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {"SLACK_BOT_TOKEN": "xoxb-b", "SLACK_SIGNING_SECRET": "s", "GITHUB_TOKEN": "g", "GITHUB_WEBHOOK_SECRET": "w",
       "CHATOPS_EVENTS_API_KEY": "k", "TEAMS_OPS_WEBHOOK_URL": "https://example.invalid/t"}


def size(image: str) -> int:
    out = subprocess.run(["docker", "image", "inspect", image], capture_output=True, text=True, check=True).stdout
    return int(json.loads(out)[0]["Size"])


def start_to_ready(image: str) -> float:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = [a for k, v in {**ENV, "PORT": str(port), "HOST": "127.0.0.1"}.items() for a in ("-e", f"{k}={v}")]
    t0 = time.monotonic()
    cid = subprocess.run(["docker", "run", "-d", "--network", "host", "--read-only", "-v", "/data", "-v",
                          f"{ROOT / 'examples/chatops.yml'}:/config/chatops.yml:ro", *env, image],
                         capture_output=True, text=True, check=True).stdout.strip()
    try:
        while time.monotonic() - t0 < 60:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                    if r.status == 200:
                        return time.monotonic() - t0
            except (urllib.error.URLError, OSError):
                time.sleep(0.05)
        raise RuntimeError("not ready within 60 s")
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", cid], capture_output=True)


def main() -> int:
    image, base = (sys.argv[1:3] + ["chatops-bot:test", "chatops-test/base:bookworm"][len(sys.argv[1:3]):])
    added = (size(image) - size(base)) / 1e6
    starts = [start_to_ready(image) for _ in range(5)]
    print(f"runtime layers over the base: {added:.0f} MB (target <= 150 MB)")
    print(f"docker run -> /readyz 200: median {statistics.median(starts):.2f} s, max {max(starts):.2f} s "
          f"(target < 5 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
