from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from sandbox.slack_fake import SlackFake


@pytest.fixture
async def slack() -> AsyncIterator[SlackFake]:
    async with SlackFake(known_channels={"C0DEPLOYS", "C0APPROVALS"}) as fake:
        yield fake


def client(fake: SlackFake, token: str = "xoxb-test-token") -> AsyncWebClient:
    return AsyncWebClient(token=token, base_url=f"{fake.url}/api/")


def button(action_id: str, text: str = "Approve", value: str = "v") -> dict:
    return {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": text},
        "value": value,
    }


async def test_auth_test_and_bad_tokens(slack: SlackFake) -> None:
    resp = await client(slack).auth_test()
    assert resp["ok"] and resp["user_id"] == "U0BOT" and resp["bot_id"] == "B0BOT"
    assert {"url", "team", "user", "team_id"} <= set(resp.data)
    with pytest.raises(SlackApiError) as err:
        await client(slack, "xoxb-wrong").auth_test()
    assert err.value.response["error"] == "invalid_auth" and err.value.response.status_code == 200
    async with aiohttp.ClientSession() as http, http.post(f"{slack.url}/api/auth.test") as raw:
        assert (await raw.json()) == {"ok": False, "error": "not_authed"}


async def test_post_update_thread_and_records(slack: SlackFake) -> None:
    c = client(slack)
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "*deploy* api"}},
        {"type": "actions", "elements": [button("approve"), button("reject", "Reject")]},
    ]
    first = await c.chat_postMessage(channel="C0APPROVALS", text="deploy api", blocks=blocks)
    second = await c.chat_postMessage(channel="C0APPROVALS", text="reply", thread_ts=first["ts"])
    assert float(second["ts"]) > float(first["ts"]) and first["message"]["blocks"] == blocks
    await c.chat_update(channel="C0APPROVALS", ts=first["ts"], text="approved", blocks=blocks[:1])
    msg = slack.messages[("C0APPROVALS", first["ts"])]
    assert msg.text == "approved" and msg.blocks == blocks[:1] and msg.edits == 1
    assert slack.thread("C0APPROVALS", first["ts"])[0].text == "reply"
    assert len(slack.posts("C0APPROVALS")) == 2 and len(slack.updates(ts=first["ts"])) == 1
    with pytest.raises(SlackApiError) as err:
        await c.chat_update(channel="C0APPROVALS", ts="1.000001", text="x")
    assert err.value.response["error"] == "message_not_found"


async def test_form_encoded_arguments(slack: SlackFake) -> None:
    form = {
        "channel": "C0DEPLOYS",
        "text": "hi",
        "blocks": json.dumps([{"type": "divider"}]),
        "token": "xoxb-test-token",
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{slack.url}/api/chat.postMessage", data=form) as raw,
    ):
        body = await raw.json()
    assert body["ok"] and slack.posts()[0].args["blocks"] == [{"type": "divider"}]


@pytest.mark.filterwarnings("ignore:The top-level `text`:UserWarning")
@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"channel": "C0NOPE", "text": "x"}, "channel_not_found"),
        ({"channel": "C0DEPLOYS"}, "no_text"),
        ({"channel": "C0DEPLOYS", "text": "x" * 40_001}, "msg_too_long"),
        ({"channel": "C0DEPLOYS", "blocks": [{"type": "divider"}] * 51}, "invalid_blocks"),
        (
            {"channel": "C0DEPLOYS", "blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "x"}}]},
            "invalid_blocks",
        ),
        (
            {
                "channel": "C0DEPLOYS",
                "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}],
            },
            "invalid_blocks",
        ),
        (
            {
                "channel": "C0DEPLOYS",
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}],
            },
            "invalid_blocks",
        ),
        ({"channel": "C0DEPLOYS", "blocks": [{"type": "divider", "block_id": "b" * 256}]}, "invalid_blocks"),
        (
            {"channel": "C0DEPLOYS", "blocks": [{"type": "actions", "elements": [button("a", "x" * 76)]}]},
            "invalid_blocks",
        ),
        (
            {
                "channel": "C0DEPLOYS",
                "blocks": [{"type": "actions", "elements": [button("a", value="v" * 2001)]}],
            },
            "invalid_blocks",
        ),
        (
            {"channel": "C0DEPLOYS", "blocks": [{"type": "actions", "elements": [button("a"), button("a")]}]},
            "invalid_blocks",
        ),
        (
            {
                "channel": "C0DEPLOYS",
                "blocks": [{"type": "actions", "elements": [button(f"a{i}") for i in range(26)]}],
            },
            "invalid_blocks",
        ),
        (
            {
                "channel": "C0DEPLOYS",
                "blocks": [{"type": "context", "elements": [{"type": "mrkdwn", "text": "x"}] * 11}],
            },
            "invalid_blocks",
        ),
        (
            {"channel": "C0DEPLOYS", "blocks": [{"type": "actions", "elements": [button("a" * 256)]}]},
            "invalid_blocks",
        ),
    ],
)
async def test_rejections(slack: SlackFake, kwargs: dict, error: str) -> None:
    with pytest.raises(SlackApiError) as err:
        await client(slack).chat_postMessage(**kwargs)
    assert err.value.response["error"] == error
    if error == "invalid_blocks":
        assert "json-pointer" in err.value.response["errors"][0]
    assert slack.posts() == [] and slack.calls[-1].error == error


