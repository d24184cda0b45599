"""The Teams bot route through real HTTP: loopback OpenID metadata + JWKS signed with a test RSA key, a
loopback Bot Connector standing in for Teams' serviceUrl, the real Agents SDK adapter and a real SQLite
store. The pipeline is replaced by a small in-test CommandRunner (a collaborator boundary)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric import rsa
from microsoft_agents.hosting.core.authorization import AgentAuthConfiguration, ConnectionManager

from bot.config import Person
from bot.domain import Actor, Card, Fact, Platform
from bot.egress.teams_bot import TeamsBot, build_adapter, post_card
from bot.store.store import Store
from bot.store.teams import StoreConversationRefs, conversations, get_conversation, personal_conversation
from handlers.teams import BotTokenVerifier, add_teams_routes
from tests.teams.conftest import schema_errors

APP_ID = "00000000-aaaa-bbbb-cccc-000000000001"
ISSUER = "https://api.botframework.com"
TENANT = "72f988bf-0000-0000-0000-000000000000"
PEOPLE = {"dev": Person("dev", slack="U0DEV", teams="aad-dev"), "lead": Person("lead", slack="U0LEAD",
                                                                                teams="aad-lead")}


def person_of(aad: str) -> str | None:
    return next((p.key for p in PEOPLE.values() if p.teams == aad), None)


@dataclass
class Runner:
    """In-test CommandRunner: one pending request by ``dev``; four-eyes compares person keys."""

    texts: list[tuple[str, Actor]] = field(default_factory=list)
    state: str = "pending approval"
    decided_by: str = ""

    async def run_text(self, text: str, actor: Actor, *, message_id: str = "") -> str:
        self.texts.append((text, actor))
        return f"ok {actor.person}: {text}"

    async def decide(self, request_id: str, approve: bool, actor: Actor) -> Card | str:
        if actor.person == "dev":
            return "You requested this deploy; someone else must approve it."
        if actor.person is None:
            return "You are not in the people map."
        if self.state == "pending approval":
            self.state, self.decided_by = ("approved" if approve else "rejected"), actor.person
            note = f"{self.state} by {actor.person}"
        else:
            note = f"already {self.state} by {self.decided_by}"
        return Card(kind="approval", title=f"Deploy api to production ({request_id})", status=self.state,
                    tone="good" if self.state == "approved" else "warning", text=note,
                    facts=(Fact("Requested by", "dev"),))


class StaticTokens:
    """Stands in for Entra client-credentials (no network here): the bot's outbound token."""

    def __init__(self, configuration: AgentAuthConfiguration) -> None:
        self._configuration = configuration

    @property
    def configuration(self) -> AgentAuthConfiguration:
        return self._configuration

    async def get_access_token(self, resource_url: str, scopes: list[str], force_refresh: bool = False) -> str:
        return "test-outbound-token"

    def get_token_credential(self) -> Any:
        raise NotImplementedError


