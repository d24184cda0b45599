"""Issue 12, reproduced through the real HTTP app: each test is one attack from the review; it failed on the
code before the fix and shows the fix (items 4, 10, 11, 12, 13 and 14; items 1 and 9 are in
``test_hardening_teams_logs.py``)."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from sandbox.paths import PUBLISHED_FIXTURES
from sandbox.signing import block_actions_body, sign_slack, slash_command_body
from sandbox.stack import EXAMPLE_CONFIG, SANDBOX_SECRETS
from sandbox.stack import wait_for as wait_until
from tests.security.hardening import World, exchange, head, status_of
from tests.security.hardening import world as world

SLACK_SECRET = SANDBOX_SECRETS["SLACK_SIGNING_SECRET"]
GH = PUBLISHED_FIXTURES / "github"


def gh_fixture(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((GH / name).read_text(encoding="utf-8"))
    payload["repository"]["full_name"] = "acme/platform"
    return payload


# ------------------------------------------------------------------------------------- 4: slow bodies
async def test_a_body_sent_one_byte_at_a_time_is_cut_off_while_healthz_answers(world: World) -> None:
    reader, writer = await asyncio.open_connection(*world.host_port)
    writer.write(head("POST", "/slack/events", [("Content-Length", b"100000")]))
    closed_after = None
    for sent in range(200):  # 200 bytes at 0.1 s: far longer than the 2 s body deadline of this world
        try:
            writer.write(b"a")
            await writer.drain()
        except ConnectionError:
            closed_after = sent
            break
        if reader.at_eof() or (reader._buffer and b"\r\n\r\n" in reader._buffer):  # answered
            closed_after = sent
            break
        if sent == 5:
            assert (await world.stack.get("/healthz"))[0] == 200  # the bot serves others meanwhile
        await asyncio.sleep(0.1)
    answer = await asyncio.wait_for(reader.read(), 10)  # the server closes the connection
    writer.close()
    assert closed_after is not None, "the slow body was never cut off"
    assert status_of(answer) == 408, answer[:200]


ACCEPT_SERVER = """
import asyncio, resource, sys
from aiohttp import web
from bot.logs import setup_logging
setup_logging()
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
async def main():
    app = web.Application()
    app.router.add_get("/healthz", lambda r: web.Response(text="ok"))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(runner.addresses[0][1], flush=True)
    await asyncio.sleep(float(sys.argv[1]))
