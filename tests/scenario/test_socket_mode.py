"""Slack over Socket Mode (issue 13, item 4): the same commands and buttons as over signed HTTP, with the same
effects, exactly once even when Slack redelivers an envelope after the socket dropped; readiness follows the
socket; a refused app token stops ``serve`` with one clear line."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.socket_mode_fake import SocketModeFake, action_payload, command_payload
from sandbox.stack import EXAMPLE_CONFIG, ROOT, Stack, card_of, message_text, wait_for

APP_TOKEN = "xapp-1-A0SANDBOX-1-sandbox"
REQ = re.compile(r"`(r-[a-z0-9]{8})`")


async def socket_stack(tmp_path: Path, *, token: str = APP_TOKEN) -> tuple[Stack, SocketModeFake]:
    stack = Stack(database_url=f"sqlite:///{tmp_path}/bot.db", extra_env={"SLACK_APP_TOKEN": token})
    await stack.start_fakes()
    fake = await SocketModeFake().start()
    stack.slack.socket_mode = fake
    await stack.start_bot()
    await fake.wait_connections(1)
    return stack, fake


@pytest.fixture
async def over_socket(tmp_path: Path) -> AsyncIterator[tuple[Stack, SocketModeFake]]:
    stack, fake = await socket_stack(tmp_path)
    try:
        yield stack, fake
    finally:
        await stack.stop()
        await fake.stop()


class Driver:
    """Sends a command or a click the way each transport carries it; returns the answer Slack would show."""

    def __init__(self, stack: Stack, fake: SocketModeFake | None) -> None:
        self.stack, self.fake = stack, fake

    async def command(self, text: str, *, user: str, trigger: str, key: str) -> dict[str, Any]:
        if self.fake is None:
            status, answer = await self.stack.command(user, text, key=key, trigger_id=trigger)
            assert status == 200
            return answer
        payload = command_payload("/deploy", text, user_id=user, channel_id="C0DEPLOYS", trigger_id=trigger,
                                  response_url=self.stack.slack.response_url(key), team_id="T0SANDBOX")
        envelope_id = await self.fake.send("slash_commands", payload)
        ack = await self.fake.ack(envelope_id)
        assert ack.payload is not None
        return ack.payload

    async def click(self, action: str, value: str, *, user: str, trigger: str, key: str) -> None:
        if self.fake is None:
            status, _ = await self.stack.slack.send_action(
                f"{self.stack.url}/slack/events", action, value, user_id=user, channel_id="C0APPROVALS",
                message_ts="1700000000.000100", key=key, trigger_id=trigger)
            assert status == 200
            return
        payload = action_payload(action, value, user_id=user, channel_id="C0APPROVALS",
                                 message_ts="1700000000.000100", trigger_id=trigger,
                                 response_url=self.stack.slack.response_url(key), team_id="T0SANDBOX")
        await self.fake.ack(await self.fake.send("interactive", payload))


async def effects(stack: Stack, rid: str) -> dict[str, Any]:
    """What a deploy + approval left behind, independent of the transport."""
    from chatops.app import STORE

    assert stack.app is not None
    async with stack.app[STORE].unit() as u:
        requests = await u.c.fetch("SELECT state, environment, requester FROM requests")
        approvals = await u.c.fetch("SELECT person, decision FROM approvals")
    return {
        "requests": [dict(r) for r in requests],
        "approvals": sorted((r["person"], r["decision"]) for r in approvals),
        "dispatches": [(d.workflow, d.ref, d.inputs["environment"]) for d in stack.github.dispatches],
        "cards": {ch: [("succeeded" in message_text(m)) for m in stack.card_messages(ch) if card_of(m.blocks, rid)]
                  for ch in ("C0APPROVALS", "C0DEPLOYS")},
        "posts": {ch: sum(card_of(c.args.get("blocks"), rid) for c in stack.slack.posts(ch))
                  for ch in ("C0APPROVALS", "C0DEPLOYS")},
        "click_replies": len(stack.slack.responses("click")),
    }


async def deploy_and_approve(driver: Driver) -> tuple[str, dict[str, Any]]:
    answer = await driver.command("api v1.4.2 to production", user="U0DEV", trigger="1.1.cmd", key="cmd")
    m = REQ.search(answer.get("text", ""))
    assert m, answer
    rid = m.group(1)
    stack = driver.stack
    await wait_for(lambda: any(rid in message_text(x) and "Approve" in message_text(x)
                               for x in stack.card_messages("C0APPROVALS")), what="approval card with buttons")
    await driver.click("approve", rid, user="U0LEAD", trigger="2.2.click", key="click")
    await wait_for(lambda: any("succeeded" in message_text(x) and rid in message_text(x)
                               for x in stack.card_messages("C0APPROVALS")), what="card shows success")
    await wait_for(lambda: bool(stack.slack.responses("click")), what="the click's reply")
    return rid, answer


async def test_socket_mode_gives_the_same_effects_as_http(tmp_path: Path, stack: Stack) -> None:
    http_rid, http_answer = await deploy_and_approve(Driver(stack, None))
    over_http = await effects(stack, http_rid)

    sock_stack, fake = await socket_stack(tmp_path / "socket")
    try:
        sock_rid, sock_answer = await deploy_and_approve(Driver(sock_stack, fake))
        over_socket = await effects(sock_stack, sock_rid)
        assert fake.stray_acks == []
        assert {a.envelope_id for a in fake.acks} == set(fake.sent)  # every envelope acked with its own id
    finally:
        await sock_stack.stop()
        await fake.stop()
    assert over_socket == over_http
    assert over_http["dispatches"] == [("api-ci.yml", "v1.4.2", "production")]
    assert over_http["posts"]["C0APPROVALS"] == 1 and over_http["cards"]["C0APPROVALS"] == [True]
    assert sock_answer["text"].replace(sock_rid, "R") == http_answer["text"].replace(http_rid, "R")
    assert sock_answer.get("blocks") is not None and sock_answer.get("response_type") == "ephemeral"


async def test_redelivery_after_a_reconnect_has_no_second_effect(
        over_socket: tuple[Stack, SocketModeFake]) -> None:
    stack, fake = over_socket
    driver = Driver(stack, fake)
    rid, first_answer = await deploy_and_approve(driver)
    before = await effects(stack, rid)
    command_env, click_env = list(fake.sent)

    await fake.drop()  # Slack lost the acks: it reconnects the app and redelivers both envelopes
    await fake.wait_connections(2)
    await fake.redeliver(command_env)
    await fake.redeliver(click_env)
    again = await fake.ack(command_env, count=2)
    await fake.ack(click_env, count=2)
    assert again.payload == first_answer  # the same answer, not a second request
    # the same payloads in new envelopes (new envelope ids, same trigger_id): deduplicated on the payload's ids
    payload = fake.sent[command_env]["payload"]
    assert (await fake.ack(await fake.send("slash_commands", payload))).payload == first_answer
    await fake.ack(await fake.send("interactive", fake.sent[click_env]["payload"]))

    await asyncio.sleep(0.5)  # give a wrong second effect time to show
    assert await effects(stack, rid) == before
    assert before["dispatches"] == [("api-ci.yml", "v1.4.2", "production")]
    assert before["posts"]["C0APPROVALS"] == 1 and before["cards"]["C0APPROVALS"] == [True]
    assert len(before["approvals"]) == 1 and before["click_replies"] == 1


async def test_readyz_follows_the_socket_and_http_ingress_is_off(over_socket: tuple[Stack, SocketModeFake]) -> None:
    stack, fake = over_socket
    assert (await stack.get("/readyz"))[0] == 200
    status, _ = await stack.post("/slack/events", b"command=%2Fdeploy", {"Content-Type": "text/plain"})
    assert status == 404  # no signed-HTTP Slack endpoint in Socket Mode
    stack.slack.socket_mode = None  # Slack refuses new connections for a while
    await fake.drop()
    for _ in range(100):
        status, body = await stack.get("/readyz")
        if status == 503:
            break
        await asyncio.sleep(0.05)
    assert (status, json.loads(body)["status"]) == (503, "slack socket disconnected")
    stack.slack.socket_mode = fake
    await fake.wait_connections(2)
    for _ in range(200):
        if (await stack.get("/readyz"))[0] == 200:
            break
        await asyncio.sleep(0.05)
    assert (await stack.get("/readyz"))[0] == 200


async def test_malformed_envelopes_are_acked_and_change_nothing(over_socket: tuple[Stack, SocketModeFake]) -> None:
    stack, fake = over_socket
    await fake.raw("not json")
    await fake.raw(json.dumps({"type": "slash_commands", "envelope_id": "x"}))  # no payload: not a request
    bad = await fake.send("slash_commands", {})
    assert (await fake.ack(bad)).payload is None
    event = await fake.send("events_api", {"event_id": "Ev1", "type": "event_callback",
                                           "event": {"type": "app_mention", "text": "hi"}})
    assert (await fake.ack(event)).payload is None  # no listener: acked, nothing done
    await asyncio.sleep(0.3)
    assert stack.github.dispatches == [] and stack.slack.posts() == []
    assert (await stack.get("/readyz"))[0] == 200


async def test_another_workspace_is_refused_over_the_socket_too(over_socket: tuple[Stack, SocketModeFake]) -> None:
    """Issue 12.13 on the Socket Mode transport: slack.team_id pins the workspace whichever way Slack connects."""
    stack, fake = over_socket
    payload = command_payload("/deploy", "api v1.4.2 to staging", user_id="U0DEV", channel_id="C0DEPLOYS",
                              trigger_id="t-foreign", response_url=stack.slack.response_url("foreign"),
                              team_id="T0OTHER")
    ack = await fake.ack(await fake.send("slash_commands", payload))
    assert ack.payload is not None and "not allowed" in ack.payload["text"]
    click = action_payload("approve", "r-00000000", user_id="U0LEAD", channel_id="C0APPROVALS",
                           message_ts="1700000000.000100", trigger_id="t-foreign-2",
                           response_url=stack.slack.response_url("foreign-2"), team_id="T0OTHER")
    assert (await fake.ack(await fake.send("interactive", click))).payload is None
    await asyncio.sleep(0.3)
    assert stack.github.dispatches == [] and stack.slack.posts() == []


def test_a_refused_app_token_stops_serve_with_one_line(tmp_path: Path) -> None:
    async def run() -> subprocess.CompletedProcess[str]:
        stack = Stack(database_url=f"sqlite:///{tmp_path}/bot.db", extra_env={"SLACK_APP_TOKEN": "xapp-1-wrong"})
        await stack.start_fakes()
        stack.slack.socket_mode = fake = await SocketModeFake().start()
        try:
            env = {**stack.env, "PORT": "0", "HOST": "127.0.0.1"}
            env.pop("SLACK_SIGNING_SECRET")  # optional in Socket Mode
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "serve", "--config", str(EXAMPLE_CONFIG), cwd=ROOT, env=env,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
            assert proc.returncode is not None
            return subprocess.CompletedProcess([], proc.returncode, out.decode(), err.decode())
        finally:
            await stack.stop()
            await fake.stop()

    done = asyncio.run(run())
    assert done.returncode == 1, done
    assert "Traceback" not in done.stderr + done.stdout
    errors = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
    assert errors == ["error: env SLACK_APP_TOKEN: Slack refused it (invalid_auth) when opening the Socket Mode "
                      "connection; use the app-level token (xapp-...) with connections:write"], done.stderr