@dataclass
class World:
    base: str
    connector_url: str
    key: rsa.RSAPrivateKey
    runner: Runner
    store: Store
    connector_posts: list[tuple[str, str, dict[str, Any], str]]
    adapter: Any
    plain_route_hits: list[str]

    def token(self, **overrides: Any) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {"iss": ISSUER, "aud": APP_ID, "exp": now + 600, "nbf": now - 10,
                                  "serviceurl": self.connector_url}
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "test-key"})

    def activity(self, kind: str = "message", *, user: str = "aad-lead", conv_type: str = "personal",
                 **extra: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": kind, "id": "act-1", "channelId": "msteams", "serviceUrl": self.connector_url,
            "from": {"id": "29:" + user, "name": user, "aadObjectId": user},
            "recipient": {"id": "28:" + APP_ID, "name": "ChatOps"},
            "conversation": {"id": f"a:conv-{user}-{conv_type}", "conversationType": conv_type,
                             "tenantId": TENANT},
            "channelData": {"tenant": {"id": TENANT}},
        }
        body.update(extra)
        return body

    async def post(self, body: dict[str, Any], *, token: str | None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        async with aiohttp.ClientSession() as s, s.post(self.base + "/teams/messages", json=body,
                                                        headers=headers) as resp:
            text = await resp.text()
            return resp.status, (json.loads(text) if text else None)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "test-key", "use": "sig", "endorsements": ["msteams"]})

    idp = web.Application()
    idp_server = TestServer(idp, host="127.0.0.1", port=0)

    async def metadata(_: web.Request) -> web.Response:
        return web.json_response({"issuer": ISSUER, "jwks_uri": str(idp_server.make_url("/keys"))})

    async def keys(_: web.Request) -> web.Response:
        return web.json_response({"keys": [jwk]})

    idp.router.add_get("/openid", metadata)
    idp.router.add_get("/keys", keys)
    await idp_server.start_server()

    posts: list[tuple[str, str, dict[str, Any], str]] = []
    connector = web.Application()

    async def activities(request: web.Request) -> web.Response:
        posts.append((request.method, request.path, await request.json(), request.headers.get("Authorization", "")))
        return web.json_response({"id": f"msg-{len(posts)}"})

    connector.router.add_route("*", "/v3/conversations/{conv}/activities", activities)
    connector.router.add_route("*", "/v3/conversations/{conv}/activities/{act}", activities)
    connector_server = TestServer(connector, host="127.0.0.1", port=0)
    await connector_server.start_server()

    store = await Store.open(f"sqlite:///{tmp_path / 'bot.db'}")
    runner = Runner()
    connections = ConnectionManager(
        provider_factory=StaticTokens,
        connections_configurations={"SERVICE_CONNECTION": AgentAuthConfiguration(client_id=APP_ID)},
    )
    adapter = build_adapter(connections)
    bot = TeamsBot(runner, person_of=person_of, refs=StoreConversationRefs(store))
    verifier = BotTokenVerifier(app_id=APP_ID, metadata_url=str(idp_server.make_url("/openid")))
    app = web.Application()
    hits: list[str] = []

    async def plain(request: web.Request) -> web.Response:  # stands in for the Slack/GitHub routes
        hits.append(request.path)
        return web.Response(text="ok")

    app.router.add_post("/slack/events", plain)
    add_teams_routes(app, verifier=verifier, adapter=adapter, bot=bot, tenant_id=TENANT)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    yield World(str(server.make_url("")).rstrip("/"), str(connector_server.make_url("")).rstrip("/") + "/",
                key, runner, store, posts, adapter, hits)
    await server.close()
    await connector_server.close()
    await idp_server.close()
    await store.close()


def invoke(world: World, verb: str, *, user: str) -> dict[str, Any]:
    return world.activity("invoke", user=user, name="adaptiveCard/action", value={
        "action": {"type": "Action.Execute", "verb": verb, "data": {"request_id": "r-abcd2345"}},
        "trigger": "manual"})


async def test_valid_invoke_approves_and_answers_with_the_refreshed_card(
    world: World, card_validator: jsonschema.Draft6Validator
) -> None:
    status, body = await world.post(invoke(world, "approve", user="aad-lead"), token=world.token())
    assert status == 200
    assert body["statusCode"] == 200 and body["type"] == "application/vnd.microsoft.card.adaptive"
    card = body["value"]
    assert schema_errors(card_validator, card) == []
    assert "approved by lead" in json.dumps(card)
    assert world.runner.state == "approved"


async def test_the_requesters_own_approval_from_teams_is_refused(world: World) -> None:
    status, body = await world.post(invoke(world, "approve", user="aad-dev"), token=world.token())
    assert status == 200
    # the refusal goes to the person who clicked (a message), not onto the card everyone sees
    assert body["type"] == "application/vnd.microsoft.activity.message"
    assert "someone else must approve" in body["value"]
    assert world.runner.state == "pending approval"


async def test_reject_verb_and_unknown_verb(world: World) -> None:
    status, body = await world.post(invoke(world, "launch", user="aad-lead"), token=world.token())
    assert status == 200 and body["statusCode"] == 400
    assert world.runner.state == "pending approval"
    status, body = await world.post(invoke(world, "reject", user="aad-lead"), token=world.token())
    assert body["statusCode"] == 200 and world.runner.state == "rejected"


@pytest.mark.parametrize("case", ["missing", "garbage", "expired", "wrong-audience", "wrong-issuer",
                                  "wrong-key", "wrong-serviceurl", "no-serviceurl", "hs256", "no-exp"])
