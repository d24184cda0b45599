"""Invoke a Lambda image running locally (the Runtime Interface Emulator) with every test event of a function.

Usage: python invoke.py URL EVENTS_DIR [--junit FILE]
  URL         the emulator's invocation URL, e.g. http://127.0.0.1:9000/2015-03-31/functions/function/invocations
  EVENTS_DIR  .github/lambda-tests/<function>: *.json files {"event": {...}, "expect": {...}}
  --junit     also write the results as JUnit XML (one testcase per event, a <failure> with its problems), the
              format the test-report action reads (the dialect pytest --junitxml writes)
expect: "status" (HTTP status of the invocation, default 200), "response" (fields the JSON response must
have, compared by equality), "body" (fields the JSON-decoded response "body" must have), "error" (true when
the function is expected to raise; default false: any errorType fails the test).
Exit 0 when every event met its expectations, 1 otherwise, 2 on bad usage or no events. Standard library only.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any


def invoke(url: str, event: Any) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=json.dumps(event).encode(), method="POST",  # noqa: S310
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as r:  # noqa: S310 - a loopback emulator URL
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw or b"null")
    except json.JSONDecodeError:
        return status, raw.decode(errors="replace")


def check(case: dict[str, Any], status: int, response: Any) -> list[str]:
    expect = case.get("expect") or {}
    problems = []
    if status != expect.get("status", 200):
        problems.append(f"HTTP status {status}, expected {expect.get('status', 200)}")
    errored = isinstance(response, dict) and "errorType" in response
    if errored != bool(expect.get("error", False)):
        what = f"{response.get('errorType')}: {response.get('errorMessage')}" if errored else "no error"
        problems.append(f"function {'raised' if errored else 'did not raise'} ({what})")
    for key, want in (expect.get("response") or {}).items():
        got = response.get(key) if isinstance(response, dict) else None
        if got != want:
            problems.append(f"response[{key!r}] = {got!r}, expected {want!r}")
    if expect.get("body"):
        try:
            body = json.loads(response.get("body") or "null") if isinstance(response, dict) else None
        except (TypeError, json.JSONDecodeError):
            body = None
        for key, want in expect["body"].items():
            got = body.get(key) if isinstance(body, dict) else None
            if got != want:
                problems.append(f"body[{key!r}] = {got!r}, expected {want!r}")
    return problems


def wait_ready(url: str, seconds: float = 30) -> None:
    base = url.split("/2015-03-31/", 1)[0]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(base, timeout=2).close()  # noqa: S310
            return
        except urllib.error.HTTPError:
            return  # the emulator answers (404 on /): it is up
        except OSError:
            time.sleep(0.5)


def write_junit(path: Path, suite: str, results: list[tuple[Path, list[str], float]]) -> None:
    """``results`` ((event file, problems, seconds) each) as one JUnit <testsuite>."""
    failures = sum(1 for _, problems, _ in results if problems)
    root = ET.Element("testsuite", name=suite, tests=str(len(results)), failures=str(failures), errors="0",
                      skipped="0", time=f"{sum(s for _, _, s in results):.3f}")
    for event, problems, seconds in results:
        case = ET.SubElement(root, "testcase", classname=suite, name=event.name, file=event.as_posix(),
                             time=f"{seconds:.3f}")
        if problems:
            ET.SubElement(case, "failure", message=problems[0]).text = "\n".join(problems)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def main(argv: list[str]) -> int:
    junit = None
    if len(argv) == 4 and argv[2] == "--junit":
        junit, argv = Path(argv[3]), argv[:2]
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    url, folder = argv[0], Path(argv[1])
    cases = sorted(folder.glob("*.json"))
    if not cases:
        print(f"::error title=lambda-test::no test events in {folder}", file=sys.stderr)
        return 2
    wait_ready(url)
    results: list[tuple[Path, list[str], float]] = []
    for path in cases:
        started = time.monotonic()
        try:
            case = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            print(f"::error title=lambda-test::{path.name} is not JSON ({exc})")
            results.append((path, [f"not JSON ({exc})"], 0.0))
            continue
        status, response = invoke(url, case.get("event"))
        problems = check(case, status, response)
        print(f"{'FAIL' if problems else 'ok  '} {path.name}" + "".join(f"\n     {p}" for p in problems))
        results.append((path, problems, time.monotonic() - started))
    failed = sum(1 for _, problems, _ in results if problems)
    print(f"{len(cases) - failed}/{len(cases)} events passed")
    if junit is not None:
        write_junit(junit, f"lambda-test {folder.name}", results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
