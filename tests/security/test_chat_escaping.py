"""Issue 12 item 7: untrusted text reaches Slack mrkdwn and Teams card markdown escaped, on every card kind.

End to end: a run on a branch named ``<!channel>`` (a valid git ref, e.g. a fork's pull request) started outside
the bot, delivered as a signed webhook; what the Slack and Teams fakes receive is escaped. Then every card
builder is walked with hostile strings in every untrusted field, through the real renderers.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from bot.alerts.cards import render_alert_card
from bot.alerts.model import GitHubContext, SecurityEvent, Severity
from bot.alerts.store_ops import Alert
from bot.deploys import cards
from bot.domain import Card, DeployRequest, Platform, RequestKind, RequestState
from bot.egress.slack import render_slack
from bot.egress.teams import render_messagecard, render_teams
from sandbox.schemas import validate_adaptive_card
from sandbox.stack import Stack, message_text, wait_for

BRANCH = "<!channel>"
HOSTILE = "<!channel> <https://evil.example|click> [click](https://evil.example) <@U0ADMIN> & <!here>"
# a Slack mention / link / special is "<" followed by one of these; none may reach Slack unescaped
SLACK_TOKEN = re.compile(r"<[!@#]|<https?:")
MD_LINK = re.compile(r"(?<!\\)\[[^\]]*(?<!\\)\]\(")


def slack_text(card: Card) -> str:
    fallback, blocks = render_slack(card)
    return fallback + "\n" + json.dumps(blocks)


async def test_branch_named_channel_is_not_a_mention(stack: Stack) -> None:
    stack.github.add_ref(BRANCH, kind="branch")
    await stack.github.start_run("api-ci.yml", BRANCH, event="push", actor="dev-gh")
    await wait_for(lambda: any("api" in message_text(m) for m in stack.card_messages("C0DEPLOYS")),
                   what="the run's card in #deploys")
    await wait_for(lambda: bool(stack.teams.cards("ops")), what="the run's card in Teams")
    await stack.github.wait_idle()
    posted = [c for c in stack.slack.calls if c.method in ("chat.postMessage", "chat.update")
              and c.args.get("channel") == "C0DEPLOYS"]
    assert posted
    for call in posted:
        raw = str(call.args.get("text", "")) + json.dumps(call.args.get("blocks", ""))
        assert "<!channel>" not in raw, raw
        assert "&lt;!channel&gt;" in raw
    for card in stack.teams.cards("ops"):
        assert validate_adaptive_card(card) == []
        assert "<!channel>" in json.dumps(card, ensure_ascii=False)  # shown literally: Teams has no such token


def hostile_request(kind: RequestKind, state: RequestState) -> DeployRequest:
    now = datetime(2024, 1, 1, tzinfo=UTC)
    return DeployRequest(
        id="r-abcd2345", kind=kind, service="api", environment="production", ref=HOSTILE, requester=HOSTILE,
        requester_platform=Platform.GITHUB, requester_id=HOSTILE, channel="", state=state, created_at=now,
        updated_at=now, workflow=HOSTILE, approvals_required=1, sha="0123456789abcdef", run_id=1,
        run_url="https://github.com/acme/platform/actions/runs/1", detail=HOSTILE, target_version=HOSTILE,
        jobs=((HOSTILE, "failure", HOSTILE),),
    )


def hostile_alert() -> Alert:
    e = SecurityEvent(
        event_id="e1", event_time=1.7e9, event_source=HOSTILE, event_name=HOSTILE, event_type="AwsApiCall",
        account=HOSTILE, region=HOSTILE, source_ip=HOSTILE, user_agent=HOSTILE, error_code=HOSTILE,
        error_message=HOSTILE, principal_arn=HOSTILE, principal_type=HOSTILE, session_issuer=HOSTILE,
        session_name=HOSTILE, mfa_used="no",
        github=GitHubContext(repository="acme/platform", ref=HOSTILE, run_id="7", subject=HOSTILE),
    )
    return Alert(id="a-abcdefgh", rule_id="r", title=HOSTILE, severity=Severity.CRITICAL, principal=HOSTILE,
                 account=HOSTILE, state="acknowledged", event_count=3, first_seen=1.7e9, last_seen=1.7e9,
                 actions=(HOSTILE,), regions=(HOSTILE,), source_ips=(HOSTILE,), sample=e, acked_by=HOSTILE,
                 assignee=HOSTILE)


def every_card() -> list[Card]:
    out: list[Card] = []
    for kind in RequestKind:
        for state in RequestState:
            out.append(cards.request_card(hostile_request(kind, state), [], repository="acme/platform",
                                          previous_sha="fedcba9876543210"))
    r = hostile_request(RequestKind.DEPLOY, RequestState.FAILED)
    out += [
        cards.failure_card(r, repository="acme/platform"),
        cards.notice(HOSTILE),
        cards.review_card(run_id=1, environment=HOSTILE, reviewers=[HOSTILE], html_url="https://github.com/x",
                          title=HOSTILE, head_sha="0123456789", requestor=HOSTILE),
        cards.rollback_alert_card(service=HOSTILE, environment=HOSTILE, description=HOSTILE, sha="0123456",
                                  creator=HOSTILE, log_url="https://github.com/x", state="failure"),
        render_alert_card(hostile_alert(), repository="acme/platform", mention="here"),
    ]
    return out


def test_every_card_kind_escapes_untrusted_text_for_slack() -> None:
    for card in every_card():
        text = slack_text(card)
        mention = "<!here>" if card.mention == "here" else ""
        stripped = text.replace(mention, "") if mention else text
        # the only Slack tokens are the bot's own links (card.links, https://github.com/...) and the route's mention
        tokens = [m.group(0) for m in re.finditer(r"<[^<>]*>", stripped)]
        assert all(t.startswith("<https://github.com/") for t in tokens), (card.kind, tokens)
        assert not SLACK_TOKEN.search(stripped.replace("<https://github.com/", "")), (card.kind, text)
        assert "&lt;!channel&gt;" in text, card.kind


def test_every_card_kind_escapes_untrusted_text_for_teams() -> None:
    for card in every_card():
        for interactive in (False, True):
            rendered = render_teams(card, interactive=interactive)
            assert validate_adaptive_card(rendered) == [], card.kind
            texts = _texts(rendered)
            assert not any(MD_LINK.search(t) for t in texts), (card.kind, texts)
            assert not any("](https://evil" in t.replace("\\]", "") for t in texts)
        legacy = json.dumps(render_messagecard(card))
        assert "<!channel>" not in legacy and "<https://evil" not in legacy, card.kind
        assert not MD_LINK.search(legacy), card.kind


def _texts(node: Any) -> list[str]:
    if isinstance(node, dict):
        out = [v for k, v in node.items() if k in ("text", "title", "value") and isinstance(v, str)]
        return out + [t for v in node.values() for t in _texts(v)]
    if isinstance(node, list):
        return [t for v in node for t in _texts(v)]
    return []
