"""Teams bot approvals end to end, through the composed app (``chatops.app.build_app`` via ``Stack``).

Loopback stand-ins (``sandbox.bot_framework_fake``): Bot Framework OpenID metadata + JWKS that sign the
activities sent to the bot, Entra's token endpoint (the bot's outgoing token, via ``TEAMS_TOKEN_URL``) and
the Bot Connector (the activities' serviceUrl) that records what the bot posts and updates.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from chatops.app import STORE
from sandbox.bot_framework_fake import KEY_ID, BotFrameworkFake, ConnectorCall
from sandbox.schemas import validate_adaptive_card
from sandbox.stack import Stack, card_of, message_text, wait_for
from tests.scenario.test_github_flow import write_config

APPROVALS = "19:approvals0123456789abcdef@thread.tacv2"
DEV_AAD = "3f2c9a1e-0000-4000-8000-00000000abcd"
LEAD_AAD = "8b1d2e3f-0000-4000-8000-00000000ef01"
DEV_CHAT = "a:1dev-personal-chat"
REQ = re.compile(r"`(r-[a-z0-9]{8})`")


@dataclass
class World:
    stack: Stack
    bf: BotFrameworkFake

    async def send(self, activity: dict[str, Any], *, token: str | None = "valid") -> tuple[int, Any]:
        return await self.bf.send(self.stack.url, activity, token=self.bf.token() if token == "valid" else token)

    def approval_posts(self) -> list[ConnectorCall]:
        return [c for c in self.bf.accepted(APPROVALS) if c.kind == "post" and c.cards]

    def updates(self, activity_id: str) -> list[ConnectorCall]:
        return [c for c in self.bf.accepted(APPROVALS) if c.kind == "update" and c.activity_id == activity_id]

    async def rows(self, sql: str) -> list[dict[str, Any]]:
        assert self.stack.app is not None
        async with self.stack.app[STORE].unit() as u:
            return await u.c.fetch(sql)


def config(tmp_path: Path, **changes: Any) -> Path:
    return write_config(tmp_path, **{
        "people.dev": {"slack": "U0DEV", "github": "dev-gh", "teams": DEV_AAD},
        "people.lead": {"slack": "U0LEAD", "github": "lead-gh", "teams": LEAD_AAD},
        "teams.bot": {"approvals_conversation": APPROVALS},
        **changes,
    })


@pytest.fixture
async def world(tmp_path: Path, sqlite_url: str) -> AsyncIterator[World]:
    async with BotFrameworkFake() as bf:
        stack = Stack(database_url=sqlite_url, config_path=config(tmp_path), extra_env=bf.env())
        async with stack:
            w = World(stack, bf)
            # the app is added to the approvals channel's team: Teams tells the bot (its reference is stored)
            status, _ = await w.send(bf.activity("conversationUpdate", user=LEAD_AAD, conversation=APPROVALS,
                                                 conversation_type="channel",
                                                 membersAdded=[{"id": f"28:{bf.app_id}"}]))
            assert status in (200, 202)
            yield w


def card_text(card: dict[str, Any]) -> str:
    return json.dumps(card, ensure_ascii=False)


def execute_actions(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["verb"]: a for a in card.get("actions", []) if a.get("type") == "Action.Execute"}


async def approval_card(w: World, rid: str) -> tuple[str, dict[str, Any]]:
    await wait_for(lambda: any(rid in card_text(c.cards[0]) for c in w.approval_posts()),
                   what="the approval card in the Teams approvals conversation")
    (post,) = [c for c in w.approval_posts() if rid in card_text(c.cards[0])]
    # first posted while the ref resolves, then updated in place to ask for approval
    await wait_for(lambda: bool(execute_actions(current_card(w, post.activity_id))), what="Approve / Reject")
    return post.activity_id, current_card(w, post.activity_id)


def current_card(w: World, activity_id: str) -> dict[str, Any]:
    body = w.bf.messages(APPROVALS)[activity_id]
    return body["attachments"][0]["content"]  # type: ignore[no-any-return]


async def test_slack_request_is_approved_from_teams_by_another_person_only(world: World) -> None:
    w = world
    _, answer = await w.stack.command("U0DEV", "api v1.4.2 to production")
    rid = REQ.search(answer["text"]).group(1)  # type: ignore[union-attr]
    activity_id, card = await approval_card(w, rid)
    assert validate_adaptive_card(card) == []
    actions = execute_actions(card)
    assert set(actions) == {"approve", "reject"}
    assert actions["approve"]["data"] == {"request_id": rid}
    for fact in ("api", "production", "dev", "Expires"):
        assert fact in card_text(card)
    # the bot's outgoing token came from the configured token endpoint, with the bot's own credentials
    assert w.bf.token_requests and all(r["client_id"] == w.bf.app_id for r in w.bf.token_requests)
    assert {r["scope"] for r in w.bf.token_requests} == {"https://api.botframework.com/.default"}

    # the requester (dev, who asked in Slack) clicks Approve in Teams: refused, across identities
    status, body = await w.send(w.bf.invoke("approve", rid, user=DEV_AAD, conversation=APPROVALS))
    assert status == 200 and body["statusCode"] == 200
    assert body["type"] == "application/vnd.microsoft.activity.message"  # only dev sees why
    assert "someone else must approve" in body["value"]
    await asyncio.sleep(0.3)
    assert w.stack.github.dispatches == []
    (row,) = await w.rows(f"SELECT state FROM requests WHERE id = '{rid}'")
    assert row["state"] == "pending_approval"

    # another person (lead) approves from Teams: one dispatch, the invoke answers with the refreshed card
    status, body = await w.send(w.bf.invoke("approve", rid, user=LEAD_AAD, conversation=APPROVALS))
    assert status == 200 and body["statusCode"] == 200
    assert "approved by lead" in card_text(body["value"])
    assert execute_actions(body["value"]) == {}, "no buttons once decided"
    await wait_for(lambda: len(w.stack.github.dispatches) == 1, what="dispatch after the Teams approval")
    assert w.stack.github.dispatches[0].inputs["environment"] == "production"

    # the Teams card is updated in place (same activity), not posted again, and shows the outcome
    await wait_for(lambda: "succeeded" in card_text(current_card(w, activity_id)), what="Teams card succeeded")
    assert w.updates(activity_id), "decisions and progress update the same Teams message"
    assert len(w.approval_posts()) == 1
    final = current_card(w, activity_id)
    assert validate_adaptive_card(final) == [] and "approved by lead" in card_text(final)
    slack = [m for m in w.stack.card_messages("C0APPROVALS") if card_of(m.blocks, rid)]  # not the deploy notes
    assert len(slack) == 1 and "approved by lead" in message_text(slack[0])
    await asyncio.sleep(0.3)
    assert len(w.stack.github.dispatches) == 1
    assert all(c.status == 200 for c in w.bf.calls), "every connector call carried an issued token"


async def test_teams_user_requests_by_message_and_teams_approves(world: World) -> None:
    w = world
    status, _ = await w.send(w.bf.activity(user=DEV_AAD, conversation=DEV_CHAT,
                                           text="deploy api v1.4.2 to production"))
    assert status in (200, 202)
    (reply,) = [c for c in w.bf.accepted(DEV_CHAT) if c.kind in ("reply", "post")]
    m = REQ.search(reply.body.get("text", ""))
    assert m, reply.body
    rid = m.group(1)
    activity_id, card = await approval_card(w, rid)
    assert validate_adaptive_card(card) == [] and set(execute_actions(card)) == {"approve", "reject"}
    assert "dev" in card_text(card)

    status, body = await w.send(w.bf.invoke("approve", rid, user=DEV_AAD, conversation=APPROVALS))
    assert "someone else must approve" in body["value"]
    status, body = await w.send(w.bf.invoke("approve", rid, user=LEAD_AAD, conversation=APPROVALS))
    assert status == 200 and "approved by lead" in card_text(body["value"])
    await wait_for(lambda: len(w.stack.github.dispatches) == 1, what="dispatch")
    assert w.stack.github.dispatches[0].inputs["requested_by"] == "dev"
    await wait_for(lambda: bool(w.updates(activity_id)), what="Teams card updated in place")


async def test_unauthenticated_activities_get_401_and_change_nothing(world: World) -> None:
    w = world
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    forged = jwt.encode({"iss": "https://api.botframework.com", "aud": w.bf.app_id, "exp": now + 600,
                         "serviceurl": w.bf.service_url}, other, algorithm="RS256", headers={"kid": KEY_ID})
    tokens: list[str | None] = [None, "garbage", forged, w.bf.token(aud="another-bot"),
                                w.bf.token(exp=now - 3600, nbf=now - 7200), w.bf.token(serviceurl="https://evil/")]
    calls_before = len(w.bf.calls)
    for token in tokens:
        status, _ = await w.send(w.bf.activity(user=DEV_AAD, conversation=DEV_CHAT,
                                               text="deploy api v1.4.2 to production"), token=token)
        assert status == 401, token
        status, _ = await w.send(w.bf.invoke("approve", "r-abcd2345", user=LEAD_AAD, conversation=APPROVALS),
                                 token=token)
        assert status == 401, token
    await asyncio.sleep(0.3)
    assert await w.rows("SELECT id FROM requests") == []
    assert [r["conversation_id"] for r in await w.rows("SELECT conversation_id FROM teams_conversations")] == [
        APPROVALS]
    assert len(w.bf.calls) == calls_before
    assert w.stack.github.dispatches == []


async def test_a_deleted_teams_card_is_posted_again(world: World) -> None:
    w = world
    _, answer = await w.stack.command("U0DEV", "api v1.4.2 to production")
    rid = REQ.search(answer["text"]).group(1)  # type: ignore[union-attr]
    activity_id, _ = await approval_card(w, rid)
    w.bf.deleted.add(activity_id)
    await w.send(w.bf.invoke("reject", rid, user=LEAD_AAD, conversation=APPROVALS))
    await wait_for(lambda: len(w.approval_posts()) == 2, what="the card posted again")
    assert "rejected" in card_text(w.approval_posts()[-1].cards[0])


async def test_without_the_bot_teams_bot_destinations_fail_permanently(tmp_path: Path, sqlite_url: str) -> None:
    stack = Stack(database_url=sqlite_url, config_path=config(tmp_path))
    async with stack:
        _, answer = await stack.command("U0DEV", "api v1.4.2 to production")
        rid = REQ.search(answer["text"]).group(1)  # type: ignore[union-attr]
        assert stack.app is not None

        async def failed() -> list[dict[str, Any]]:
            assert stack.app is not None
            async with stack.app[STORE].unit() as u:
                return await u.c.fetch("SELECT state, attempts, last_error FROM outbox WHERE address = ?",
                                       f"bot:{APPROVALS}")

        for _ in range(200):  # up to 10 s for the outbox to try once and give up
            if [r for r in await failed() if r["state"] != "pending"]:
                break
            await asyncio.sleep(0.05)
        rows = await failed()  # the approval card, and its updates if they were queued after it had failed
        assert any(r["state"] == "failed" for r in rows) and all(r["state"] in ("failed", "pending") for r in rows)
        for row in [r for r in rows if r["state"] == "failed"]:
            assert row["attempts"] == 1, "a permanent failure is not retried"
            assert "needs the Teams bot" in row["last_error"] and "TEAMS_APP_ID" in row["last_error"]
        await wait_for(lambda: any(rid in message_text(m) for m in stack.card_messages("C0APPROVALS")),
                       what="Slack still gets its card")
        status, _ = await stack.post("/teams/messages", b"{}", {"Content-Type": "application/json"})
        assert status in (404, 405)
