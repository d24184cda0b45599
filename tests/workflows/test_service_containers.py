"""The local runner's stand-in for `services:` containers (sandbox.service_containers): a `postgres:<tag>` service
is a fresh database on this machine's PostgreSQL for each job, reached by the job's own client at
localhost:5432; anything it cannot honour fails the job before any step runs, naming what
(https://docs.github.com/en/actions/using-jobs/running-jobs-in-a-container, https://hub.docker.com/_/postgres)."""

from __future__ import annotations

import asyncio
import sys
import textwrap
import uuid
from pathlib import Path

import asyncpg
import pytest

from sandbox.actions_runner import LocalRunner
from tests.conftest import require_postgres

SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def runner(tmp_path: Path, workflow: str, *, admin: str = SERVER) -> LocalRunner:
    repo = tmp_path / "repo"
    (repo / ".github" / "workflows").mkdir(parents=True, exist_ok=True)
    (repo / ".github" / "workflows" / "w.yml").write_text(textwrap.dedent(workflow))
    return LocalRunner(repo, python_bin=Path(sys.executable).parent, variables=lambda env: {},
                       github={"repository": "acme/x", "run_id": "1"}, aws_endpoint="http://127.0.0.1:9",
                       postgres_admin=admin)


def job(service: str, *, user: str = "api", db: str = "api_test") -> str:
    return f"""
        on: push
        jobs:
          integration:
            runs-on: ubuntu-latest
            services:
              postgres:
{textwrap.indent(textwrap.dedent(service).strip(), " " * 16)}
            steps:
              - name: use the database
                env:
                  DATABASE_URL: postgresql://{user}:secret@localhost:5432/{db}
                run: |
                  psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -qAt \\
                    -c "CREATE TABLE IF NOT EXISTS seen (run text)" \\
                    -c "SELECT 'rows before: ' || count(*) FROM seen" -c "INSERT INTO seen VALUES ('x')" \\
                    -c "SELECT 'as: ' || current_user || '@' || current_database()"
    """


def postgres_service(user: str, db: str) -> str:
    return f"""
        image: postgres:16
        env:
          POSTGRES_USER: {user}
          POSTGRES_PASSWORD: secret
          POSTGRES_DB: {db}
        ports: ["5432:5432"]
        options: >-
          --health-cmd "pg_isready -U {user}" --health-interval 1s --health-timeout 5s --health-retries 3
    """


async def _exists(user: str, db: str) -> tuple[bool, bool]:
    conn = await asyncpg.connect(SERVER)
    try:
        return (bool(await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", user)),
                bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", db)))
    finally:
        await conn.close()


def test_a_postgres_service_is_a_fresh_database_for_each_job(tmp_path: Path) -> None:
    require_postgres()
    suffix = uuid.uuid4().hex[:10]
    user, db = f"svc_{suffix}", f"svc_{suffix}_test"
    run = runner(tmp_path, job(postgres_service(user, db), user=user, db=db))
    first = run.run("w.yml", "integration", inputs={}, event="push")
    second = run.run("w.yml", "integration", inputs={}, event="push")
    for result in (first, second):
        assert result.outcome == "success", result.log
        assert result.steps == [("Initialize containers", "success"), ("use the database", "success")]
        assert f"as: {user}@{db}" in result.log  # the job's own client, as the service's user, at localhost:5432
        assert "rows before: 0" in result.log, result.log  # the second job does not see the first one's row
        [(_, note)] = [s for s in result.stand_ins if s[0] == "Initialize containers"]
        assert "services.postgres (postgres:16)" in note and "healthy" in note, note
    # removed with the job, as GitHub removes service containers: nothing is left on the server
    assert asyncio.run(_exists(user, db)) == (False, False)


@pytest.mark.parametrize(("service", "named"), [
    ('image: redis:7\nports: ["6379:6379"]', "image 'redis:7' is not supported"),
    ('image: postgres:16\nenv: {POSTGRES_PASSWORD: x}\nports: ["5433:5432"]', "ports ['5433:5432'] not supported"),
    ('image: postgres:16\nenv: {POSTGRES_PASSWORD: x}', "ports [] not supported"),
    ('image: postgres:16\nenv: {POSTGRES_DB: api_test}\nports: ["5432:5432"]',
     "superuser password is not specified"),
    ('image: postgres:16\nenv: {POSTGRES_PASSWORD: x, POSTGRES_INITDB_ARGS: --data-checksums}\n'
     'ports: ["5432:5432"]', "env ['POSTGRES_INITDB_ARGS'] not supported"),
    ('image: postgres:16\nenv: {POSTGRES_PASSWORD: x, POSTGRES_DB: ci}\nports: ["5432:5432"]\noptions: --network host',
     "container option --network not supported"),
    ('image: postgres:16\nenv: {POSTGRES_PASSWORD: x}\nports: ["5432:5432"]\nvolumes: ["/data:/var/lib/x"]',
     "volumes not supported"),
    ('image: postgres:16\nenv: {POSTGRES_PASSWORD: x, POSTGRES_DB: test}\nports: ["5432:5432"]',
     "POSTGRES_DB test not supported"),
])
def test_a_service_the_stand_in_cannot_honour_fails_the_job_before_any_step(
        tmp_path: Path, service: str, named: str) -> None:
    result = runner(tmp_path, job(service)).run("w.yml", "integration", inputs={}, event="push")
    assert result.outcome == "failure"
    assert named in result.log, result.log
    assert result.steps == [("Initialize containers", "failure")]  # no step ran


def test_an_unreachable_server_fails_the_job(tmp_path: Path) -> None:
    result = runner(tmp_path, job(postgres_service("api", "api_test")),
                    admin="postgresql://postgres@127.0.0.1:9/postgres").run("w.yml", "integration", inputs={},
                                                                            event="push")
    assert result.outcome == "failure" and "is not reachable" in result.log, result.log
    assert result.steps == [("Initialize containers", "failure")]


def test_an_existing_role_is_used_as_it_is_and_kept(tmp_path: Path) -> None:
    """POSTGRES_USER defaults to postgres (https://hub.docker.com/_/postgres): the server's own superuser is used,
    never altered or dropped; only the job's database comes and goes."""
    require_postgres()
    db = f"svc_{uuid.uuid4().hex[:10]}"
    result = runner(tmp_path, job(f"""
        image: postgres:16
        env: {{POSTGRES_PASSWORD: secret, POSTGRES_DB: {db}}}
        ports: ["5432:5432"]
    """, user="postgres", db=db)).run("w.yml", "integration", inputs={}, event="push")
    assert result.outcome == "success", result.log
    assert f"as: postgres@{db}" in result.log
    assert any("role postgres (existing)" in what for _, what in result.stand_ins), result.stand_ins
    assert asyncio.run(_exists("postgres", db)) == (True, False)
