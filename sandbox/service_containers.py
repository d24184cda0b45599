"""A stand-in for a job's service containers (``jobs.<job_id>.services``), for the local runner.

On GitHub, each entry of ``services`` is a Docker container the runner starts before the job's first step
("Initialize containers") and removes when the job ends; a job that runs directly on the runner machine (no
``container:``) reaches it through the ports mapped to the Docker host, as ``localhost:<host port>``
(https://docs.github.com/en/actions/using-jobs/running-jobs-in-a-container,
https://docs.github.com/en/actions/use-cases-and-examples/using-containerized-services/about-service-containers,
"Mapping Docker host and service container ports"). A container that does not start or never turns healthy fails
the job before any step runs.

There is no container daemon for jobs here. One image is stood in for: ``postgres:<tag>`` is this machine's own
PostgreSQL server at 127.0.0.1:5432 (trust authentication, superuser ``postgres``). What the image does at start
(https://hub.docker.com/_/postgres, "Environment Variables"; docker-entrypoint.sh in
https://github.com/docker-library/postgres) is done on that server:

- ``POSTGRES_PASSWORD`` is required ("Error: Database is uninitialized and superuser password is not specified.");
- ``POSTGRES_USER`` (default ``postgres``) is created as a superuser with that password;
- ``POSTGRES_DB`` (default: the value of ``POSTGRES_USER``) is created, fresh: dropped and created again for every
  job, so no run sees another run's data, and dropped (with the role this created) when the job ends. Jobs that
  use the same database name wait for each other (a session advisory lock), as two containers cannot both bind 5432.

Only what that stand-in can honour is accepted; anything else fails the job naming it (nothing silently runs
without its service): another image, a ``ports`` mapping other than ``5432:5432`` (the server listens on 5432
only), other container ``options`` than the health check (``--health-cmd`` is honoured by waiting until the
database accepts a connection as ``POSTGRES_USER``; the command itself runs in no container), ``volumes``,
``credentials``, other ``env`` variables, a ``POSTGRES_DB`` the server itself uses (``postgres``, ``test``: the
stand-in never drops those), and a job with ``container:`` (service hostnames on a container network). A role
that already exists on the server (``postgres``) is used as it is, never altered or dropped.

Nothing here is used by the bot.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

ADMIN_DSN = os.environ.get("REHEARSAL_POSTGRES_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
_IMAGE = re.compile(r"^(?:docker\.io/(?:library/)?)?postgres(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?$")
_ENV = ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB")
_HEALTH = {"--health-cmd", "--health-interval", "--health-timeout", "--health-retries", "--health-start-period"}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$-]{0,62}$")  # NAMEDATALEN - 1 bytes


class ServiceFailed(RuntimeError):
    """The service cannot be started here; the message names what is not supported."""


@dataclass
class Postgres:
    label: str
    image: str
    user: str
    password: str
    database: str
    health: dict[str, str]


@dataclass
class Started:
    """The job's services while it runs; ``stop`` when the job ends."""

    notes: list[str] = field(default_factory=list)
    _stops: list[Callable[[], None]] = field(default_factory=list)

    def stop(self) -> None:
        for stop in reversed(self._stops):
            stop()
        self._stops.clear()


def _seconds(value: str, option: str) -> float:
    """Docker durations as the health options take them (``5s``, ``500ms``, ``1m``)."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)", value)
    if match is None:
        raise ServiceFailed(f"{option} {value!r} is not a duration")
    return float(match.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def parse(label: str, spec: Any, interpolate: Callable[[Any], str]) -> Postgres:
    """The service as the stand-in will run it, or ServiceFailed naming what it cannot honour."""
    if not isinstance(spec, dict) or "image" not in spec:
        raise ServiceFailed(f"services.{label}: an image is required")
    image = interpolate(spec["image"])
    if not _IMAGE.match(image):
        raise ServiceFailed(f"services.{label}: image {image!r} is not supported here (no container daemon for "
                            "jobs; only postgres:<tag> is stood in for, by this machine's PostgreSQL)")
    unknown = sorted(set(spec) - {"image", "env", "ports", "options"})
    if unknown:
        raise ServiceFailed(f"services.{label}: {', '.join(unknown)} not supported by the postgres stand-in")
    ports = [interpolate(p) for p in spec.get("ports") or []]
    if ports != ["5432:5432"] and ports != ["5432:5432/tcp"]:
        raise ServiceFailed(f"services.{label}: ports {ports} not supported: the stand-in is the server on "
                            "127.0.0.1:5432, so only [\"5432:5432\"] can be honoured")
    env = {str(k): interpolate(v) for k, v in (spec.get("env") or {}).items()}
    if set(env) - set(_ENV):
        raise ServiceFailed(f"services.{label}: env {sorted(set(env) - set(_ENV))} not supported by the postgres "
                            f"stand-in (only {', '.join(_ENV)})")
    if not env.get("POSTGRES_PASSWORD"):
        # docker-entrypoint.sh, docker_verify_minimum_env: the container exits 1 and never becomes healthy
        raise ServiceFailed(f"services.{label}: Error: Database is uninitialized and superuser password is not "
                            "specified. You must specify POSTGRES_PASSWORD to a non-empty value for the superuser.")
    user = env.get("POSTGRES_USER") or "postgres"
    database = env.get("POSTGRES_DB") or user
    for what, name in (("POSTGRES_USER", user), ("POSTGRES_DB", database)):
        if not _IDENTIFIER.match(name):
            raise ServiceFailed(f"services.{label}: {what} {name!r} not supported by the stand-in")
    if database in ("postgres", "template0", "template1", "test"):
        raise ServiceFailed(f"services.{label}: POSTGRES_DB {database} not supported: that is a database of this "
                            "machine's server, which the stand-in does not drop; name the job's own")
    health: dict[str, str] = {}
    args = shlex.split(interpolate(spec.get("options") or ""))
    while args:
        option, _, value = args.pop(0).partition("=")
        if option not in _HEALTH:
            raise ServiceFailed(f"services.{label}: container option {option} not supported by the postgres "
                                "stand-in (only the --health-* options)")
        if not value:
            if not args:
                raise ServiceFailed(f"services.{label}: {option} needs a value")
            value = args.pop(0)
        health[option] = value
    return Postgres(label, image, user, password=env["POSTGRES_PASSWORD"], database=database, health=health)


async def _provision(service: Postgres, admin_dsn: str) -> tuple[asyncpg.Connection, bool, str]:
    """Take the database's lock, create the role if missing, drop and create the database; returns the admin
    connection (it holds the lock), whether the role was created here, and the server's version."""
    try:  # a job waiting for another job's database gives up after lock_timeout, naming why
        admin = await asyncpg.connect(admin_dsn, timeout=10, server_settings={"lock_timeout": "300s"})
    except (OSError, asyncpg.PostgresError) as exc:
        raise ServiceFailed(f"services.{service.label}: this machine's PostgreSQL (the stand-in for "
                            f"{service.image}) is not reachable: {type(exc).__name__}") from exc
    try:
        await admin.execute("SELECT pg_advisory_lock(hashtext($1))", f"service-container:{service.database}")
        created = not await admin.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", service.user)
        if created:
            ddl = await admin.fetchval("SELECT format('CREATE ROLE %I LOGIN SUPERUSER PASSWORD %L', $1::text, "
                                       "$2::text)", service.user, service.password)
            await admin.execute(ddl)
        await admin.execute(await admin.fetchval("SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', "
                                                 "$1::text)", service.database))
        await admin.execute(await admin.fetchval("SELECT format('CREATE DATABASE %I OWNER %I', $1::text, $2::text)",
                                                 service.database, service.user))
        version = str(await admin.fetchval("SHOW server_version"))
    except asyncpg.PostgresError as exc:
        await admin.close()
        raise ServiceFailed(f"services.{service.label}: the stand-in could not provision {service.user}/"
                            f"{service.database}: {type(exc).__name__}: {exc}") from exc
    except BaseException:
        await admin.close()
        raise
    return admin, created, version


