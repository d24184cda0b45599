"""``serve --workers N`` / ``CHATOPS_WORKERS``: N processes share one port (SO_REUSEPORT) on one PostgreSQL
database; every delivery is recorded once whichever process answered; SIGTERM drains every process and each
hands back its own leases; SQLite and bad counts are refused with a clear reason."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from bot.errors import ConfigError
from bot.runtime.supervisor import worker_count
from bot.store.store import Store
from sandbox.process import BotProcess
from sandbox.stack import ROOT, SANDBOX_SECRETS, Stack
from tests.conftest import drop_pg_schema, new_pg_schema, require_postgres
from tests.reliability.helpers import access_denied, envelope, write_config

API_KEY = SANDBOX_SECRETS["CHATOPS_EVENTS_API_KEY"]


def _listening_inodes(port: int) -> set[str]:
    """Socket inodes listening on ``port`` (IPv4, loopback)."""
    out = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        if f[1].endswith(f":{port:04X}") and f[3] == "0A":  # 0A = LISTEN
            out.add(f[9])
    return out


def _socket_inodes(pid: int) -> set[str]:
    out = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            out.add(target[8:-1])
    return out


async def test_two_worker_processes_share_the_port_record_once_and_hand_over(tmp_path: Path) -> None:
    require_postgres()
    schema, url = await new_pg_schema()
    config = write_config(tmp_path)
    stack = Stack(database_url=url, config_path=config, step_delay=0.02)
    await stack.start_fakes()
    bot = BotProcess({**stack.env, "CHATOPS_WORKERS": "2"}, config=config, log_path=tmp_path / "bot.log")
    store: Store | None = None
    try:
        await bot.start(timeout=60)
        assert bot.proc is not None
        children = [p for p in bot.pids() if p != bot.proc.pid]
        assert len(children) == 2, bot.pids()
        deadline = time.monotonic() + 30  # the second child may still be starting
        while True:
            listening = _listening_inodes(bot.port)
            if all(_socket_inodes(c) & listening for c in children) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        for child in children:  # each child has its own listening socket on the one port
            assert _socket_inodes(child) & listening, (child, listening)
        assert not _socket_inodes(bot.proc.pid) & listening  # the supervisor serves nothing itself

        # every event sent twice on fresh connections (spread over both processes): recorded once each
        records = [access_denied(user=f"w-{i % 3}") for i in range(40)]
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector) as s:
            async def post(body: bytes) -> dict[str, object]:
                async with s.post(f"{bot.url}/aws/events", data=body,
                                  headers={"x-api-key": API_KEY, "Content-Type": "application/json"}) as r:
                    assert r.status == 200
                    return dict(await r.json())
            bodies = [json.dumps(envelope(rec)).encode() for rec in records]
            answers = await asyncio.gather(*(post(b) for b in bodies + bodies))
        assert sum(not a["duplicate"] for a in answers) == len(records)

        store = await Store.open(url)
        async with store.unit() as u:
            rows = await u.c.fetch("SELECT key FROM inbox WHERE source = 'security'")
        assert len(rows) == len(records)

        bot.proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(bot.proc.wait, 60)
        assert code == 0
        assert sorted(bot.pids()) == [bot.proc.pid]  # the children are gone (reaped by the supervisor)
        async with store.unit() as u:
            held = await u.c.fetch(
                "SELECT id FROM inbox WHERE lease_until IS NOT NULL AND state = 'pending' "
                "UNION ALL SELECT id FROM outbox WHERE lease_until IS NOT NULL AND state = 'pending'")
        assert held == []
        log = (tmp_path / "bot.log").read_text()
        assert log.count("released leases on shutdown") == 2, log[-2000:]
    finally:
        bot.kill()
        for pid in bot.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if store is not None:
            await store.close()
        await stack.stop()
        await drop_pg_schema(schema)


async def test_several_workers_on_sqlite_are_refused_with_the_reason(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    stack = Stack(database_url=f"sqlite:///{tmp_path}/x.db", config_path=config)
    await stack.start_fakes()
    try:
        env = {**stack.env, "PYTHONUNBUFFERED": "1"}
        done = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "bot", "serve", "--config", str(config), "--workers", "2"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    finally:
        await stack.stop()
    assert done.returncode == 1
    assert "need PostgreSQL" in done.stderr, done.stderr
    assert not (tmp_path / "x.db").is_file()  # refused before anything was opened


@pytest.mark.parametrize(("arg", "env", "expected"), [
    (None, {}, 1), (None, {"CHATOPS_WORKERS": "3"}, 3), (2, {"CHATOPS_WORKERS": "3"}, 2),
])
def test_worker_count_flag_wins_over_environment(arg: int | None, env: dict[str, str], expected: int) -> None:
    assert worker_count(arg, env) == expected


@pytest.mark.parametrize(("arg", "env"), [
    (0, {}), (None, {"CHATOPS_WORKERS": "two"}), (None, {"CHATOPS_WORKERS": "-1"}), (65, {}),
])
def test_bad_worker_counts_are_refused_naming_the_source(arg: int | None, env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as exc:
        worker_count(arg, env)
    assert ("--workers" if arg is not None else "CHATOPS_WORKERS") in exc.value.problems[0]
