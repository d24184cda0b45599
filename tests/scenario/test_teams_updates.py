"""Issue 16, item 2: Teams without noise. A Workflows webhook cannot edit a card, so by default it gets one card
per deployment; ``updates: all`` keeps every state change; the Teams bot's ``deploys_conversation`` gets the card
edited in place, like Slack."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

from sandbox.bot_framework_fake import BotFrameworkFake
from sandbox.stack import Stack, message_text, wait_for
from tests.scenario.test_github_flow import write_config

REQ = re.compile(r"`(r-[a-z0-9]{8})`")
DEPLOYS = "19:deploys0123456789abcdef@thread.tacv2"


def status_of(card: dict[str, Any]) -> str:
    return json.dumps(card, ensure_ascii=False)


async def staging_deploy(stack: Stack) -> str:
    """received -> approved -> dispatched -> running -> succeeded: four state changes after the request."""
    _, answer = await stack.command("U0DEV", "api v1.4.2 to staging")
    rid = REQ.search(answer["text"])
    assert rid
    await wait_for(lambda: any("succeeded" in message_text(m) for m in stack.card_messages("C0DEPLOYS")),
                   what="slack card shows success")
    return rid.group(1)


async def test_one_webhook_card_per_deployment_by_default(stack: Stack) -> None:
    rid = await staging_deploy(stack)
    await wait_for(lambda: any("succeeded" in status_of(c) for c in stack.teams.cards("ops")), what="teams card")
    await asyncio.sleep(0.5)  # nothing more arrives later
    cards = [c for c in stack.teams.cards("ops") if rid in status_of(c)]
    assert len(cards) == 1, [status_of(c)[:200] for c in cards]
    assert "succeeded" in status_of(cards[0])
    assert stack.card_messages("C0DEPLOYS")[0].edits >= 3, "Slack still sees every change, in place"


async def test_updates_all_posts_every_state_change(tmp_path: Path, sqlite_url: str) -> None:
    path = write_config(tmp_path, **{"teams.webhooks": {"ops": {"url_env": "TEAMS_OPS_WEBHOOK_URL",
                                                                "updates": "all"}}})
    async with Stack(database_url=sqlite_url, config_path=path) as stack:
        rid = await staging_deploy(stack)
        await wait_for(lambda: any("succeeded" in status_of(c) for c in stack.teams.cards("ops")), what="final")
        await asyncio.sleep(0.3)
        cards = [c for c in stack.teams.cards("ops") if rid in status_of(c)]
        assert len(cards) >= 4, len(cards)  # requested/queued/in progress/succeeded (unchanged states coalesce)


async def test_failure_and_approval_go_to_a_webhook_at_once(stack: Stack) -> None:
    _, answer = await stack.command("U0DEV", "api v1.4.2 to production")
    rid = REQ.search(answer["text"])
    assert rid
    await wait_for(lambda: any(rid.group(1) in status_of(c) and "waiting for approval" in status_of(c)
                               for c in stack.teams.cards("ops")), what="approval card on teams")
    assert len([c for c in stack.teams.cards("ops") if rid.group(1) in status_of(c)]) == 1


async def test_bad_updates_value_is_refused_by_the_config_check(tmp_path: Path) -> None:
    import pytest

    from bot.config import load_config
    from bot.delivery.settings import delivery_settings
    from bot.errors import ConfigError

    path = write_config(tmp_path, **{"teams.webhooks": {"ops": {"url_env": "TEAMS_OPS_WEBHOOK_URL",
                                                                "updates": "sometimes"}}})
    config = load_config(path, env={"TEAMS_OPS_WEBHOOK_URL": "https://example.invalid/x",
                                    "TEAMS_APP_ID": ""})
    with pytest.raises(ConfigError) as exc:
        delivery_settings(config)
    assert exc.value.problems == ["teams.webhooks.ops.updates: 'sometimes' is not one of final, all"]


async def test_teams_bot_deploys_conversation_edits_one_card_in_place(tmp_path: Path, sqlite_url: str) -> None:
    async with BotFrameworkFake() as bf:
        path = write_config(tmp_path, **{"teams.bot": {"deploys_conversation": DEPLOYS}})
        async with Stack(database_url=sqlite_url, config_path=path, extra_env=bf.env()) as stack:
            status, _ = await bf.send(stack.url, bf.activity("conversationUpdate", user="x", conversation=DEPLOYS,
                                                             conversation_type="channel",
                                                             membersAdded=[{"id": f"28:{bf.app_id}"}]),
                                      token=bf.token())
            assert status in (200, 202)
            rid = await staging_deploy(stack)

            def calls(kind: str) -> list[Any]:
                return [c for c in bf.accepted(DEPLOYS) if c.kind == kind and rid in json.dumps(c.body)]

            await wait_for(lambda: any("succeeded" in json.dumps(c.body) for c in calls("update")),
                           what="card edited to success")
            posts = calls("post")
            assert len(posts) == 1
            assert {c.activity_id for c in calls("update")} == {posts[0].activity_id}


async def test_updates_all_keeps_every_state_when_the_webhook_lags(tmp_path: Path, sqlite_url: str) -> None:
    """A webhook cannot edit a card, so with `updates: all` every state is its own post: when the channel's rate
    limit holds them back, none is superseded by a newer one (an editable card keeps only its newest state). CI
    under load lost states this way; here the channel interval makes the wait certain."""
    path = write_config(tmp_path, **{"teams.webhooks": {"ops": {"url_env": "TEAMS_OPS_WEBHOOK_URL",
                                                                "updates": "all"}}})
    async with Stack(database_url=sqlite_url, config_path=path,
                     extra_env={"CHATOPS_CHANNEL_INTERVAL": "1.5"}) as stack:
        rid = await staging_deploy(stack)
        await wait_for(lambda: any("succeeded" in status_of(c) for c in stack.teams.cards("ops")), what="final",
                       timeout=30)
        cards = [c for c in stack.teams.cards("ops") if rid in status_of(c)]
        assert len(cards) >= 4, [status_of(c)[:80] for c in cards]