async def _healthy(service: Postgres, admin_dsn: str) -> int:
    """Like the container's health check: retries until the database accepts a connection as the user."""
    interval = _seconds(service.health.get("--health-interval", "1s"), "--health-interval")
    timeout = _seconds(service.health.get("--health-timeout", "5s"), "--health-timeout")
    retries = int(service.health.get("--health-retries", "3"))
    host = admin_dsn.split("@", 1)[-1].split("/", 1)[0]
    dsn = f"postgresql://{service.user}@{host}/{service.database}"
    for attempt in range(1, retries + 2):
        try:
            conn = await asyncpg.connect(dsn, password=service.password, timeout=timeout)
        except (OSError, asyncpg.PostgresError):
            if attempt > retries:
                break
            await asyncio.sleep(interval)
            continue
        await conn.close()
        return attempt
    raise ServiceFailed(f"services.{service.label}: unhealthy: no connection as {service.user} to "
                        f"{service.database} after {retries} retries")


async def _teardown(admin: asyncpg.Connection, service: Postgres, created: bool) -> None:
    try:
        await admin.execute(await admin.fetchval("SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', "
                                                 "$1::text)", service.database))
        if created:
            await admin.execute(await admin.fetchval("SELECT format('DROP ROLE IF EXISTS %I', $1::text)",
                                                     service.user))
    finally:
        await admin.close()  # ends the session: the advisory lock goes with it


def start(services: Any, *, interpolate: Callable[[Any], str], container: Any = None,
          admin_dsn: str = ADMIN_DSN) -> Started:
    """Start every service of a job (before its first step); ServiceFailed fails the job."""
    if not isinstance(services, dict):
        raise ServiceFailed("services must be a mapping of labels to containers")
    if container:
        raise ServiceFailed("services beside a job container (jobs.<job_id>.container) are not supported here")
    parsed = [parse(str(label), spec, interpolate) for label, spec in services.items()]
    if len(parsed) > 1:
        raise ServiceFailed(f"services {[s.label for s in parsed]}: only one can map host port 5432")
    started = Started()
    for service in parsed:
        loop = asyncio.new_event_loop()  # this job's thread has none; it lives as long as the lock's session
        began = time.monotonic()
        try:
            admin, created, version = loop.run_until_complete(_provision(service, admin_dsn))
        except BaseException:
            loop.close()
            raise

        def stop(loop: asyncio.AbstractEventLoop = loop, admin: asyncpg.Connection = admin,
                 service: Postgres = service, created: bool = created) -> None:
            try:  # best effort, like removing a container: a failure here does not change the job's outcome
                loop.run_until_complete(_teardown(admin, service, created))
            except (OSError, asyncpg.PostgresError) as exc:
                started.notes.append(f"services.{service.label}: not cleaned up: {type(exc).__name__}")
            finally:
                loop.close()

        started._stops.append(stop)
        try:
            attempts = loop.run_until_complete(_healthy(service, admin_dsn))
        except BaseException:
            started.stop()
            raise
        started.notes.append(
            f"services.{service.label} ({service.image}): this machine's PostgreSQL {version} on 127.0.0.1:5432; "
            f"role {service.user} ({'created' if created else 'existing'}), database {service.database} created "
            f"fresh in {time.monotonic() - began:.1f}s; healthy: connected as {service.user} (attempt {attempts}; "
            f"the --health-cmd itself runs in no container)")
    return started
