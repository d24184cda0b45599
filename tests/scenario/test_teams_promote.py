"""Issue 25 item 1, Teams parity: a successful staging card in the Teams bot's deploys conversation offers
**Promote to production** (``Action.Execute``, verb ``promote``); a click by a deployer makes a new request for the
same commit through production's own policy, answered to the person who clicked; a click by someone unknown, a
repeat of the same activity, and a click on a card that cannot be promoted change nothing. Driven through the
composed app with Bot Framework-signed activities (sandbox.bot_framework_fake)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from bot.domain import DeployRequest, RequestState
from chatops.app import STORE
from sandbox.bot_framework_fake import BotFrameworkFake
from sandbox.schemas import validate_adaptive_card
from sandbox.stack import Stack, wait_for
from tests.scenario.test_github_flow import write_config
from tests.scenario.test_promotion import PRODUCTION, until

DEPLOYS = "19:deploys0123456789abcdef@thread.tacv2"
DEV_AAD = "3f2c9a1e-0000-4000-8000-00000000abcd"
STRANGER_AAD = "0a0b0c0d-0000-4000-8000-000000000bad"
REQ = re.compile(r"`(r-[a-z0-9]{8})`")


def current_card(bf: BotFrameworkFake, activity_id: str) -> dict[str, Any]:
    return bf.messages(DEPLOYS)[activity_id]["attachments"][0]["content"]  # type: ignore[no-any-return]


def verbs(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["verb"]: a for a in card.get("actions", []) if a.get("type") == "Action.Execute"}


async def requests(stack: Stack) -> list[DeployRequest]:
    assert stack.app is not None
    async with stack.app[STORE].unit() as u:
        rows = await u.c.fetch("SELECT id FROM requests ORDER BY created_at")
        return [r for r in [await u.get_request(str(row["id"])) for row in rows] if r is not None]


async def test_promote_to_production_from_a_teams_card(tmp_path: Path, sqlite_url: str) -> None:
    async with BotFrameworkFake() as bf:
        path = write_config(tmp_path, **{
            "teams.bot": {"deploys_conversation": DEPLOYS}, "environments.production": PRODUCTION,
            "people.dev": {"slack": "U0DEV", "github": "dev-gh", "teams": DEV_AAD}})
        async with Stack(database_url=sqlite_url, config_path=path, extra_env=bf.env()) as stack:
            status, _ = await bf.send(stack.url, bf.activity("conversationUpdate", user=DEV_AAD, conversation=DEPLOYS,
                                                             conversation_type="channel",
                                                             membersAdded=[{"id": f"28:{bf.app_id}"}]),
                                      token=bf.token())
            assert status in (200, 202)
            _, answer = await stack.command("U0DEV", "api v1.4.2 to staging")
            staged = REQ.search(answer["text"]).group(1)  # type: ignore[union-attr]
            done = await until(stack, staged, RequestState.SUCCEEDED)

            def staging_card() -> dict[str, Any] | None:
                posts = [c for c in bf.accepted(DEPLOYS) if c.kind == "post" and staged in json.dumps(c.body)]
                return current_card(bf, posts[0].activity_id) if posts else None

            await wait_for(lambda: (c := staging_card()) is not None and "promote" in verbs(c),
                           what="the Teams staging card's Promote button")
            card = staging_card()
            assert card is not None and validate_adaptive_card(card) == []
            button = verbs(card)["promote"]
            assert button["title"] == "Promote to production" and button["data"] == {"request_id": staged}

            # someone the config does not know: refused, nothing requested
            status, body = await bf.send(stack.url, bf.invoke("promote", staged, user=STRANGER_AAD,
                                                              conversation=DEPLOYS), token=bf.token())
            assert status == 200 and body["statusCode"] == 200 and "Not allowed" in body["value"]
            assert len(await requests(stack)) == 1

            # dev (a production deployer) clicks: a new request for the same commit, through production's policy
            click = bf.invoke("promote", staged, user=DEV_AAD, conversation=DEPLOYS)
            status, body = await bf.send(stack.url, click, token=bf.token())
            assert status == 200 and body["type"] == "application/vnd.microsoft.activity.message"
            assert "promotion of api v1.4.2" in body["value"] and "from staging to production" in body["value"]
            promoted = REQ.search(body["value"]).group(1)  # type: ignore[union-attr]
            r = await until(stack, promoted, RequestState.PENDING_APPROVAL)
            assert (r.environment, r.sha, r.promoted_from, r.requester) == ("production", done.sha, "staging", "dev")

            # Teams redelivers the same activity: no second request
            status, body = await bf.send(stack.url, click, token=bf.token())
            assert status == 200 and "Already received" in body["value"]
            assert [x.id for x in await requests(stack)] == [staged, promoted]

            # a card that cannot be promoted (the pending production request) answers why
            status, body = await bf.send(stack.url, bf.invoke("promote", promoted, user=DEV_AAD,
                                                              conversation=DEPLOYS), token=bf.token())
            assert status == 200 and "is not a successful deploy that can be promoted" in body["value"]