async def test_unauthenticated_activities_get_401_and_change_nothing(world: World, case: str) -> None:
    token: str | None
    if case == "missing":
        token = None
    elif case == "garbage":
        token = "not.a.jwt"
    elif case == "expired":
        token = world.token(exp=int(time.time()) - 3600, nbf=int(time.time()) - 7200)
    elif case == "wrong-audience":
        token = world.token(aud="someone-elses-bot")
    elif case == "wrong-issuer":
        token = world.token(iss="https://evil.example")
    elif case == "wrong-key":
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        token = jwt.encode({"iss": ISSUER, "aud": APP_ID, "exp": int(time.time()) + 600,
                            "serviceurl": world.connector_url}, other, algorithm="RS256",
                           headers={"kid": "test-key"})
    elif case == "wrong-serviceurl":
        token = world.token(serviceurl="https://smba.trafficmanager.net/evil/")
    elif case == "no-serviceurl":
        token = world.token(serviceurl=None)
    elif case == "hs256":
        token = jwt.encode({"iss": ISSUER, "aud": APP_ID, "exp": int(time.time()) + 600,
                            "serviceurl": world.connector_url}, "k" * 32, algorithm="HS256",
                           headers={"kid": "test-key"})
    else:
        token = world.token(exp=None)
    status, _ = await world.post(invoke(world, "approve", user="aad-lead"), token=token)
    assert status == 401
    assert world.runner.state == "pending approval"
    status, _ = await world.post(world.activity(text="deploy api v1 to staging"), token=token)
    assert status == 401
    assert world.runner.texts == [] and world.connector_posts == []
    async with world.store.unit() as u:
        assert await conversations(u) == []


async def test_key_not_endorsed_for_the_channel_is_refused(world: World) -> None:
    status, _ = await world.post(world.activity(text="hi", channelId="webchat"), token=world.token())
    assert status == 401


async def test_other_routes_do_not_need_the_teams_token(world: World) -> None:
    async with aiohttp.ClientSession() as s, s.post(world.base + "/slack/events", data=b"x") as resp:
        assert resp.status == 200
    assert world.plain_route_hits == ["/slack/events"]


async def test_text_command_runs_as_the_mapped_person_and_replies_in_the_conversation(world: World) -> None:
    body = world.activity(text="<at>ChatOps</at> deploy  api v1.4.2 to&nbsp;staging", conv_type="channel")
    status, _ = await world.post(body, token=world.token())
    assert status == 202
    (text, actor), = world.runner.texts
    assert text == "deploy api v1.4.2 to staging"
    assert actor == Actor(platform=Platform.TEAMS, platform_id="aad-lead", person="lead",
                          channel="a:conv-aad-lead-channel", display="aad-lead", conversation="channel")
    (method, path, reply, auth), = world.connector_posts
    assert method == "POST" and path.startswith("/v3/conversations/a:conv-aad-lead-channel/activities")
    assert reply["text"] == "ok lead: deploy api v1.4.2 to staging"
    assert auth == "Bearer test-outbound-token"


async def test_unknown_teams_user_gets_no_person(world: World) -> None:
    await world.post(world.activity(text="approve r-abcd2345", user="aad-stranger"), token=world.token())
    (_, actor), = world.runner.texts
    assert actor.person is None and actor.platform_id == "aad-stranger"


async def test_conversation_references_are_stored_and_usable_for_proactive_posts(
    world: World, card_validator: jsonschema.Draft6Validator
) -> None:
    await world.post(world.activity(text="hello"), token=world.token())
    async with world.store.unit() as u:
        stored = await personal_conversation(u, "lead")
        assert stored is not None and stored.conversation_type == "personal" and stored.tenant_id == TENANT
        assert stored.reference["serviceUrl"] == world.connector_url
        assert await get_conversation(u, stored.conversation_id) == stored
    world.connector_posts.clear()
    card = await world.runner.decide("r-abcd2345", True, Actor(Platform.SLACK, "U0SRE", "sre"))
    activity_id = await post_card(world.adapter, app_id=APP_ID, reference=stored.reference, card=card)
    assert activity_id == "msg-1"
    (method, path, sent, _auth), = world.connector_posts
    assert method == "POST" and path.startswith(f"/v3/conversations/{stored.conversation_id}/activities")
    attachment = sent["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert schema_errors(card_validator, attachment["content"]) == []
    again = await post_card(world.adapter, app_id=APP_ID, reference=stored.reference, card=card,
                            activity_id=activity_id)
    assert again == activity_id
    assert world.connector_posts[-1][0] == "PUT"
    assert world.connector_posts[-1][1].endswith(f"/activities/{activity_id}")


def test_production_connections_build_offline() -> None:
    from bot.egress.teams_bot import msal_connections

    connections = msal_connections(app_id=APP_ID, app_password="not-a-real-secret", tenant_id=TENANT)
    assert connections.get_default_connection().configuration.CLIENT_ID == APP_ID