asyncio.run(main())
"""


ROOT = Path(__file__).resolve().parents[2]


async def test_accept_errors_when_descriptors_run_out_are_one_short_line() -> None:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", ACCEPT_SERVER, "5", cwd=ROOT,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    held = []
    try:
        assert proc.stdout is not None and proc.stderr is not None
        port = int(await asyncio.wait_for(proc.stdout.readline(), 30))
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(120)]  # more than 64 fds
        err = await asyncio.wait_for(proc.stderr.read(), 30)
        await proc.wait()
    finally:
        for _, w in held:
            w.close()
        if proc.returncode is None:
            proc.kill()
    text = err.decode()
    lines = [ln for ln in text.splitlines() if "socket.accept() out of system resource" in ln]
    assert len(lines) == 1, text[-2000:]  # it happened (several seconds of EMFILE), and was said once
    assert "Traceback" not in text


# ------------------------------------------------------------------------------------- 10: odd auth headers
ODD = {
    "slack-signature-e-acute": ("/slack/events", [("X-Slack-Request-Timestamp", str(int(time.time())).encode()),
                                                  ("X-Slack-Signature", "v0=é".encode())]),
    "slack-timestamp-superscript-two": ("/slack/events", [("X-Slack-Request-Timestamp", "²".encode()),
                                                          ("X-Slack-Signature", b"v0=00")]),
    "eventbridge-key-0xff": ("/aws/events", [("x-api-key", b"\xff")]),
    "github-signature-0xff": ("/github/webhook", [("X-Hub-Signature-256", b"sha256=\xff"),
                                                  ("X-GitHub-Event", b"workflow_run"),
                                                  ("X-GitHub-Delivery", b"odd-1")]),
    "teams-authorization-0xff": ("/teams/messages", [("Authorization", b"Bearer \xff\xfe")]),
}


@pytest.mark.parametrize("case", sorted(ODD))
async def test_non_ascii_auth_headers_are_a_401_with_one_log_line(world: World, case: str,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    path, headers = ODD[case]
    body = b'{"type": "message", "conversation": {"id": "c"}, "serviceUrl": "http://127.0.0.1:1/"}'
    caplog.set_level(logging.INFO)
    caplog.clear()
    status, answer = await exchange(world.host_port, head("POST", path, [*headers, ("Content-Type",
                                    b"application/json"), ("Content-Length", str(len(body)).encode())]) + body)
    assert status == 401, answer
    mine = [r for r in caplog.records
            if r.name.startswith(("handlers", "chatops.app")) and r.levelno >= logging.WARNING]
    assert len(mine) == 1, [r.getMessage() for r in mine]
    assert not any(r.exc_info for r in caplog.records), "a traceback was logged"


# ------------------------------------------------------------------------------------- 11: response_url host
async def test_a_response_url_off_slacks_hooks_host_is_never_posted_to(world: World,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    hits: list[str] = []

    async def steal(request: web.Request) -> web.Response:
        hits.append(await request.text())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/{tail:.*}", steal)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    evil = f"http://127.0.0.1:{runner.addresses[0][1]}/commands/T0SANDBOX/1/x"
    try:
        caplog.set_level(logging.WARNING)
        for url in (evil, world.stack.slack.response_url("control")):
            raw = block_actions_body("approve", "r-aaaa2222", "U0LEAD", "C0APPROVALS", "1700000000.000100",
                                     response_url=url)
            status, _ = await world.stack.post("/slack/events", raw, {**sign_slack(SLACK_SECRET, raw),
                                               "Content-Type": "application/x-www-form-urlencoded"})
            assert status == 200
        # the legitimate one is answered through the fake's response_url; by then the other one would have been
        await wait_until(lambda: bool(world.stack.slack.responses("control")), what="the control reply")
        await asyncio.sleep(0.3)
    finally:
        await runner.cleanup()
    assert hits == []
    assert any("response_url refused" in r.getMessage() for r in caplog.records)


# ------------------------------------------------------------------------------------- 12: body size
@pytest.mark.parametrize("path", ["/aws/sns", "/teams/messages", "/slack/events", "/aws/events"])
async def test_a_declared_5_mib_body_is_refused_before_it_is_sent(world: World, path: str) -> None:
    headers = [("Content-Length", str(5 * 1024 * 1024).encode()), ("Content-Type", b"application/json"),
               ("x-api-key", SANDBOX_SECRETS["CHATOPS_EVENTS_API_KEY"].encode()),
               ("Authorization", f"Bearer {world.bf.token()}".encode())]  # Teams: the token is checked first
    # only the first bytes are sent: the answer must come without the rest
    status, answer = await exchange(world.host_port, head("POST", path, headers) + b'{"Type": "', timeout=10)
    assert status == 413, answer


@pytest.mark.parametrize("path", ["/aws/sns", "/teams/messages"])
async def test_a_chunked_body_is_cut_off_at_the_route_limit(world: World, path: str) -> None:
    before = await world.counts()
    reader, writer = await asyncio.open_connection(*world.host_port)
    writer.write(head("POST", path, [("Transfer-Encoding", b"chunked"), ("Content-Type", b"application/json"),
                                     ("Authorization", f"Bearer {world.bf.token()}".encode())]))
    chunk = b"x" * (128 * 1024)
    refused = False
    for _ in range(40):  # up to 5 MiB, never terminated
        try:
            writer.write(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            await writer.drain()
        except ConnectionError:
            refused = True
            break
        if reader.at_eof() or b"\r\n\r\n" in reader._buffer:
            refused = True
            break
        await asyncio.sleep(0.02)
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert refused and status_of(answer) == 413, answer[:200]
    assert await world.counts() == before


# ------------------------------------------------------------------------------------- 13: workspace and tenant
async def test_a_slash_command_from_another_workspace_is_refused(world: World) -> None:
    before = await world.counts()
    raw = slash_command_body("/deploy", "api v1.4.2 to staging", "U0DEV", "C0DEPLOYS", team_id="T0OTHER")
    status, text = await world.stack.post("/slack/events", raw, {**sign_slack(SLACK_SECRET, raw),
                                          "Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200 and "workspace is not allowed" in text, text
    assert await world.counts() == before
    ok = slash_command_body("/deploy", "help", "U0DEV", "C0DEPLOYS")  # the configured workspace still works
    status, text = await world.stack.post("/slack/events", ok, {**sign_slack(SLACK_SECRET, ok),
                                          "Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200 and "not allowed" not in text


async def test_a_teams_activity_from_another_tenant_is_refused_and_not_remembered(world: World) -> None:
    before = await world.counts()
    bf = world.bf
    activity = bf.activity("message", user="aad-x", conversation="a:foreign", text="deploy api v1 to dev")
    other = "11111111-2222-3333-4444-555555555555"
    activity["conversation"]["tenantId"] = activity["channelData"]["tenant"]["id"] = other
    status, _ = await bf.send(world.stack.url, activity, token=bf.token())
    assert status == 403
    assert await world.counts() == before  # no conversation reference, nothing else
    assert bf.calls == []
    ours = bf.activity("conversationUpdate", user="aad-x", conversation="a:ours")
    assert (await bf.send(world.stack.url, ours, token=bf.token()))[0] in (200, 202)
    assert (await world.counts())["teams_conversations"] == before["teams_conversations"] + 1


def test_check_config_requires_the_workspace_and_tenant(tmp_path: Path) -> None:
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    text = "\n".join(ln for ln in text.splitlines() if "team_id:" not in ln and "tenant_id:" not in ln)
    path = tmp_path / "chatops.yml"
    path.write_text(text, encoding="utf-8")
    env = {"PATH": "", "TEAMS_OPS_WEBHOOK_URL": "https://example.webhook.office.com/x", "TEAMS_APP_ID": "app",
           **SANDBOX_SECRETS}
    done = subprocess.run([sys.executable, "-m", "bot", "check-config", str(path)], capture_output=True, text=True,
                          env=env, cwd=Path(__file__).resolve().parents[2], timeout=60)
    assert done.returncode == 1
    assert "slack.team_id: is required" in done.stderr, done.stderr
    assert "teams.tenant_id: is required" in done.stderr, done.stderr


# ------------------------------------------------------------------------------------- 14: huge numbers
def _run(**changes: Any) -> dict[str, Any]:
    payload = gh_fixture("workflow_run.completed.success.octokit.json")
    payload["workflow_run"].update(changes)
    return payload


HUGE = {
    "run id 10**25": ("workflow_run", lambda: _run(id=10**25)),
    "run id of 4,000 digits": ("workflow_run", lambda: _run(id=int("9" * 4000))),
    "run id 0": ("workflow_run", lambda: _run(id=0)),
    "negative run id": ("workflow_run", lambda: _run(id=-5)),
    "run attempt 2**40": ("workflow_run", lambda: _run(run_attempt=2**40)),
}


@pytest.mark.parametrize("case", sorted(HUGE))
async def test_ids_out_of_range_are_a_400_and_nothing_is_recorded(world: World, case: str) -> None:
    event, make = HUGE[case]
    before = await world.counts()
    status, text = await world.github(event, make(), delivery=f"huge-{case}".replace(" ", "-"))
    assert status == 400 and "out of range" in text, (status, text)
    assert await world.counts() == before


async def test_a_protection_rule_naming_a_25_digit_run_is_a_400(world: World) -> None:
    payload = {"action": "requested", "environment": "production", "event": "workflow_dispatch",
               "deployment_callback_url": ("https://api.github.com/repos/acme/platform/actions/runs/"
                                           f"{10**24}/deployment_protection_rule"),
               "deployment": {"sha": "a" * 40, "ref": "main"}, "repository": {"full_name": "acme/platform"},
               "sender": {"login": "dev-gh"}}
    before = await world.counts()
    status, text = await world.github("deployment_protection_rule", payload, delivery="huge-callback")
    assert status == 400, text
    assert await world.counts() == before
