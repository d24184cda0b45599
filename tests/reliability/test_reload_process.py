"""Issue 14.6 against a real process: ``python -m bot serve`` re-reads its config file on SIGHUP, and
``python -m bot reload`` finds it through ``CHATOPS_PID_FILE``. An invalid file is refused with every problem in
the process's log while the previous config keeps serving. Every wait polls with a deadline; nothing is timed."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from sandbox.process import BotProcess
from sandbox.stack import EXAMPLE_CONFIG, ROOT, Stack, wait_for

REFUSED = "not a deployer for staging"


def write_config(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")  # an editor's save: the bot never reads half a file
    tmp.write_text(yaml.safe_dump(data))
    tmp.replace(path)


async def answer(stack: Stack, text: str = "api v1.4.2 to staging") -> str:
    status, body = await stack.command("U0NEW", text)
    assert status == 200, (status, body)
    return str(body["text"])


async def until_answer(stack: Stack, *, accepted: bool, what: str) -> None:
    """Send the command until the answer flips: the reload happens when the process gets round to the signal."""
    last = ""
    deadline = time.monotonic() + 30  # a generous deadline, not a timing assertion
    while time.monotonic() < deadline:
        last = await answer(stack)
        if (last.startswith(":rocket:") if accepted else REFUSED in last):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what}: last answer was {last!r}")


def run_reload(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", "reload"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60, check=False)


async def test_sighup_and_bot_reload_change_who_may_deploy_and_a_bad_file_is_refused(tmp_path: Path) -> None:
    data = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    data["people"]["newbie"] = {"slack": "U0NEW"}
    config = tmp_path / "chatops.yml"
    write_config(config, data)
    pid_file = tmp_path / "bot.pid"
    log = tmp_path / "bot.log"
    stack = Stack(database_url=f"sqlite:///{tmp_path}/bot.db")
    await stack.start_fakes()
    stack.env["CHATOPS_PID_FILE"] = str(pid_file)
    bot = BotProcess(stack.env, config=config, log_path=log)
    try:
        await bot.start()
        assert bot.proc is not None
        stack.url = bot.url
        stack.github.webhook_url = f"{bot.url}/github/webhook"
        assert pid_file.read_text().strip() == str(bot.proc.pid), "serve writes its pid where reload looks"
        assert REFUSED in await answer(stack), "newbie is not a deployer yet"

        # 1. a valid change + SIGHUP: the same command is now accepted
        data["groups"]["deployers"].append("newbie")
        write_config(config, data)
        os.kill(bot.proc.pid, signal.SIGHUP)
        await until_answer(stack, accepted=True, what="newbie accepted after SIGHUP")
        assert bot.proc.poll() is None

        # 2. an invalid file + SIGHUP: refused, every problem logged, the previous config keeps serving
        bad = dict(data, environments={**data["environments"], "qa": {"deployers": ["nobody"], "gate": "maybe"}})
        write_config(config, bad)
        os.kill(bot.proc.pid, signal.SIGHUP)
        await wait_for(lambda: "config reload refused with 2 problem(s)" in log.read_text(errors="replace"),
                       timeout=30, what="the refusal in the bot's log")
        logged = log.read_text(errors="replace")
        assert "config reload refused: environments.qa.deployers[0]: 'nobody' is neither a group nor a person" \
            in logged
        assert "config reload refused: environments.qa.gate: 'maybe' is not one of" in logged
        assert bot.proc.poll() is None, "a bad file never stops the bot"
        assert (await answer(stack)).startswith(":rocket:"), "the previous config (newbie a deployer) still serves"
        assert not (await answer(stack, "api v1.4.2 to qa")).startswith(":rocket:"), "nothing of the bad file applied"

        # 3. `python -m bot reload` signals the process through the pid file: newbie removed again
        data["groups"]["deployers"].remove("newbie")
        write_config(config, data)
        done = run_reload(stack.env)
        assert done.returncode == 0, done.stderr
        assert f"sent SIGHUP to {bot.proc.pid}" in done.stdout
        await until_answer(stack, accepted=False, what="newbie refused after `python -m bot reload`")
        assert log.read_text(errors="replace").count("config reloaded:") == 2

        bot.proc.terminate()  # SIGTERM: drains and hands over (bot/runtime/shutdown.py), then removes the pid file
        assert bot.proc.wait(120) == 0
        assert not pid_file.exists(), "a stopped bot leaves no pid file behind"
        gone = run_reload(stack.env)
        assert gone.returncode == 1
        assert "no running bot found" in gone.stderr and str(pid_file) in gone.stderr
    finally:
        bot.kill()
        await stack.stop()
