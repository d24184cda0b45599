from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from sandbox.paths import PUBLISHED_FIXTURES
from sandbox.schemas import validate_adaptive_card
from sandbox.teams_fake import TeamsFake

FIXTURE = PUBLISHED_FIXTURES / "teams" / "workflows-webhook.adaptive-card-envelope.ms-connector-docs.json"


@pytest.fixture
async def teams() -> AsyncIterator[TeamsFake]:
    async with TeamsFake() as fake:
        yield fake


def envelope(card: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }


CARD = {
    "type": "AdaptiveCard",
    "version": "1.4",
    "body": [
        {"type": "TextBlock", "text": "Deployed api v1.4.2 to staging", "wrap": True},
        {"type": "FactSet", "facts": [{"title": "SHA", "value": "abc1234"}]},
    ],
    "actions": [{"type": "Action.OpenUrl", "title": "Run", "url": "https://github.com/acme/platform"}],
}


async def post(url: str, body: Any) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, data=json.dumps(body), headers={"Content-Type": "application/json"}) as r,
    ):
        return r.status, await r.text()


async def test_published_envelope_is_accepted(teams: TeamsFake) -> None:
    status, text = await post(teams.webhook_url("ops"), json.loads(FIXTURE.read_text()))
    assert (status, text) == (202, "")
    assert teams.cards("ops")[0]["type"] == "AdaptiveCard"


async def test_card_accepted_and_recorded(teams: TeamsFake) -> None:
    assert await post(teams.webhook_url("ops"), envelope(CARD)) == (202, "")
    assert teams.cards("ops") == [CARD] and validate_adaptive_card(CARD) == []


@pytest.mark.parametrize(
    "body",
    [
        {"type": "message", "attachments": []},
        {"type": "card", "attachments": envelope(CARD)["attachments"]},
        envelope({**CARD, "body": [{"type": "NoSuchElement"}]}),
        envelope({**CARD, "msteams": {"width": "Full"}}),  # not in the 1.4 schema
        {"type": "message", "attachments": [{"contentType": "text/plain", "content": CARD}]},
    ],
)
async def test_invalid_envelopes_rejected(teams: TeamsFake, body: dict[str, Any]) -> None:
    status, reason = await post(teams.webhook_url("ops"), body)
    assert status == 400 and reason
    assert teams.accepted() == [] and teams.posts[-1].reason == reason


async def test_too_large(teams: TeamsFake) -> None:
    big = {**CARD, "body": [{"type": "TextBlock", "text": "x" * 29_000}]}
    status, _ = await post(teams.webhook_url("ops"), envelope(big))
    assert status == 413


async def test_faults(teams: TeamsFake) -> None:
    teams.fail("ops", status=429, times=1, retry_after=3)
    async with aiohttp.ClientSession() as http:
        async with http.post(teams.webhook_url("ops"), json=envelope(CARD)) as r:
            assert r.status == 429 and r.headers["Retry-After"] == "3"
        async with http.post(teams.webhook_url("ops"), json=envelope(CARD)) as r:
            assert r.status == 202
    teams.down()
    assert (await post(teams.webhook_url("ops"), envelope(CARD)))[0] == 500
    teams.up()
    assert len(teams.accepted("ops")) == 1


async def test_legacy_connector_answers_1(teams: TeamsFake) -> None:
    card = {
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": "deploy",
        "text": "Deployed",
    }
    assert await post(teams.connector_url("legacy"), card) == (200, "1")
    assert (await post(teams.connector_url("legacy"), {"text": "no type"}))[0] == 400
