"""Issue 22 item 8 against real processes: the pid file is never written through a link nor into a directory
others may write; ``python -m bot reload`` signals only the bot; a SIGHUP during start-up (single process or
``serve --workers 2``) neither kills the bot nor leaves a stale file. Every wait polls with a deadline."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from bot.runtime.pidfile import is_bot_command_line
from sandbox.process import free_port
from sandbox.stack import ROOT, Stack
from tests.conftest import drop_pg_schema, new_pg_schema, require_postgres
from tests.reliability.helpers import write_config


def run_reload(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", "reload"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60, check=False)


def start_bot(env: dict[str, str], config: Path, log: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    full = {**env, "PORT": str(port), "HOST": "127.0.0.1", "PYTHONUNBUFFERED": "1"}
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--config", str(config), *extra],
                                cwd=ROOT, env=full, stdout=out, stderr=subprocess.STDOUT)
    return proc, f"http://127.0.0.1:{port}"


async def ready(url: str) -> bool:
    try:
        async with aiohttp.ClientSession() as s, s.get(f"{url}/readyz") as resp:
            return resp.status == 200
    except aiohttp.ClientError:
        return False


def recorded(pid_file: Path) -> str:
    """The pid the bot wrote ("" until it has: the planted link is still there, or the file is being written)."""
    if pid_file.is_symlink() or not pid_file.exists():
        return ""
    text = pid_file.read_text().strip()
    return text if text.isdigit() else ""


async def hup_until_ready(proc: subprocess.Popen[bytes], pid_file: Path, url: str) -> int:
    """SIGHUP the pid in the pid file as soon as it appears, and again and again, until the bot is ready."""
    sent = 0
    deadline = time.monotonic() + 90  # generous: a deadline, not a timing assertion
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the bot died of a SIGHUP during start-up (exit {proc.returncode})"
        text = recorded(pid_file)
        if text:
            os.kill(int(text), signal.SIGHUP)
            sent += 1
            if await ready(url):
                return sent
        await asyncio.sleep(0.02)
    raise AssertionError("the bot never became ready")


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.terminate()
    try:
        return proc.wait(120)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_reload_refuses_a_pid_that_is_not_the_bot(tmp_path: Path) -> None:
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        (tmp_path / "bot.pid").write_text(f"{stranger.pid}\n")
        done = run_reload({**os.environ, "CHATOPS_PID_FILE": str(tmp_path / "bot.pid")})
        assert done.returncode == 1
        assert f"pid {stranger.pid}" in done.stderr and "not a running chatops bot" in done.stderr
        assert stranger.poll() is None, "an unrelated process was signalled"
    finally:
        stranger.kill()
        stranger.wait()


def test_reload_refuses_a_symlinked_pid_file(tmp_path: Path) -> None:
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        (tmp_path / "elsewhere").write_text(f"{stranger.pid}\n")
        (tmp_path / "bot.pid").symlink_to(tmp_path / "elsewhere")
        done = run_reload({**os.environ, "CHATOPS_PID_FILE": str(tmp_path / "bot.pid")})
        assert done.returncode == 1 and "no running bot found" in done.stderr
        assert stranger.poll() is None, "signalled through a link"
    finally:
        stranger.kill()
        stranger.wait()


def test_the_command_lines_of_the_bot() -> None:
    assert is_bot_command_line(["/usr/bin/python3", "-m", "bot", "serve", "--config", "x.yml"])
    assert is_bot_command_line(["/app/.venv/bin/python", "/app/.venv/bin/chatops-bot", "serve"])
    assert is_bot_command_line(["chatops-bot", "serve", "--workers", "2"])
    assert not is_bot_command_line(["sleep", "60"])
    assert not is_bot_command_line(["python", "-m", "bot", "reload"])
    assert not is_bot_command_line(["python", "-m", "other", "serve"])
    assert not is_bot_command_line(["serve"])


async def test_a_pid_file_in_a_directory_others_may_write_is_not_written(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    stack = Stack(database_url=f"sqlite:///{tmp_path}/bot.db", config_path=config)
    await stack.start_fakes()
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    try:
        log = tmp_path / "shared.log"
        proc, url = start_bot({**stack.env, "CHATOPS_PID_FILE": str(shared / "bot.pid")}, config, log)
        await hup_until_ready_or_up(proc, url)
        assert not (shared / "bot.pid").exists()
        assert "not writing the pid file" in log.read_text(errors="replace")
        assert stop(proc) == 0
    finally:
        await stack.stop()


async def test_a_link_is_never_written_through_and_a_hup_at_start_is_a_reload(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    stack = Stack(database_url=f"sqlite:///{tmp_path}/bot.db", config_path=config)
    await stack.start_fakes()
    victim = tmp_path / "victim"
    victim.write_text("keep me\n")
    private = tmp_path / "run"
    private.mkdir(mode=0o700)
    try:
        # a symbolic link at the pid-file path: the target is untouched; SIGHUPs from the moment the file exists
        # are reloads, never fatal; on SIGTERM the file goes
        (private / "bot.pid").symlink_to(victim)
        log = tmp_path / "bot.log"
        env = {**stack.env, "CHATOPS_PID_FILE": str(private / "bot.pid")}
        proc, url = start_bot(env, config, log)
        assert await hup_until_ready(proc, private / "bot.pid", url) >= 1
        assert victim.read_text() == "keep me\n"
        assert not (private / "bot.pid").is_symlink()
        assert (private / "bot.pid").read_text().strip() == str(proc.pid)
        assert run_reload(env).returncode == 0
        assert stop(proc) == 0
        assert not (private / "bot.pid").exists(), "a stopped bot leaves no pid file behind"
        assert "config reloaded:" in log.read_text(errors="replace")
    finally:
        await stack.stop()


async def hup_until_ready_or_up(proc: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the bot exited ({proc.returncode})"
        if await ready(url):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the bot never became ready")


async def test_the_supervisor_of_two_workers_survives_reloads_during_start_up(tmp_path: Path) -> None:
    require_postgres()
    schema, db = await new_pg_schema()
    config = write_config(tmp_path)
    stack = Stack(database_url=db, config_path=config)
    await stack.start_fakes()
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    env = {**stack.env, "CHATOPS_PID_FILE": str(run / "bot.pid"), "CHATOPS_WORKERS": "2"}
    log = tmp_path / "bot.log"
    proc, url = start_bot(env, config, log)
    try:
        await hup_until_ready(proc, run / "bot.pid", url)
        done = run_reload(env)
        assert done.returncode == 0, done.stderr
        assert proc.poll() is None, "the supervisor exited"
        assert "exited on their own" not in log.read_text(errors="replace")
        assert stop(proc) == 0
        assert not (run / "bot.pid").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
        await stack.stop()
        await drop_pg_schema(schema)
