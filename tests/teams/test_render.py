from __future__ import annotations

import json

import jsonschema
import pytest

from bot.domain import Card, Link, Reply
from bot.egress.teams import (
    ADAPTIVE_CONTENT_TYPE,
    CUT_MARKER,
    MAX_BYTES,
    envelope,
    envelope_size,
    render_messagecard,
    render_teams,
)
from sandbox.paths import PUBLISHED_FIXTURES
from tests.teams.conftest import CARDS, schema_errors

FIXTURE = PUBLISHED_FIXTURES / "teams" / "workflows-webhook.adaptive-card-envelope.ms-connector-docs.json"


@pytest.mark.parametrize("name", sorted(CARDS))
@pytest.mark.parametrize("interactive", [False, True])
def test_every_card_is_valid_adaptive_card_14_under_28kb(
    name: str, interactive: bool, card_validator: jsonschema.Draft6Validator
) -> None:
    rendered = render_teams(CARDS[name], interactive=interactive)
    assert schema_errors(card_validator, rendered) == []
    assert rendered["version"] == "1.4"
    assert envelope_size(rendered) <= MAX_BYTES
    assert len(json.dumps(envelope(rendered)).encode()) <= 28 * 1024


def test_envelope_matches_the_published_workflows_shape() -> None:
    published = json.loads(FIXTURE.read_text(encoding="utf-8"))
    ours = envelope(render_teams(CARDS["deploy-running"]))
    assert set(ours) == set(published)
    assert ours["type"] == published["type"] == "message"
    assert set(ours["attachments"][0]) == set(published["attachments"][0])
    assert ours["attachments"][0]["contentType"] == ADAPTIVE_CONTENT_TYPE
    assert ours["attachments"][0]["contentUrl"] is None


def test_the_published_example_card_validates_too(card_validator: jsonschema.Draft6Validator) -> None:
    published = json.loads(FIXTURE.read_text(encoding="utf-8"))
    assert schema_errors(card_validator, published["attachments"][0]["content"]) == []


def _texts(rendered: dict) -> str:
    return json.dumps(rendered, ensure_ascii=False)


def test_facts_tone_and_links_are_rendered() -> None:
    rendered = render_teams(CARDS["deploy-failed"])
    header = rendered["body"][0]
    assert header["type"] == "Container" and header["style"] == "attention"
    assert header["items"][1]["text"] == "failed" and header["items"][1]["color"] == "attention"
    facts = next(b for b in rendered["body"] if b["type"] == "FactSet")["facts"]
    assert {"title": "Branch", "value": "main"} in facts
    assert rendered["actions"] == [{"type": "Action.OpenUrl", "title": "Logs",
                                    "url": "https://github.com/acme/platform/actions/runs/42"}]
    assert "@here" in _texts(rendered)


def test_webhook_cards_have_no_submit_or_execute_buttons_but_say_what_to_do() -> None:
    rendered = render_teams(CARDS["approval"])
    types = {a["type"] for a in rendered.get("actions", [])}
    assert types == {"Action.OpenUrl"}
    text = _texts(rendered)
    assert "`approve r-abcd2345`" in text and "`reject r-abcd2345`" in text


def test_bot_cards_carry_action_execute_with_verb_and_request_id() -> None:
    rendered = render_teams(CARDS["approval"], interactive=True)
    execute = [a for a in rendered["actions"] if a["type"] == "Action.Execute"]
    assert [(a["verb"], a["data"], a["style"]) for a in execute] == [
        ("approve", {"request_id": "r-abcd2345"}, "positive"),
        ("reject", {"request_id": "r-abcd2345"}, "destructive"),
    ]


def test_slack_mentions_become_plain_names() -> None:
    text = _texts(render_teams(CARDS["rollback"]))
    assert "@U0LEAD" in text and "<@" not in text


def test_long_text_is_cut_with_a_marker_and_keeps_the_facts() -> None:
    card = CARDS["security-long"]
    rendered = render_teams(card)
    text = _texts(rendered)
    assert CUT_MARKER.strip() in text
    assert text.count("Detail ") == len(card.facts)
    assert rendered["body"][0]["items"][0]["text"] == card.title


def test_too_many_facts_are_dropped_with_a_count() -> None:
    rendered = render_teams(CARDS["security-many-facts"])
    facts = next(b for b in rendered["body"] if b["type"] == "FactSet")["facts"]
    assert facts[-1]["title"] == "…" and "more (cut)" in facts[-1]["value"]
    assert len(facts) < 41


def test_an_empty_card_is_still_valid(card_validator: jsonschema.Draft6Validator) -> None:
    rendered = render_teams(Card(kind="info", title=""))
    assert schema_errors(card_validator, rendered) == []


def test_messagecard_is_built_with_pymsteams() -> None:
    payload = render_messagecard(CARDS["approval"])
    assert payload["@type"] == "MessageCard"
    assert payload["title"].startswith("Approval needed") and payload["themeColor"] == "DAA038"
    assert {"name": "Service", "value": "api"} in payload["sections"][0]["facts"]
    assert "`approve r-abcd2345`" in payload["text"]
    assert payload["potentialAction"][0]["@type"] == "ViewAction"


def test_card_text_is_plain_text_in_teams() -> None:
    """Card fields are plain (untrusted) text: Slack-looking markup in them is not turned into Teams links
    (issue 12 item 7); the bot's own links come from ``Card.links`` as ``Action.OpenUrl``."""
    from bot.domain import Card, Fact, Link
    from bot.egress.teams import render_teams

    card = Card(kind="deployment", title="Deploy *api*", text="needs approval in <#C0APPROVALS>",
                facts=(Fact("Ref", "v1.4.2 @ <https://evil.example/|abc1234> [x](https://evil.example/)"),),
                links=(Link("Commit abc1234", "https://github.com/acme/platform/commit/abc"),))
    rendered = render_teams(card)
    dumped = json.dumps(rendered)
    assert "[abc1234](" not in dumped and "\\\\[x\\\\](https://evil.example/)" in dumped
    assert {"type": "Action.OpenUrl", "title": "Commit abc1234",
            "url": "https://github.com/acme/platform/commit/abc"} in rendered["actions"]
    assert "**api**" in dumped


def test_chat_answers_read_naturally_in_teams() -> None:
    from bot.egress.teams import teams_text

    text = teams_text(Reply(":rocket: Request `r-abcd2345`: needs 1 approval(s), in", channel="C0APPROVALS"))
    assert text == "🚀 Request `r-abcd2345`: needs 1 approval(s), in #C0APPROVALS"
    # a reply's text is untrusted: a Slack-style link or a Markdown link in it stays text
    shown = teams_text(Reply("locked (<https://evil|Approve> [Approve](https://evil))"))
    assert shown == "locked (&lt;https://evil|Approve&gt; \\[Approve\\](https://evil))"
    linked = teams_text(Reply("Sign in:", links=(Link("link [me]", "https://github.com/x?a=(1)"),)))
    assert linked == "Sign in: [link \\[me\\]](https://github.com/x?a=%281%29)"
