"""Issue 24 item 5: database faults under load, through the real app (sandbox Stack) on the real PostgreSQL.

Two faults, neither touching the shared server itself:
- this test's own sessions are killed (``pg_terminate_backend``, filtered by an application_name only this test
  uses, so other engineers' sessions on the shared database are left alone) again and again while EventBridge events
  and slash commands arrive;
- the server becomes unreachable: the bot reaches PostgreSQL through a loopback TCP proxy, which is stopped (new
  connections refused, open ones cut, as in a server restart) and started again on the same port.

Invariants: ingress answers 200 (recorded) or 503 with Retry-After (nothing acknowledged), never 500; /readyz
answers 503 while the store cannot be reached and 200 again afterwards, from the same app (no restart); every
acknowledged event becomes exactly one security event, and every acknowledged command exactly one request.
Senders retry refused items with the same identity, as EventBridge (same ``id``) and Slack retries do.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import asyncpg

from sandbox.stack import SANDBOX_SECRETS, Stack
from tests.conftest import PG_DSN, drop_pg_schema, new_pg_schema, require_postgres
from tests.reliability.helpers import access_denied, envelope, rows, write_config

API_KEY = SANDBOX_SECRETS["CHATOPS_EVENTS_API_KEY"]
ATTEMPTS = 200  # a refused item is sent again at most this often (bounded by count, not by time)


class PgProxy:
    """Loopback TCP proxy in front of PostgreSQL. ``stop()`` closes the listening socket (connections refused)
    and cuts every open connection; ``start()`` listens again on the same port."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for w in list(self._writers):
            w.close()
        self._writers.clear()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, RuntimeError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}


async def kill_sessions(app_name: str) -> int:
    """pg_terminate_backend of this test's sessions only; returns how many were killed."""
    conn = await asyncpg.connect(PG_DSN)
    try:
        killed = await conn.fetch(
            "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = $1 AND pid <> pg_backend_pid()", app_name)
    finally:
        await conn.close()
    return sum(1 for r in killed if r["ok"])


def proxied_url(schema_url: str, *, port: int, app_name: str) -> str:
    parts = urlsplit(schema_url)
    netloc = f"{parts.username}@127.0.0.1:{port}" if parts.username else f"127.0.0.1:{port}"
    return parts._replace(netloc=netloc, query=f"{parts.query}&application_name={app_name}").geturl()


class Senders:
    """Sends events and commands until each is acknowledged; keeps every status seen."""

    def __init__(self, stack: Stack, session: aiohttp.ClientSession) -> None:
        self.stack = stack
        self.session = session
        self.statuses: Counter[int] = Counter()
        self.events: list[str] = []  # acknowledged CloudTrail eventIDs
        self.commands: list[str] = []  # acknowledged request ids

    async def event(self) -> None:
        record = access_denied(user=f"db-{uuid.uuid4().hex[:4]}")
        body = json.dumps(envelope(record)).encode()  # the same EventBridge id on every retry
        for _ in range(ATTEMPTS):
            async with self.session.post(f"{self.stack.url}/aws/events", data=body,
                                         headers={"x-api-key": API_KEY, "Content-Type": "application/json"}) as r:
                self.statuses[r.status] += 1
                if r.status == 200:
                    self.events.append(record["eventID"])
                    return
                assert r.status == 503 and r.headers.get("Retry-After"), (r.status, await r.text())
            await asyncio.sleep(0.05)
        raise AssertionError("event never acknowledged")

    async def command(self, i: int) -> None:
        trigger = f"trig-db-{i}-{uuid.uuid4().hex[:6]}"  # the same trigger_id on every retry, as Slack's retry
        for _ in range(ATTEMPTS):
            status, answer = await self.stack.command("U0DEV", f"api v1.{i}.0 to dev", key=trigger,
                                                      trigger_id=trigger)
            self.statuses[status] += 1
            # "Already received": an earlier try was committed although its answer was lost with the connection
            # (a COMMIT cut mid-way has an unknown outcome); the retry has no second effect, which is the point
            if status == 200 and ("r-" in answer.get("text", "") or "Already received" in answer.get("text", "")):
                self.commands.append(trigger)
                return
            assert status in (200, 500, 503), (status, answer)  # Bolt answers a listener's failure with 500
            await asyncio.sleep(0.05)
        raise AssertionError("command never acknowledged")


