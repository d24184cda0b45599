"""The test-report action's script on real JUnit files (pytest's --junitxml here; jest-junit's in test_examples)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "workflows" / "actions" / "test-report" / "report.py"

SAMPLE = '''
import pytest

def test_passes():
    assert 1 + 1 == 2

def test_fails():
    assert "deploy" == "rollback", "state | <wrong>"

@pytest.mark.skip(reason="not today")
def test_skipped():
    pass

@pytest.fixture
def broken():
    raise RuntimeError("fixture exploded")

def test_errors(broken):
    pass
'''


def _junit(tmp_path: Path) -> Path:
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    report = tmp_path / "reports" / "junit.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
                    str(tmp_path / "test_sample.py")], cwd=tmp_path, capture_output=True, text=True)
    assert report.is_file()
    return report


def _render(title: str, *patterns: str) -> str:
    done = subprocess.run([sys.executable, str(SCRIPT), title, *patterns], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return re.sub(r"\| [0-9.]+ s \|", "| T s |", done.stdout)


def test_pytest_report_becomes_totals_and_one_row_per_failing_test(tmp_path: Path) -> None:
    report = _junit(tmp_path)
    md = _render("api unit tests", str(tmp_path / "reports" / "*.xml"))
    assert md.splitlines()[:5] == [
        "### ❌ api unit tests",
        "",
        "| tests | passed | failed | errors | skipped | time |",
        "|---:|---:|---:|---:|---:|---:|",
        "| 4 | 1 | 1 | 1 | 1 | T s |",
    ]
    rows = [line for line in md.splitlines() if line.startswith("| test_")]
    assert len(rows) == 2, md
    fails = next(r for r in rows if r.startswith("| test_fails"))
    # the message is escaped for Markdown/HTML: a pipe cannot break the table, a tag cannot render
    assert "state \\| &lt;wrong&gt;" in fails and "test_sample" in fails
    assert "fixture exploded" in next(r for r in rows if r.startswith("| test_errors"))
    assert report.read_text().count("<testcase") == 4


def test_no_report_says_so_instead_of_a_green_summary(tmp_path: Path) -> None:
    md = _render("web tests", str(tmp_path / "missing" / "*.xml"))
    assert "No JUnit report was found" in md and "✅" not in md


def test_a_passing_run_is_green(tmp_path: Path) -> None:
    (tmp_path / "test_ok.py").write_text("def test_ok():\n    assert True\n")
    report = tmp_path / "junit.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
                    str(tmp_path / "test_ok.py")], cwd=tmp_path, capture_output=True)
    md = _render("ok", str(report))
    assert md.startswith("### ✅ ok") and "| 1 | 1 | 0 | 0 | 0 | T s |" in md
