"""`python -m bot audit` and `python -m bot serve` as a user runs them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from sandbox.process import BotProcess
from sandbox.stack import ROOT, Stack


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=60)


async def test_audit_prints_every_decision_and_filters_by_time(tmp_path) -> None:
    url = f"sqlite:///{tmp_path}/bot.db"
    async with Stack(database_url=url) as stack:
        await stack.command("U0GUEST", "api v1.4.2 to staging")
        await stack.command("U0DEV", "api v1.4.2 to staging")
    out = await asyncio.to_thread(run_cli, "audit", env={"DATABASE_URL": url})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 2
    assert "slack:U0GUEST\tdeploy" in lines[0] and "\tdenied\t" in lines[0]
    assert "\tdev\tdeploy\t" in lines[1] and "\tok\t" in lines[1]
    later = await asyncio.to_thread(run_cli, "audit", "--since", "2999-01-01", env={"DATABASE_URL": url})
    assert later.returncode == 0 and later.stdout == ""
    bad = await asyncio.to_thread(run_cli, "audit", "--since", "yesterday", env={"DATABASE_URL": url})
    assert bad.returncode == 2 and "ISO date" in bad.stderr and "Traceback" not in bad.stderr


async def test_serve_refuses_to_start_without_secrets_and_serves_with_them(tmp_path) -> None:
    missing = await asyncio.to_thread(run_cli, "serve", "--config", "examples/chatops.yml",
                                      env={"SLACK_SIGNING_SECRET": "", "SLACK_BOT_TOKEN": "",
                                           "TEAMS_OPS_WEBHOOK_URL": "https://example.invalid/x"})
    assert missing.returncode == 1
    assert "env SLACK_SIGNING_SECRET: is not set" in missing.stderr and "Traceback" not in missing.stderr
    stack = Stack(database_url=f"sqlite:///{tmp_path}/bot.db")
    await stack.start_fakes()
    bot = BotProcess(stack.env)
    try:
        await bot.start()
        stack.url = bot.url
        for path in ("/healthz", "/readyz", "/metrics"):
            status, body = await stack.get(path)
            assert status == 200, path
        assert "chatops_outbox_depth" in body
        status, _ = await stack.command("U0DEV", "help")
        assert status == 200
    finally:
        bot.terminate()
        await stack.stop()
