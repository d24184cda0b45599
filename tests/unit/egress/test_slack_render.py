"""Slack egress: Block Kit rendering stays within Slack's limits; SlackSender against the Slack fake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.deploys import cards
from bot.domain import (
    Approval,
    Button,
    Card,
    DeployRequest,
    Destination,
    Fact,
    Link,
    Op,
    OutboundMessage,
    Platform,
    RequestKind,
    RequestState,
)
from bot.egress.slack import SlackSender, render_slack
from bot.errors import DeliveryError
from sandbox.slack_blocks import validate_blocks
from sandbox.slack_fake import SlackFake

HUGE = "x" * 50_000
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def req(state: RequestState, **kw: Any) -> DeployRequest:
    fields: dict[str, Any] = {
        "id": "r-abcd2345", "kind": RequestKind.DEPLOY, "service": "api", "environment": "production",
        "ref": "v1.4.2", "requester": "dev", "requester_platform": Platform.SLACK, "requester_id": "U0DEV",
        "channel": "C0DEPLOYS", "state": state, "created_at": NOW, "workflow": "api-ci.yml",
        "approvals_required": 1, "expires_at": NOW + timedelta(hours=2), "sha": "a" * 40,
        "updated_at": NOW + timedelta(minutes=3),
    }
    fields.update(kw)
    return DeployRequest(**fields)


def representative_cards() -> list[Card]:
    approvals = [Approval("r-abcd2345", "lead", Platform.SLACK, "U0LEAD", "approve", "", NOW)]
    out = [cards.request_card(req(s), approvals, repository="acme/platform") for s in RequestState]
    out.append(cards.request_card(req(RequestState.FAILED, run_url="https://github.com/acme/platform/actions/runs/1",
                                      detail="job build failed", jobs=(("build", "failure", "pytest"),
                                                                         ("test", "skipped", ""))),
                                  [], repository="acme/platform", previous_sha="b" * 40))
    out.append(cards.request_card(req(RequestState.SUCCEEDED, kind=RequestKind.ROLLBACK, target_version="v1.4.1"),
                                  [], repository="acme/platform"))
    out.append(cards.notice("Deployed api v1.4.2 to staging"))
    out.append(Card(kind="failure", title="api-ci failed on main", tone="danger", mention="here"))
    return out


def huge_cards() -> list[Card]:
    many_buttons = tuple(Button(f"act-{i}-{HUGE[:300]}", HUGE, HUGE, "primary") for i in range(40))
    return [
        Card(
            kind="security", title=HUGE, status=HUGE, tone="danger", text=HUGE,
            facts=tuple(Fact(HUGE, HUGE) for _ in range(40)),
            buttons=many_buttons,
            links=tuple(Link(HUGE, "https://example.com/" + HUGE) for _ in range(30)),
            footer=HUGE, mention=HUGE,
        ),
        Card(kind="info", title=HUGE, mention="channel"),
        cards.request_card(req(RequestState.PENDING_APPROVAL, service=HUGE[:5000], ref=HUGE[:255], detail=HUGE,
                               requester=HUGE[:3000], jobs=tuple((HUGE[:500], "failure", HUGE[:300])
                                                                 for _ in range(100))),
                           [Approval("r-abcd2345", f"p{i}" * 300, Platform.SLACK, "U", "approve", "", NOW)
                            for i in range(50)],
                           repository="acme/platform"),
        # buttons that share an action_id (e.g. two links to runs): Slack rejects duplicate action_ids
        Card(kind="deployment", title="t", buttons=(Button("open", "Run 1", "1"), Button("open", "Run 2", "2"))),
        # action_ids that differ only beyond Slack's 255-character limit
        Card(kind="deployment", title="t", buttons=tuple(Button("a" * 300 + str(i), "b", "v") for i in range(3))),
    ]


def check_limits(text: str, blocks: list[dict[str, Any]]) -> None:
    assert 0 < len(text) <= 3000
    assert 1 <= len(blocks) <= 50
    action_ids: list[str] = []
    for block in blocks:
        if block["type"] == "section":
            if "text" in block:
                assert 0 < len(block["text"]["text"]) <= 3000
            fields = block.get("fields", [])
            assert len(fields) <= 10
            assert all(0 < len(f["text"]) <= 2000 for f in fields)
        elif block["type"] == "actions":
            assert 1 <= len(block["elements"]) <= 25
            for el in block["elements"]:
                assert 0 < len(el["text"]["text"]) <= 75
                assert len(el["value"]) <= 2000
                assert len(el["action_id"]) <= 255
                action_ids.append(el["action_id"])
        elif block["type"] == "context":
            assert 1 <= len(block["elements"]) <= 10
            assert all(0 < len(e["text"]) <= 3000 for e in block["elements"])
    assert len(action_ids) == len(set(action_ids)), f"duplicate action_ids: {action_ids}"
    validate_blocks(blocks)  # the fake's full Block Kit check


@pytest.mark.parametrize("card", representative_cards(), ids=lambda c: f"{c.kind}-{c.status or c.title[:20]}")
def test_representative_cards_render_within_limits(card: Card) -> None:
    text, blocks = render_slack(card)
    check_limits(text, blocks)
    assert card.title[:50] in blocks[0]["text"]["text"]


@pytest.mark.parametrize(
    "card", huge_cards(), ids=["everything-huge", "huge-notice", "huge-request", "dup-actions", "long-actions"]
)
def test_huge_cards_stay_within_block_kit_limits(card: Card) -> None:
    text, blocks = render_slack(card)
    check_limits(text, blocks)


def test_approval_card_has_approve_and_reject_buttons() -> None:
    card = cards.request_card(req(RequestState.PENDING_APPROVAL), [], repository="acme/platform")
    _, blocks = render_slack(card)
    (actions,) = [b for b in blocks if b["type"] == "actions"]
    assert [(e["action_id"], e["value"], e.get("style")) for e in actions["elements"]] == [
        ("approve", "r-abcd2345", "primary"), ("reject", "r-abcd2345", "danger")
    ]


def test_mentions_and_unsafe_links() -> None:
    text, blocks = render_slack(Card(kind="failure", title="boom", mention="here",
                                     links=(Link("bad", "javascript:alert(1)"), Link("run", "https://x/run"))))
    assert text.startswith("<!here> ")
    assert blocks[0]["text"]["text"].startswith("<!here> ")
    context = next(b for b in blocks if b["type"] == "context")
    assert [e["text"] for e in context["elements"]] == ["<https://x/run|run>"]


# ------------------------------------------------------------------------------------------ SlackSender


@pytest.fixture
async def fake() -> AsyncIterator[SlackFake]:
    async with SlackFake(known_channels={"C0DEPLOYS", "C0APPROVALS"}) as f:
        yield f


@pytest.fixture
def sender(fake: SlackFake) -> SlackSender:
    return SlackSender(AsyncWebClient(token=fake.token, base_url=f"{fake.url}/api/"))


def out(op: Op, *, channel: str = "C0DEPLOYS", card: Card | None = None, user: str = "",
        card_key: str = "req:r-abcd2345") -> OutboundMessage:
    return OutboundMessage(key="k", destination=Destination(Platform.SLACK, channel, user), op=op,
                           card=card or Card(kind="deployment", title="Deploy api v1 → staging", status="queued"),
                           card_key=card_key)


async def test_card_is_posted_then_updated_in_place(fake: SlackFake, sender: SlackSender) -> None:
    ts = await sender.send(out(Op.CARD), ref=None)
    assert ts is not None
    (post,) = fake.posts("C0DEPLOYS")
    assert post.response["ts"] == ts and "Deploy api v1" in post.args["text"]
    again = await sender.send(out(Op.CARD, card=Card(kind="deployment", title="Deploy api v1 → staging",
                                                     status="succeeded", tone="good")), ref=ts)
    assert again == ts
    (update,) = fake.updates("C0DEPLOYS", ts)
    assert "succeeded" in update.args["text"]
    assert len(fake.posts()) == 1
    assert fake.messages[("C0DEPLOYS", ts)].edits == 1


async def test_thread_reply_and_ephemeral(fake: SlackFake, sender: SlackSender) -> None:
    ts = await sender.send(out(Op.CARD), ref=None)
    assert await sender.send(out(Op.POST, card=cards.notice("run started")), ref=ts) is None
    assert [m.text for m in fake.thread("C0DEPLOYS", ts)] == ["run started"]
    assert await sender.send(out(Op.EPHEMERAL, user="U0DEV", card=cards.notice("only you")), ref=None) is None
    (eph,) = fake.ephemerals("U0DEV")
    assert eph.args["channel"] == "C0DEPLOYS" and eph.args["text"] == "only you"


async def test_rate_limit_is_transient_with_retry_after(fake: SlackFake, sender: SlackSender) -> None:
    fake.fail("chat.postMessage", 429, retry_after=7)
    with pytest.raises(DeliveryError) as err:
        await sender.send(out(Op.CARD), ref=None)
    assert err.value.transient is True
    assert err.value.retry_after == 7
    assert await sender.send(out(Op.CARD), ref=None)  # the next call goes through


async def test_server_error_is_transient(fake: SlackFake, sender: SlackSender) -> None:
    fake.fail("chat.update", 503)
    ts = await sender.send(out(Op.CARD), ref=None)
    with pytest.raises(DeliveryError) as err:
        await sender.send(out(Op.CARD), ref=ts)
    assert err.value.transient is True and err.value.retry_after is None


@pytest.mark.parametrize(("channel", "ref"), [("C0UNKNOWN", None), ("C0DEPLOYS", "1.000001")])
async def test_refusals_are_permanent(sender: SlackSender, channel: str, ref: str | None) -> None:
    # channel_not_found for an unknown channel; message_not_found for an update of a message that is gone
    with pytest.raises(DeliveryError) as err:
        await sender.send(out(Op.CARD, channel=channel), ref=ref)
    assert err.value.transient is False


async def test_bad_token_is_permanent(fake: SlackFake) -> None:
    s = SlackSender(AsyncWebClient(token="xoxb-wrong", base_url=f"{fake.url}/api/"))
    with pytest.raises(DeliveryError) as err:
        await s.send(out(Op.CARD), ref=None)
    assert err.value.transient is False


async def test_unreachable_is_transient() -> None:
    async with SlackFake() as gone:
        url = gone.url
    s = SlackSender(AsyncWebClient(token="xoxb-test-token", base_url=f"{url}/api/", timeout=2))
    with pytest.raises(DeliveryError) as err:
        await s.send(out(Op.CARD), ref=None)
    assert err.value.transient is True


async def test_respond_through_response_url(fake: SlackFake, sender: SlackSender) -> None:
    url = fake.response_url("cmd-1")
    assert await sender.send(out(Op.RESPOND, channel=url, card=cards.notice("Deploy queued")), ref=None) is None
    (body,) = fake.responses("cmd-1")
    assert body["text"] == "Deploy queued" and body["response_type"] == "ephemeral"
    assert body["blocks"][0]["text"]["text"] == "Deploy queued"
    assert fake.posts() == []


async def test_respond_failures(fake: SlackFake, sender: SlackSender) -> None:
    url = fake.response_url("cmd-2")
    fake.fail("response", 500)
    with pytest.raises(DeliveryError) as err:
        await sender.send(out(Op.RESPOND, channel=url, card=cards.notice("x")), ref=None)
    assert err.value.transient is True
    fake.fail("response", 404)
    with pytest.raises(DeliveryError) as err:
        await sender.send(out(Op.RESPOND, channel=url, card=cards.notice("x")), ref=None)
    assert err.value.transient is False
    assert fake.responses("cmd-2") == []


def test_every_fact_is_shown_even_past_ten() -> None:
    card = Card(kind="security", title="t", facts=tuple(Fact(f"label{i}", f"value{i}") for i in range(14)))
    _, blocks = render_slack(card)
    shown = [f["text"] for b in blocks if b["type"] == "section" for f in b.get("fields", [])]
    assert len(shown) == 14 and "value13" in shown[-1]
    assert all(len(b.get("fields", [])) <= 10 for b in blocks)
