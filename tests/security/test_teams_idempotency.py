"""Issue 12 item 6: a Teams text command delivered twice (same activity id, same token) has one effect."""

from __future__ import annotations

import asyncio

from tests.scenario.test_teams_bot import DEV_AAD, DEV_CHAT, World
from tests.scenario.test_teams_bot import world as world  # the fixture


async def test_the_same_activity_twice_makes_one_request(world: World) -> None:
    w = world
    activity = w.bf.activity(user=DEV_AAD, conversation=DEV_CHAT, text="deploy api v1.4.2 to staging")
    token = w.bf.token()
    for _ in range(2):  # Teams (or an attacker replaying a captured activity + token) sends it again
        status, _ = await w.bf.send(w.stack.url, activity, token=token)
        assert status in (200, 202)
    await asyncio.sleep(0.5)
    assert len(await w.rows("SELECT id FROM requests")) == 1
    assert len(w.stack.github.dispatches) <= 1
    # another activity (a new id) in the same chat is a new command
    again = w.bf.activity(user=DEV_AAD, conversation=DEV_CHAT, text="deploy api v1.4.2 to staging")
    status, _ = await w.bf.send(w.stack.url, again, token=token)
    assert status in (200, 202)
    assert len(await w.rows("SELECT id FROM requests")) == 2
