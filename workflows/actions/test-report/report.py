"""JUnit XML -> Markdown for the job summary: totals, then each failing test with its message and file.

Usage: python report.py TITLE FILE_OR_GLOB... (prints Markdown on stdout; exit 0 even when tests failed:
the test step itself fails the job). Standard library only, so it runs on any runner's Python.
Reads the dialects pytest (--junitxml) and jest-junit write: <testsuites>/<testsuite>/<testcase> with
<failure>/<error>/<skipped> children; a test's file comes from its ``file`` attribute, else its classname.
"""

from __future__ import annotations

import glob
import html
import sys
import xml.etree.ElementTree as ET  # parses the job's own test reports, not untrusted input
from dataclasses import dataclass, field

MAX_FAILURES = 50
MAX_MESSAGE = 300


@dataclass
class Totals:
    tests: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0
    seconds: float = 0.0
    failing: list[tuple[str, str, str]] = field(default_factory=list)  # (test, file, message)


def _cell(text: str) -> str:
    """One Markdown table cell: escaped, one line, bounded."""
    text = " ".join(text.split())
    if len(text) > MAX_MESSAGE:
        text = text[: MAX_MESSAGE - 1] + "…"
    return html.escape(text, quote=False).replace("|", "\\|")


def read(path: str, totals: Totals) -> None:
    root = ET.parse(path).getroot()  # see the import
    suites = [root] if root.tag == "testsuite" else root.iter("testsuite")
    for suite in suites:
        for case in suite.iter("testcase"):
            totals.tests += 1
            totals.seconds += float(case.get("time") or 0)
            name = case.get("name", "?")
            where = case.get("file") or case.get("classname") or suite.get("name") or ""
            for kind in ("failure", "error"):
                node = case.find(kind)
                if node is not None:
                    setattr(totals, kind + "s", getattr(totals, kind + "s") + 1)
                    message = node.get("message") or (node.text or "").strip().splitlines()[0:1]
                    message = message if isinstance(message, str) else " ".join(message)
                    totals.failing.append((name, where, message or kind))
                    break
            else:
                if case.find("skipped") is not None:
                    totals.skipped += 1


def render(title: str, totals: Totals, files: list[str]) -> str:
    failed = totals.failures + totals.errors
    passed = totals.tests - failed - totals.skipped
    icon = "❌" if failed else ("⚠️" if not totals.tests else "✅")
    lines = [f"### {icon} {_cell(title)}", ""]
    if not files:
        lines.append("No JUnit report was found: the tests did not run or wrote no report.")
        return "\n".join(lines) + "\n"
    lines += [
        "| tests | passed | failed | errors | skipped | time |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {totals.tests} | {passed} | {totals.failures} | {totals.errors} | {totals.skipped} "
        f"| {totals.seconds:.1f} s |",
    ]
    if totals.failing:
        lines += ["", "| failing test | file | message |", "|---|---|---|"]
        for name, where, message in totals.failing[:MAX_FAILURES]:
            lines.append(f"| {_cell(name)} | {_cell(where)} | {_cell(message)} |")
        if len(totals.failing) > MAX_FAILURES:
            lines.append(f"\n… and {len(totals.failing) - MAX_FAILURES} more (see the uploaded reports).")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: report.py TITLE FILE_OR_GLOB...", file=sys.stderr)
        return 2
    title, patterns = argv[0], argv[1:]
    files = sorted({f for p in patterns for f in glob.glob(p, recursive=True)})
    totals = Totals()
    for path in files:
        try:
            read(path, totals)
        except ET.ParseError as exc:
            print(f"::warning title=test-report::{path} is not JUnit XML ({exc})", file=sys.stderr)
    sys.stdout.write(render(title, totals, files))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
