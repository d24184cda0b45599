"""Issue 26 item 1: a reload refused for a bad file logs every problem with its key path and line, through the
running app's reloader (the same validation as serve and check-config)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from chatops.app import PIPELINE, RELOADER
from sandbox.stack import EXAMPLE_CONFIG, Stack


async def test_a_refused_reload_logs_path_and_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "chatops.yml"
    good = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    path.write_text(good, encoding="utf-8")
    async with Stack(database_url=f"sqlite:///{tmp_path}/bot.db", config_path=path) as stack:
        assert stack.app is not None
        serving = stack.app[PIPELINE].config
        lines = good.splitlines()
        staging = next(i for i, line in enumerate(lines) if line.startswith("  staging:")) + 1
        lines[staging - 1] = "  staging:    {deployers: [nobody]}"
        route = next(i for i, line in enumerate(lines) if "kind: [failure]" in line) + 1
        lines[route - 1] = lines[route - 1].replace("mention: here", "mention: here, digest: {every: 3x}")
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        with caplog.at_level(logging.ERROR, logger="bot.runtime.reload"):
            assert not stack.app[RELOADER].reload()
        assert stack.app[PIPELINE].config is serving
        logged = [r.getMessage() for r in caplog.records]
        assert (f"config reload refused: environments.staging.deployers[0]: 'nobody' is neither a group nor a "
                f"person (line {staging})") in logged, logged

        lines[staging - 1] = "  staging:    {deployers: [deployers]}"  # the config parses; a setting does not
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="bot.runtime.reload"):
            assert not stack.app[RELOADER].reload()
        logged = [r.getMessage() for r in caplog.records]
        assert (f"config reload refused: routes[1].digest.every: '3x' is not a duration like 90s, 30m, 2h, 1d or "
                f"1w (line {route})") in logged, logged
