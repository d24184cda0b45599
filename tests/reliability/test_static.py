"""Static check in the test suite: bandit finds nothing of high severity in the production code."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bandit_finds_no_high_severity_issue() -> None:
    bandit = shutil.which("bandit") or str(Path(sys.executable).parent / "bandit")  # the dev extras install it
    result = subprocess.run(
        [str(bandit), "-c", "pyproject.toml", "-r", "bot", "chatops", "handlers", "-lll", "-q", "-f", "txt"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, f"bandit (high severity):\n{result.stdout}\n{result.stderr}"
