"""Issue 22 item 5: untrusted text in replies (here a lock reason shown by ``/deploy status``) reaches Slack and
Teams escaped exactly as card fields are, through the real app: a Slack command over signed HTTP, a Teams message
through the Bot Framework fake (a signed activity in, the bot's reply recorded by the connector)."""

from __future__ import annotations

import re

from tests.scenario.test_teams_bot import DEV_AAD, DEV_CHAT, World, world  # noqa: F401 - the fixture

REASON = "<https://evil.example|Approve r-abcd2345> [Approve](https://evil.example) <!channel> <@U0LEAD>"
SLACK_TOKEN = re.compile(r"<[!@#]|<https?:")  # a Slack mention, special or link
MD_LINK = re.compile(r"(?<!\\)\[[^\]]*(?<!\\)\]\(")  # a Markdown link whose brackets are not escaped


async def test_lock_reason_in_deploy_status_is_escaped_on_slack_and_teams(world: World) -> None:  # noqa: F811
    w = world
    _, locked = await w.stack.command("U0DEV", f"lock staging {REASON}")
    assert locked["text"].startswith(":lock:"), locked

    _, status = await w.stack.command("U0DEV", "status api")
    shown = status["text"] + str(status.get("blocks"))
    assert "locked by" in status["text"]
    assert not SLACK_TOKEN.search(shown), shown
    assert "&lt;https://evil.example|Approve r-abcd2345&gt;" in status["text"]
    assert "&lt;!channel&gt; &lt;@U0LEAD&gt;" in status["text"]

    code, _ = await w.send(w.bf.activity(user=DEV_AAD, conversation=DEV_CHAT, text="deploy status api"))
    assert code in (200, 202)
    (reply,) = [c for c in w.bf.accepted(DEV_CHAT) if c.kind in ("reply", "post")]
    text = reply.body.get("text", "")
    assert "locked by" in text
    assert not MD_LINK.search(text), text
    assert "<https://" not in text and "<!channel>" not in text and "<a " not in text
    assert "\\[Approve\\](https://evil.example)" in text


async def test_the_bots_own_channel_link_is_still_markup(world: World) -> None:  # noqa: F811
    _, answer = await world.stack.command("U0DEV", "api v1.4.2 to production")
    assert re.search(r"approval\(s\), in <#C0[A-Z0-9]+>$", answer["text"]), answer["text"]
