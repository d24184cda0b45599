"""Issue 22 item 7: a reload validates with the same function as serve and check-config (bot/runtime/validate.py), so
a file either refuses is refused on reload too, one test per config section; the old config keeps serving and
commands over signed HTTP keep working (before, a bad quiet_hours reloaded and every command then failed)."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from chatops.app import PIPELINE, RELOADER
from sandbox.stack import EXAMPLE_CONFIG, SANDBOX_SECRETS, Stack

Edit = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        *head, last = path.split(".")
        target: Any = data
        for key in head:
            target = target[int(key)] if isinstance(target, list) else target.setdefault(key, {})
        target[last] = value
    return edit


SECTIONS: dict[str, tuple[Edit, str]] = {
    "github": (_set("github.repository", "not a repository"), "github.repository"),
    "slack": (_set("slack.channels", "C0DEPLOYS"), "slack"),
    "teams": (_set("teams.webhooks.ops.updates", "sometimes"), "teams.webhooks.ops.updates"),
    "people": (_set("people.ghost", "not a mapping"), "people.ghost"),
    "groups": (_set("groups.deployers", ["nobody-at-all"]), "nobody-at-all"),
    "environments": (_set("environments.staging.gate", "maybe"), "environments.staging.gate"),
    "services": (_set("services.api.environments", ["nowhere"]), "services.api"),
    "routes": (_set("routes.0.quiet_hours", {"from": "25:00", "to": "07:00", "tz": "Mars/Olympus"}),
               "routes[0].quiet_hours"),
    "security": (_set("security.no_such_setting", 1), "security"),
    "freezes": (_set("freezes", [{"environments": ["nowhere"], "from": "x"}]), "freezes"),
    "admins": (_set("admins", ["nobody-at-all"]), "admins"),
    "metrics": (_set("metrics.failure_window", "soon"), "metrics.failure_window"),
}


@pytest.mark.parametrize("section", sorted(SECTIONS))
async def test_reload_refuses_what_serve_refuses(tmp_path: Path, section: str,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    edit, names = SECTIONS[section]
    data = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    path = tmp_path / "chatops.yml"
    path.write_text(yaml.safe_dump(data))
    async with Stack(database_url=f"sqlite:///{tmp_path}/bot.db", config_path=path) as stack:
        assert stack.app is not None
        serving = stack.app[PIPELINE].config
        edit(data)
        path.write_text(yaml.safe_dump(data))
        env = {**SANDBOX_SECRETS, "PATH": "/usr/bin:/bin", "TEAMS_OPS_WEBHOOK_URL": "https://example.invalid/hook"}
        checked = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "bot", "check-config", str(path)],
                                          env=env, capture_output=True, text=True, timeout=60, check=False)
        assert checked.returncode == 1 and names in checked.stderr, checked.stderr  # check-config refuses it
        with caplog.at_level(logging.ERROR, logger="bot.runtime.reload"):
            assert not stack.app[RELOADER].reload()
        assert stack.app[PIPELINE].config is serving
        assert any(names in r.getMessage() for r in caplog.records), [r.getMessage() for r in caplog.records]
        status, answer = await stack.command("U0DEV", "status api")
        assert status == 200 and "staging" in answer["text"], answer
        status, deploy = await stack.command("U0DEV", "api v1.4.2 to staging")
        assert deploy["text"].startswith(":rocket:"), deploy["text"]
