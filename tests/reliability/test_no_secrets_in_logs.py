"""No configured secret value ever appears in the logs: a scenario with commands, approvals, webhooks with valid
and invalid signatures, EventBridge events, a Slack outage and a Teams 429, run twice: against the bot as a
process logging to a file, and in-process with every logger captured at DEBUG."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from pathlib import Path

import pytest

from sandbox.process import BotProcess
from sandbox.signing import sign_github, sign_slack, slash_command_body
from sandbox.stack import SANDBOX_SECRETS, Stack, message_text, wait_for
from tests.reliability.helpers import access_denied, envelope, request_id


def secret_values(stack: Stack, response_tokens: list[str]) -> dict[str, str]:
    values = {name: value for name, value in SANDBOX_SECRETS.items()}
    values["TEAMS_OPS_WEBHOOK_URL"] = stack.teams.webhook_url("ops")
    for n, token in enumerate(response_tokens):
        values[f"response_url token {n}"] = token
    return values


async def until_state(stack: Stack, rid: str, state: str, *, timeout: float = 20.0) -> None:
    from bot.store.store import Store

    store = await Store.open(stack.database_url)
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            async with store.unit() as u:
                r = await u.get_request(rid)
            if r is not None and r.state == state:
                return
            assert asyncio.get_running_loop().time() < deadline, f"{rid} never reached {state}"
            await asyncio.sleep(0.05)
    finally:
        await store.close()


async def scenario(stack: Stack, bot_url: str) -> list[str]:
    """Drive everything that might log something; returns the response_url tokens that were used."""
    stack.url = bot_url
    stack.github.webhook_url = f"{bot_url}/github/webhook"
    tokens = [f"rtok{secrets.token_hex(12)}" for _ in range(4)]

    # a Teams 429 and a Slack outage while a deploy and an approval happen
    stack.teams.fail("ops", status=429, times=1, retry_after=1)
    stack.slack.down()
    _, answer = await stack.command("U0DEV", "api v1.4.2 to staging", key=tokens[0])
    staging = request_id(answer)
    _, answer = await stack.command("U0DEV", "web v1.4.2 to production", key=tokens[1])
    prod = request_id(answer)
    await until_state(stack, prod, "pending_approval")
    await stack.click("U0LEAD", "approve", prod, key=tokens[2])
    await stack.command("U0GUEST", "api v1.4.2 to production", key=tokens[3])  # denied, audited
    await asyncio.sleep(1.5)
    stack.slack.up()

    # invalid signatures, wrong API keys
    body = slash_command_body("/deploy", "api v1.4.2 to dev", "U0DEV", "C0DEPLOYS")
    await stack.post("/slack/events", body, {**sign_slack("wrong-secret", body),
                                             "Content-Type": "application/x-www-form-urlencoded"})
    hook = json.dumps({"zen": "hi", "repository": {"full_name": "acme/platform"}}).encode()
    await stack.post("/github/webhook", hook, {**sign_github("wrong-secret", hook), "X-GitHub-Event": "ping",
                                               "X-GitHub-Delivery": "bad-sig-1"})
    await stack.post("/github/webhook", hook, {**sign_github(SANDBOX_SECRETS["GITHUB_WEBHOOK_SECRET"], hook),
                                               "X-GitHub-Event": "ping", "X-GitHub-Delivery": "good-sig-1"})
    event = json.dumps(envelope(access_denied(user="logs"))).encode()
    await stack.post("/aws/events", event, {"x-api-key": "wrong-" + SANDBOX_SECRETS["CHATOPS_EVENTS_API_KEY"]})
    await stack.post("/aws/events", event, {"x-api-key": SANDBOX_SECRETS["CHATOPS_EVENTS_API_KEY"],
                                            "Content-Type": "application/json"})

    await wait_for(lambda: all(any(rid in message_text(m) and "succeeded" in message_text(m)
                                   for m in stack.card_messages("C0DEPLOYS")) for rid in (staging, prod)),
                   timeout=40, what="both deploys delivered after the outage")
    await wait_for(lambda: len(stack.slack.responses(tokens[2])) == 1, timeout=20, what="click reply")
    await wait_for(lambda: any(p.status == 429 for p in stack.teams.posts) and stack.teams.accepted("ops"),
                   timeout=20, what="teams delivery after its 429")
    await wait_for(lambda: bool(stack.slack.posts("C0SECURITY")), timeout=20, what="security alert")
    return tokens


def leaks(text: str, values: dict[str, str]) -> list[str]:
    return [f"{name} ({value[:6]}…)" for name, value in values.items() if value and value in text]


async def test_no_secret_in_the_log_file_of_the_bot_process(tmp_path: Path) -> None:
    stack = Stack(database_url=f"sqlite:///{tmp_path}/bot.db", step_delay=0.02,
                  extra_env={"LOG_LEVEL": "DEBUG"})
    await stack.start_fakes()
    log_path = tmp_path / "bot.log"
    bot = BotProcess(stack.env, log_path=log_path)
    try:
        await bot.start()
        tokens = await scenario(stack, bot.url)
        await asyncio.sleep(0.5)
    finally:
        bot.terminate()
        await stack.stop()
    text = log_path.read_text(encoding="utf-8", errors="replace")
    assert "teams webhook post failed" in text and "eventbridge request rejected" in text, "logs were captured"
    assert leaks(text, secret_values(stack, tokens)) == []


async def test_no_secret_in_any_log_record_at_debug(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with Stack(database_url=f"sqlite:///{tmp_path}/bot.db", step_delay=0.02) as stack:
        tokens = await scenario(stack, stack.url)
        await asyncio.sleep(0.5)
        values = secret_values(stack, tokens)
    text = caplog.text + "\n".join(
        f"{r.getMessage()} {r.args!r} {r.exc_text or ''} {getattr(r, 'stack_info', '') or ''}"
        for r in caplog.records)
    assert any("delivery of outbox" in r.getMessage() for r in caplog.records), "logs were captured"
    assert leaks(text, values) == []
