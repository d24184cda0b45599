"""Shared fixtures: databases (SQLite in tmp, PostgreSQL in a throw-away schema) and the sandbox stack."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

PG_DSN = os.environ.get("CHATOPS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
_pg_state: dict[str, bool] = {}


def _pg_available() -> bool:
    if "ok" not in _pg_state:
        async def probe() -> bool:
            try:
                conn = await asyncpg.connect(PG_DSN, timeout=3)
            except (OSError, asyncpg.PostgresError):
                return False
            await conn.close()
            return True

        # a fresh loop in a worker thread: callable from sync code and from inside a running loop alike
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            _pg_state["ok"] = pool.submit(asyncio.run, probe()).result()
    return _pg_state["ok"]


def require_postgres() -> None:
    """In CI the PostgreSQL tests must run: a missing server is a failure, not a skip."""
    if _pg_available():
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but PostgreSQL is not reachable at {PG_DSN}")
    pytest.skip(f"NOTICE: PostgreSQL not reachable at {PG_DSN}; PostgreSQL tests skipped (they run in CI)")


async def new_pg_schema() -> tuple[str, str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(PG_DSN)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()
    sep = "&" if "?" in PG_DSN else "?"
    return schema, f"{PG_DSN}{sep}search_path={schema}"


async def drop_pg_schema(schema: str) -> None:
    conn = await asyncpg.connect(PG_DSN)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/chatops.db"
        return
    require_postgres()
    schema, url = await new_pg_schema()
    try:
        yield url
    finally:
        await drop_pg_schema(schema)


@pytest.fixture
async def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path}/chatops.db"


@pytest.fixture
async def stack(sqlite_url: str):
    from sandbox.stack import Stack

    async with Stack(database_url=sqlite_url) as s:
        yield s


# Files that take the longest, longest first (issue 27 item 1; measured with `--durations`, docs/benchmarks.md
# "make test"). `make test` runs files whole on each worker (`--dist loadfile`) in collection order
# (`--no-loadscope-reorder`: xdist's default order puts files with the most tests first, which started these
# one-test files last and left one worker running them alone at the end). A listed file that no longer exists is
# reported by tests/test_structure.py.
SLOW_FIRST = (
    "tests/reliability/test_soak_pg.py",
    "tests/contract/test_rehearsal_every.py",
    "tests/contract/test_aws_permissions.py",
    "tests/container/test_image.py",
    "tests/infra/test_tools.py",
    "tests/contract/test_first_run.py",
    "tests/workflows/test_examples.py",
    "tests/reliability/test_reload_process.py",
    "tests/reliability/test_pid_file.py",
    "tests/reliability/test_kill_restart.py",
    "tests/workflows/test_service_containers.py",
    "tests/reliability/test_handover_pg.py",
    "tests/reliability/test_workers_pg.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))  # stable: the rest keep order
