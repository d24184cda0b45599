"""Slack egress: render a Card as Block Kit and deliver it with slack_sdk."""

from __future__ import annotations

import logging
import re
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.domain import Card, Op, OutboundMessage, Reply
from bot.errors import DeliveryError

log = logging.getLogger(__name__)

_TONE = {"good": ":white_check_mark:", "danger": ":red_circle:", "warning": ":hourglass_flowing_sand:",
         "neutral": ":large_blue_circle:"}
_PERMANENT = {"channel_not_found", "not_in_channel", "invalid_blocks", "msg_too_long", "invalid_auth",
              "not_authed", "account_inactive", "message_not_found", "cant_update_message", "is_archived",
              "user_not_in_channel", "no_text", "invalid_arguments", "token_revoked"}


def escape_mrkdwn(text: str) -> str:
    """Slack's surface escape: ``&``, ``<``, ``>`` as entities, so untrusted text can never form a mention
    (``<!channel>``, ``<@U…>``), a channel link or a link with a misleading label (``<https://evil|click>``).
    Every card field goes through it; the bot's own links and the route's mention are added after, as markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _link(url: str, label: str) -> str:
    """``<url|label>`` for one of the card's own links: the label escaped, the URL unable to end the token."""
    safe = "".join(f"%{ord(ch):02X}" if ch in "<>| " or ord(ch) < 0x20 else ch for ch in url)
    return f"<{safe}|{escape_mrkdwn(label)}>"


_CHANNEL_ID = re.compile(r"[A-Z0-9]{1,40}")


def render_reply_text(reply: Reply) -> str:
    """A reply (slash-command answer, click answer) as Slack mrkdwn: its text escaped like every card field (a
    lock reason ``<https://evil|Approve>`` shows as text), then the bot's own channel link and links as markup."""
    parts = [escape_mrkdwn(reply.text)]
    if reply.channel:
        parts.append(f"<#{reply.channel}>" if _CHANNEL_ID.fullmatch(reply.channel) else escape_mrkdwn(reply.channel))
    parts.extend(_link(lk.url, lk.label) for lk in reply.links)
    return " ".join(parts)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mention(card: Card) -> str:
    if card.mention in ("here", "channel"):
        return f"<!{card.mention}> "
    return f"{card.mention} " if card.mention else ""


def render_slack(card: Card) -> tuple[str, list[dict[str, Any]]]:
    """Return (fallback text, blocks) within Block Kit limits. Card text is plain (untrusted) text: it is
    escaped here; only ``card.mention`` (from the config's routes) and ``card.links`` become Slack markup."""
    esc = escape_mrkdwn
    if card.kind == "info":  # a plain notice: just the words
        text = _cut(f"{_mention(card)}{esc(card.title)}", 3000)
        return text, [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    icon = _TONE.get(card.tone, _TONE["neutral"])
    status = f" · *{esc(card.status)}*" if card.status else ""
    headline = _cut(f"{_mention(card)}{icon} *{esc(card.title)}*{status}", 3000)
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": headline}}]
    for start in range(0, min(len(card.facts), 30), 10):  # a section holds at most 10 fields
        fields = [{"type": "mrkdwn", "text": _cut(f"*{esc(f.label)}*\n{esc(f.value)}", 2000)}
                  for f in card.facts[start:start + 10]]
        blocks.append({"type": "section", "fields": fields})
    if card.text:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _cut(esc(card.text), 3000)}})
    if card.buttons:
        elements = []
        seen: set[str] = set()
        for b in card.buttons[:25]:
            action_id = _cut(b.action_id, 255)
            if action_id in seen:  # action_ids must be unique within a message
                continue
            seen.add(action_id)
            el: dict[str, Any] = {
                "type": "button",
                "action_id": action_id,
                "text": {"type": "plain_text", "text": _cut(b.label, 75)},
                "value": _cut(b.value, 2000),
            }
            if b.style in ("primary", "danger"):
                el["style"] = b.style
            elements.append(el)
        blocks.append({"type": "actions", "elements": elements})
    context = [_link(lk.url, lk.label) for lk in card.links if lk.url.startswith(("https://", "http://"))]
    if card.footer:
        context.append(esc(card.footer))
    if context:
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": _cut(c, 2000)} for c in context[:10]
        ]})
    fallback = _cut(f"{_mention(card)}{esc(card.title)}{' - ' + esc(card.status) if card.status else ''}", 3000)
    return fallback, blocks


class SlackSender:
    """Implements bot.egress.Sender for Slack."""

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client

    async def send(self, message: OutboundMessage, *, ref: str | None) -> str | None:
        text, blocks = render_slack(message.card)
        dest = message.destination
        try:
            if message.op is Op.RESPOND:
                hook = AsyncWebhookClient(dest.address, timeout=10)
                hook_resp = await hook.send(text=text, blocks=blocks, response_type="ephemeral")
                if hook_resp.status_code >= 500 or hook_resp.status_code == 429:
                    raise DeliveryError(f"response_url answered {hook_resp.status_code}", transient=True)
                if hook_resp.status_code >= 400:
                    raise DeliveryError(f"response_url answered {hook_resp.status_code}", transient=False)
                return None
            if message.op is Op.EPHEMERAL:
                await self._client.chat_postEphemeral(channel=dest.address, user=dest.user, text=text,
                                                      blocks=blocks)
                return None
            if message.op is Op.CARD and ref:
                await self._client.chat_update(channel=dest.address, ts=ref, text=text, blocks=blocks)
                return ref
            thread = ref if message.op is Op.POST and ref else None
            resp = await self._client.chat_postMessage(channel=dest.address, text=text, blocks=blocks,
                                                       thread_ts=thread, unfurl_links=False)
            return str(resp["ts"]) if message.op is Op.CARD else None
        except SlackApiError as exc:
            status = exc.response.status_code
            error = str(exc.response.get("error", "")) if exc.response.data else ""
            if status == 429:
                retry = float(exc.response.headers.get("Retry-After", exc.response.headers.get("retry-after", 1)))
                raise DeliveryError("slack rate limited", transient=True, retry_after=retry) from exc
            transient = status >= 500 or error not in _PERMANENT
            raise DeliveryError(f"slack answered {status} {error}", transient=transient) from exc
        except (SlackClientError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise DeliveryError(f"slack unreachable: {type(exc).__name__}", transient=True) from exc
