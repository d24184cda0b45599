"""Issue 23 item 10: the Lambda image tests publish their results through test-report, like api-ci and web-ci.

invoke.py writes JUnit XML (``--junit``); the lambda-test action passes its ``junit`` input; every workflow step that
uses lambda-test names a file and is followed by test-report (``if: always()``, the same file, a unique artifact);
and test-report's own script reads what invoke.py wrote, naming the failing event.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.workflows.test_lambda_test import EXAMPLE, SCRIPT, emulator  # noqa: F401 - the fixture
from tests.workflows.test_workflow_tests import WORKFLOWS, load, uses

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "workflows" / "actions" / "test-report" / "report.py"


def _run(url: str, events: Path, junit: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), url, str(events), "--junit", str(junit)],
                          capture_output=True, text=True, timeout=60, check=False)


def _summary(junit: Path) -> str:
    done = subprocess.run([sys.executable, str(REPORT), "orders image invocation tests", str(junit)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_invoke_writes_junit_that_test_report_reads(emulator: str, tmp_path: Path) -> None:  # noqa: F811
    events = tmp_path / "orders"
    shutil.copytree(EXAMPLE / ".github" / "lambda-tests" / "orders", events)
    ok = tmp_path / "reports" / "ok.xml"
    assert _run(emulator, events, ok).returncode == 0
    assert "expected" not in _summary(ok)
    case = json.loads((events / "create-order.json").read_text())
    case["expect"]["body"]["total_cents"] = 9999
    (events / "create-order.json").write_text(json.dumps(case))
    bad = tmp_path / "reports" / "bad.xml"
    done = _run(emulator, events, bad)
    assert done.returncode == 1 and bad.is_file()
    summary = _summary(bad)
    assert "create-order.json" in summary and "expected 9999" in summary, summary


def test_without_junit_nothing_is_written(emulator: str, tmp_path: Path) -> None:  # noqa: F811
    done = subprocess.run([sys.executable, str(SCRIPT), emulator, str(EXAMPLE / ".github" / "lambda-tests" / "orders")],
                          capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path)
    assert done.returncode == 0 and not any(tmp_path.iterdir())


def test_the_action_passes_junit_to_the_script() -> None:
    action = yaml.safe_load((ROOT / "workflows" / "actions" / "lambda-test" / "action.yml").read_text())
    assert action["inputs"]["junit"]["default"] == ""
    step = action["runs"]["steps"][0]
    assert step["env"]["JUNIT"] == "${{ inputs.junit }}" and '--junit "$JUNIT"' in step["run"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_image_test_is_followed_by_test_report(path: Path) -> None:
    for name, job in load(path)["jobs"].items():
        steps = job.get("steps", [])
        for i, step in enumerate(steps):
            if not uses(step, "lambda-test"):
                continue
            junit = step.get("with", {}).get("junit")
            assert junit, f"{path.name}:{name}: lambda-test must write JUnit (with: junit)"
            report = steps[i + 1] if i + 1 < len(steps) else {}
            assert uses(report, "test-report"), f"{path.name}:{name}: the step after lambda-test must be test-report"
            assert report.get("if") == "always()" and report["with"]["junit"] == junit, f"{path.name}:{name}"


def test_build_and_deploy_lambda_reports_its_image_tests() -> None:
    steps = load(ROOT / "workflows" / "build-and-deploy-lambda.yml")["jobs"]["build"]["steps"]
    assert any(uses(s, "test-report") for s in steps)