async def test_killed_connections_and_an_unreachable_server_lose_nothing_and_duplicate_nothing(
    tmp_path: Path,
) -> None:
    require_postgres()
    schema, schema_url = await new_pg_schema()
    target = urlsplit(PG_DSN)
    proxy = PgProxy((target.hostname or "127.0.0.1", target.port or 5432))
    await proxy.start()
    app_name = f"chatops-dbfault-{uuid.uuid4().hex[:10]}"
    stack = Stack(database_url=proxied_url(schema_url, port=proxy.port, app_name=app_name),
                  config_path=write_config(tmp_path), step_delay=0.02)
    connector = aiohttp.TCPConnector(force_close=True)
    try:
        await stack.start()
        async with aiohttp.ClientSession(connector=connector) as session:
            senders = Senders(stack, session)
            assert (await stack.get("/readyz"))[0] == 200

            # 1. sessions killed again and again during load
            load = [asyncio.create_task(senders.event()) for _ in range(60)]
            load += [asyncio.create_task(senders.command(i)) for i in range(6)]
            killed = 0
            for _ in range(6):
                await asyncio.sleep(0.1)
                killed += await kill_sessions(app_name)
            await asyncio.gather(*load)
            assert killed > 0  # the fault happened

            # 2. the server cannot be reached: /readyz and ingress refuse with 503; nothing is acknowledged
            await proxy.stop()
            await kill_sessions(app_name)
            assert (await stack.get("/readyz"))[0] == 503
            before = len(senders.events)
            refused: Counter[int] = Counter()
            for _ in range(3):
                body = json.dumps(envelope(access_denied())).encode()
                async with session.post(f"{stack.url}/aws/events", data=body,
                                        headers={"x-api-key": API_KEY, "Content-Type": "application/json"}) as r:
                    refused[r.status] += 1
                    assert r.headers.get("Retry-After")
            assert refused == Counter({503: 3})
            assert (await stack.get("/readyz"))[0] == 503
            during = [asyncio.create_task(senders.event()) for _ in range(10)]  # they keep retrying

            # 3. it comes back on the same address: the same app reconnects by itself
            await asyncio.sleep(0.3)
            await proxy.start()
            await asyncio.gather(*during)
            assert len(senders.events) == before + 10
            assert (await stack.get("/readyz"))[0] == 200

        assert set(senders.statuses) <= {200, 500, 503}, senders.statuses
        event_ids = senders.events

        for _ in range(1200):  # the security worker drains the inbox (bounded by count, not a timed assertion)
            pending = await rows(stack, "SELECT COUNT(*) AS n FROM inbox WHERE source = 'security' "
                                        "AND state = 'pending'")
            if int(pending[0]["n"]) == 0:
                break
            await asyncio.sleep(0.05)
        found = await rows(stack, "SELECT event_id, COUNT(*) AS n FROM security_events GROUP BY event_id")
        per_event = {r["event_id"]: int(r["n"]) for r in found}
        assert sorted(per_event) == sorted(event_ids)  # none lost, none extra
        assert set(per_event.values()) == {1}  # none twice
        inbox = await rows(stack, "SELECT key, COUNT(*) AS n FROM inbox WHERE source = 'security' GROUP BY key")
        assert len(inbox) == len(event_ids) and {int(r["n"]) for r in inbox} == {1}
        requests = await rows(stack, "SELECT id FROM requests")
        assert len(requests) == len(senders.commands) == 6  # every acknowledged command once, no retry twice
        print(f"\ndb faults: {killed} sessions killed; statuses {dict(senders.statuses)}")
    finally:
        await stack.stop()
        await proxy.stop()
        await drop_pg_schema(schema)


async def test_a_conflicting_transaction_refuses_the_command_plainly_and_its_repeat_goes_through(
    tmp_path: Path,
) -> None:
    """A command whose transaction PostgreSQL rolls back for a conflict (SQLSTATE 40001 serialization_failure, raised
    here by a trigger on the test's own schema; a deadlock, 40P01, is handled the same way: ``bot.store.db``) is
    answered as a conflict, not as an unreachable database, records nothing, and the person's repeat with the same
    trigger_id creates the request once."""
    require_postgres()
    schema, schema_url = await new_pg_schema()
    stack = Stack(database_url=schema_url, config_path=write_config(tmp_path), step_delay=0.02)
    try:
        await stack.start()
        conn = await asyncpg.connect(PG_DSN)
        try:
            await conn.execute(
                f'CREATE FUNCTION "{schema}".conflict() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN '
                "RAISE EXCEPTION 'could not serialize access' USING ERRCODE = 'serialization_failure'; END $$")
            await conn.execute(f'CREATE TRIGGER conflict BEFORE INSERT ON "{schema}".requests FOR EACH ROW '
                               f'EXECUTE FUNCTION "{schema}".conflict()')
            status, answer = await stack.command("U0DEV", "api v1.2.0 to dev", key="trig-conflict",
                                                 trigger_id="trig-conflict")
            assert status == 200 and "got there first" in answer["text"], answer
            assert "cannot reach" not in answer["text"]
            assert await rows(stack, "SELECT id FROM requests") == []
            await conn.execute(f'DROP TRIGGER conflict ON "{schema}".requests')
        finally:
            await conn.close()
        status, answer = await stack.command("U0DEV", "api v1.2.0 to dev", key="trig-conflict",
                                             trigger_id="trig-conflict")
        assert status == 200 and "r-" in answer["text"], answer
        assert len(await rows(stack, "SELECT id FROM requests")) == 1
    finally:
        await stack.stop()
        await drop_pg_schema(schema)