async def test_default_channel_rule_accepts_c_d_g() -> None:
    async with SlackFake() as fake:
        for channel in ("C1", "D1", "G1"):
            await client(fake).chat_postMessage(channel=channel, text="x")
        with pytest.raises(SlackApiError):
            await client(fake).chat_postMessage(channel="X1", text="x")


async def test_ephemeral(slack: SlackFake) -> None:
    resp = await client(slack).chat_postEphemeral(channel="C0DEPLOYS", user="U0DEV", text="denied")
    assert resp["message_ts"]
    assert [c.args["text"] for c in slack.ephemerals(user="U0DEV")] == ["denied"]
    assert slack.ephemerals(user="U0LEAD") == []


async def test_rate_limit_and_down(slack: SlackFake) -> None:
    slack.fail("chat.postMessage", status=429, times=1, retry_after=7)
    with pytest.raises(SlackApiError) as err:
        await client(slack).chat_postMessage(channel="C0DEPLOYS", text="x")
    assert err.value.response.status_code == 429
    assert err.value.response.headers["Retry-After"] == "7"
    assert err.value.response["error"] == "ratelimited"
    assert (await client(slack).chat_postMessage(channel="C0DEPLOYS", text="x"))["ok"]
    slack.fail("chat.update", status=500, times=2)
    slack.down()
    with pytest.raises(SlackApiError) as err:
        await client(slack).auth_test()
    assert err.value.response.status_code == 500
    slack.up()
    assert (await client(slack).auth_test())["ok"]


async def test_response_url(slack: SlackFake) -> None:
    url = slack.response_url("cmd-1")
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json={"response_type": "ephemeral", "text": "usage: /deploy"}) as r:
            assert r.status == 200
        async with http.post(url, json={"replace_original": True, "text": "done"}) as r:
            assert r.status == 200
        async with http.post(url, json={"response_type": "bogus", "text": "x"}) as r:
            assert r.status == 400
    assert [b["text"] for b in slack.responses("cmd-1")] == ["usage: /deploy", "done"]
    assert slack.responses("other") == []


async def test_views_open(slack: SlackFake) -> None:
    view = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Deploy"},
        "blocks": [{"type": "divider"}],
    }
    resp = await client(slack).views_open(trigger_id="1.2.3", view=view)
    assert resp["view"]["id"].startswith("V")


async def test_send_command_signs_like_slack(slack: SlackFake, receiver) -> None:  # type: ignore[no-untyped-def]
    from urllib.parse import parse_qs

    from slack_sdk.signature import SignatureVerifier

    status, _ = await slack.send_command(
        receiver.url, "/deploy", "api v1.4.2 to staging", user_id="U0DEV", channel_id="C0DEPLOYS", key="k1"
    )
    headers, body = receiver.received[0]
    assert status == 202 and SignatureVerifier(slack.signing_secret).is_valid_request(body, headers)
    assert parse_qs(body.decode())["response_url"] == [slack.response_url("k1")]
