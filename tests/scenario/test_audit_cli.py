"""Issue 23 item 10: ``python -m bot audit`` with a missing or wrong ``DATABASE_URL`` fails with one clear line
(exit 1, no traceback) and creates nothing, instead of creating an empty database and printing nothing."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.stack import ROOT
from tests.conftest import PG_DSN


def audit(cwd: Path, url: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["PYTHONPATH"] = str(ROOT)
    if url is not None:
        env["DATABASE_URL"] = url
    return subprocess.run([sys.executable, "-m", "bot", "audit"], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=60, check=False)


def one_line_error(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    for word in words:
        assert word in lines[0], lines[0]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_missing_database_url_is_refused_and_no_database_is_created(tmp_path: Path) -> None:
    one_line_error(audit(tmp_path, None), "DATABASE_URL is not set")
    one_line_error(audit(tmp_path, ""), "DATABASE_URL is not set")
    assert list(tmp_path.iterdir()) == []


def test_a_sqlite_path_without_a_file_is_refused_and_not_created(tmp_path: Path) -> None:
    one_line_error(audit(tmp_path, f"sqlite:///{tmp_path}/typo/bot.db"), "no SQLite database", "typo/bot.db")
    one_line_error(audit(tmp_path, "sqlite:///"), "no SQLite database")
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_is_not_the_bots_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER)")
    conn.close()
    one_line_error(audit(tmp_path, f"sqlite:///{other}"), "without the bot's tables")
    with sqlite3.connect(other) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    conn.close()
    assert tables == ["notes"], "audit created tables in someone else's database"
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n" * 100)
    one_line_error(audit(tmp_path, f"sqlite:///{text}"))
    one_line_error(audit(tmp_path, "mysql://db/chatops"), "must start with")


def test_an_unreachable_or_unknown_postgresql_database_is_one_line_without_the_password(tmp_path: Path) -> None:
    done = audit(tmp_path, f"postgresql://chatops:s3cret-pw@127.0.0.1:{_closed_port()}/chatops")
    one_line_error(done, "cannot connect to PostgreSQL")
    assert "s3cret-pw" not in done.stderr


def test_a_postgresql_database_that_is_not_the_bots_is_refused(tmp_path: Path) -> None:
    try:
        import asyncpg  # noqa: F401
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            pass
    except OSError:
        pytest.skip("no PostgreSQL at 127.0.0.1:5432")
    base = PG_DSN.rsplit("/", 1)[0]
    one_line_error(audit(tmp_path, f"{base}/no_such_database_chatops"), "cannot connect to PostgreSQL")
