"""Proactive Teams delivery pieces: ``teams.bot`` config, the token-endpoint provider, the bot sender and the
composed Teams sender, against the loopback Bot Framework fake (real HTTP, real SDK adapter)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from microsoft_agents.hosting.core.authorization import AgentAuthConfiguration

from bot.config import parse_config
from bot.domain import Card, Destination, Op, OutboundMessage, Platform
from bot.egress.teams import TeamsSenders
from bot.egress.teams_auth import ClientCredentialsTokens, allowed_endpoint, bot_connections
from bot.egress.teams_bot import TeamsBotSender, build_adapter
from bot.errors import ConfigError, DeliveryError
from sandbox.bot_framework_fake import BotFrameworkFake

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "chatops.yml"
ENV = {"TEAMS_OPS_WEBHOOK_URL": "https://example.webhook.office.com/workflows/ops"}
CONV = "19:approvals@thread.tacv2"
SCOPE = ["https://api.botframework.com/.default"]


def config_with(teams_bot: Any) -> dict[str, Any]:
    data = yaml.safe_load(EXAMPLE.read_text())
    data["teams"]["bot"] = teams_bot
    return data  # type: ignore[no-any-return]


# ------------------------------------------------------------------------------------------ config

def test_teams_bot_approvals_conversation_is_parsed() -> None:
    config = parse_config(config_with({"approvals_conversation": CONV}), env=ENV)
    assert config.teams_approvals_conversation == CONV
    assert parse_config(yaml.safe_load(EXAMPLE.read_text()), env=ENV).teams_approvals_conversation == ""


@pytest.mark.parametrize(("spec", "path", "word"), [
    ({"approvals_conversation": "https://teams.microsoft.com/l/channel/19%3aabc/General"},
     "teams.bot.approvals_conversation", "not valid"),
    ({"approvals_conversation": ""}, "teams.bot.approvals_conversation", "non-empty"),
    ({"approvals_conversation": 42}, "teams.bot.approvals_conversation", "non-empty"),
    ({"approval_conversation": CONV}, "teams.bot.approval_conversation", "unknown key"),
    ("19:abc@thread.tacv2", "teams.bot", "must be a mapping"),
])
def test_teams_bot_problems_name_their_key(spec: Any, path: str, word: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(config_with(spec), env=ENV)
    assert any(p.startswith(f"{path}:") and word in p for p in err.value.problems), err.value.problems


def test_unknown_teams_key_is_reported() -> None:
    data = yaml.safe_load(EXAMPLE.read_text())
    data["teams"]["bots"] = {}
    with pytest.raises(ConfigError) as err:
        parse_config(data, env=ENV)
    assert any(p.startswith("teams.bots:") for p in err.value.problems)


def test_check_config_reports_a_bad_teams_bot_key(tmp_path: Path) -> None:
    path = tmp_path / "chatops.yml"
    path.write_text(yaml.safe_dump(config_with({"approvals_conversation": "General channel"})))
    env = {"PATH": "", **ENV}
    done = subprocess.run([sys.executable, "-m", "bot", "check-config", str(path)], capture_output=True,
                          text=True, env=env, cwd=ROOT, check=False)
    assert done.returncode == 1
    assert "teams.bot.approvals_conversation" in done.stderr


# ------------------------------------------------------------------------------------------ tokens

@pytest.fixture
async def bf() -> AsyncIterator[BotFrameworkFake]:
    async with BotFrameworkFake() as fake:
        yield fake


def tokens(bf: BotFrameworkFake, *, secret: str | None = None, url: str | None = None) -> ClientCredentialsTokens:
    cfg = AgentAuthConfiguration(client_id=bf.app_id, tenant_id=bf.tenant_id,
                                 client_secret=secret or bf.app_password)
    return ClientCredentialsTokens(cfg, token_url=url or bf.token_url)


async def test_token_endpoint_client_credentials_are_cached(bf: BotFrameworkFake) -> None:
    provider = tokens(bf)
    first = await provider.get_access_token("https://api.botframework.com", SCOPE)
    assert first in bf.issued
    assert await provider.get_access_token("https://api.botframework.com", SCOPE) == first
    assert bf.token_requests == [{"grant_type": "client_credentials", "client_id": bf.app_id,
                                  "scope": SCOPE[0]}]
    again = await provider.get_access_token("https://api.botframework.com", SCOPE, force_refresh=True)
    assert again != first and len(bf.token_requests) == 2


async def test_token_endpoint_errors(bf: BotFrameworkFake) -> None:
    with pytest.raises(DeliveryError) as err:
        await tokens(bf, secret="wrong").get_access_token("https://api.botframework.com", SCOPE)
    assert not err.value.transient and "401" in str(err.value) and "wrong" not in str(err.value)
    bf.down()
    with pytest.raises(DeliveryError) as err:
        await tokens(bf).get_access_token("https://api.botframework.com", SCOPE)
    assert err.value.transient


def test_endpoint_rules() -> None:
    assert allowed_endpoint("https://login.microsoftonline.us/t/oauth2/v2.0/token")
    assert allowed_endpoint("http://127.0.0.1:8080/t/oauth2/v2.0/token")
    assert not allowed_endpoint("http://127.0.0.1.evil.example/token")
    assert not allowed_endpoint("http://proxy.internal/token")
    with pytest.raises(ConfigError, match="TEAMS_TOKEN_URL"):
        bot_connections(app_id="a", app_password="p", tenant_id="t", token_url="http://proxy.internal/token")
    with pytest.raises(ConfigError, match="TEAMS_AUTHORITY_URL"):
        bot_connections(app_id="a", app_password="p", tenant_id="t", authority_url="http://127.0.0.1:1/t")
    msal = bot_connections(app_id="a", app_password="p", tenant_id="t",
                           authority_url="https://login.microsoftonline.us/t")
    assert msal.get_default_connection().configuration.AUTHORITY == "https://login.microsoftonline.us/t"


# ------------------------------------------------------------------------------------------ senders

def card_message(address: str, *, op: Op = Op.CARD) -> OutboundMessage:
    return OutboundMessage(f"k-{address}", Destination(Platform.TEAMS, address), op,
                           Card(kind="deployment", title="Deploy api v1 → production", status="waiting"),
                           card_key="req:r-1")


class Recorder:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, message: OutboundMessage, *, ref: str | None) -> str | None:
        self.sent.append(message.destination.address)
        return "webhook-ref"


async def test_composed_sender_routes_bot_addresses_and_fails_without_the_bot() -> None:
    webhooks, bot = Recorder(), Recorder()
    both = TeamsSenders(webhooks=webhooks, bot=bot)
    await both.send(card_message("ops"), ref=None)
    await both.send(card_message(f"bot:{CONV}"), ref=None)
    assert webhooks.sent == ["ops"] and bot.sent == [f"bot:{CONV}"]
    with pytest.raises(DeliveryError) as err:
        await TeamsSenders(webhooks=webhooks, bot=None).send(card_message(f"bot:{CONV}"), ref=None)
    assert not err.value.transient and "TEAMS_APP_ID" in str(err.value)


async def test_bot_sender_posts_updates_and_reports_failures(bf: BotFrameworkFake) -> None:
    adapter = build_adapter(bot_connections(app_id=bf.app_id, app_password=bf.app_password,
                                            tenant_id=bf.tenant_id, token_url=bf.token_url))
    reference = {"serviceUrl": bf.service_url, "channelId": "msteams", "conversation": {"id": CONV},
                 "bot": {"id": f"28:{bf.app_id}"}}
    known = {CONV: reference}

    async def lookup(conversation_id: str) -> dict[str, Any] | None:
        return known.get(conversation_id)

    sender = TeamsBotSender(adapter, app_id=bf.app_id, references=lookup)
    ref = await sender.send(card_message(f"bot:{CONV}"), ref=None)
    assert ref and bf.calls[-1].kind == "post" and bf.calls[-1].conversation == CONV
    assert await sender.send(card_message(f"bot:{CONV}"), ref=ref) == ref
    assert bf.calls[-1].kind == "update" and bf.calls[-1].activity_id == ref

    with pytest.raises(DeliveryError) as err:
        await sender.send(card_message("bot:19:elsewhere@thread.tacv2"), ref=None)
    assert err.value.transient and "add the app" in str(err.value)
    with pytest.raises(DeliveryError) as err:
        await sender.send(card_message(f"bot:{CONV}", op=Op.EPHEMERAL), ref=None)
    assert not err.value.transient

    bf.fail("/activities/", status=429, retry_after=7)
    with pytest.raises(DeliveryError) as err:
        await sender.send(card_message(f"bot:{CONV}"), ref=ref)
    assert err.value.transient and "429" in str(err.value) and err.value.retry_after == 7
    bf.down()
    with pytest.raises(DeliveryError) as err:
        await sender.send(card_message(f"bot:{CONV}"), ref=ref)
    assert err.value.transient
    bf.up()
    known[CONV] = {**reference, "serviceUrl": bf.service_url.replace("127.0.0.1", "localhost") + "gone/"}
    with pytest.raises(DeliveryError) as err:
        await sender.send(card_message(f"bot:{CONV}"), ref=None)
    assert not err.value.transient and "404" in str(err.value)
