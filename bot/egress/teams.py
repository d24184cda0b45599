"""Microsoft Teams egress: render Cards as Adaptive Cards 1.4 (or legacy MessageCards) and post them to
Workflows webhooks.

Workflows webhooks ("When a Teams webhook request is received") take an Adaptive Card in a message envelope,
answer 202 and render no interactive buttons, so a webhook card shows what a button would do as text and
links as ``Action.OpenUrl``. The bot (``bot.egress.teams_bot``) renders the same card with
``interactive=True`` to get ``Action.Execute`` buttons.

Updating in place: a webhook post cannot be edited later. For ``Op.CARD`` the sender posts the first time,
then posts again only when the card's ``status`` changed since the last post (a progress card going from
"running" to "succeeded" is news; a new fact on a running card is not). The ref it returns encodes the last
posted status (``teams-webhook:<status>``) so the outbox stores it like a Slack ``ts``.
"""

from __future__ import annotations

import copy
import html
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import pymsteams

from bot.domain import TEAMS_BOT_PREFIX, Card, Fact, Op, OutboundMessage, Reply
from bot.egress import Sender
from bot.errors import DeliveryError

log = logging.getLogger(__name__)

ADAPTIVE_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
MAX_BYTES = 28_000  # Teams refuses messages over ~28 KB; measured on the whole JSON envelope as sent
CUT_MARKER = "\n\n… (cut: message too long for Teams)"
REF_PREFIX = "teams-webhook:"

_CONTAINER_STYLE = {"good": "good", "warning": "warning", "danger": "attention", "neutral": "emphasis"}
_TEXT_COLOR = {"good": "good", "warning": "warning", "danger": "attention", "neutral": "accent"}
_THEME_COLOR = {"good": "2EB886", "warning": "DAA038", "danger": "E81123", "neutral": "0078D7"}
_SLACK_MENTION = re.compile(r"<[@!]([^>|]+)(?:\|[^>]*)?>")
_FIELD_MAX = 2_000  # one fact value or title; text gets what is left


def _mention_text(mention: str) -> str:
    if not mention:
        return ""
    if mention in ("here", "channel"):
        return f"📣 @{mention}"
    # Slack-style "<@U123>" tokens mean nothing in Teams: show the bare names.
    return "📣 " + _SLACK_MENTION.sub(lambda m: "@" + m.group(1), mention)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - len(CUT_MARKER))] + CUT_MARKER


def _is_url(value: str) -> bool:
    return value.startswith(("https://", "http://"))


def _render(card: Card, *, interactive: bool, text: str, facts: int) -> dict[str, Any]:
    tone = card.tone if card.tone in _CONTAINER_STYLE else "neutral"
    header: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": _clip(card.title, _FIELD_MAX) or card.kind, "weight": "Bolder",
         "size": "Medium", "wrap": True},
    ]
    if card.status:
        header.append({"type": "TextBlock", "text": _clip(card.status, 200), "weight": "Bolder",
                       "color": _TEXT_COLOR[tone], "spacing": "None", "wrap": True})
    body: list[dict[str, Any]] = [
        {"type": "Container", "style": _CONTAINER_STYLE[tone], "bleed": True, "items": header},
    ]
    if card.mention:
        body.append({"type": "TextBlock", "text": _mention_text(card.mention), "wrap": True})
    if text:
        body.append({"type": "TextBlock", "text": text, "wrap": True})
    shown = card.facts[:facts]
    if shown:
        fact_items = [{"title": _clip(f.label, 200), "value": _clip(f.value, _FIELD_MAX) or "-"}
                      for f in shown]
        if len(card.facts) > len(shown):
            fact_items.append({"title": "…", "value": f"{len(card.facts) - len(shown)} more (cut)"})
        body.append({"type": "FactSet", "facts": fact_items})
    actions: list[dict[str, Any]] = []
    hints: list[str] = []
    for b in card.buttons:
        if _is_url(b.value):
            actions.append({"type": "Action.OpenUrl", "title": b.label, "url": b.value})
        elif interactive:
            action: dict[str, Any] = {"type": "Action.Execute", "title": b.label, "verb": b.action_id,
                                      "data": {"request_id": b.value}}
            if b.style in ("primary", "danger"):
                action["style"] = "positive" if b.style == "primary" else "destructive"
            actions.append(action)
        else:
            hints.append(f"**{b.label}**: `{b.action_id} {b.value}`")
    if hints:
        body.append({"type": "TextBlock", "wrap": True, "isSubtle": True,
                     "text": "To act, send the bot (or Slack) a command: " + " · ".join(hints)})
    actions.extend({"type": "Action.OpenUrl", "title": lk.label, "url": lk.url} for lk in card.links
                   if _is_url(lk.url))
    if card.footer:
        body.append({"type": "TextBlock", "text": _clip(card.footer, _FIELD_MAX), "size": "Small",
                     "isSubtle": True, "wrap": True})
    out: dict[str, Any] = {"type": "AdaptiveCard", "$schema": CARD_SCHEMA, "version": "1.4", "body": body}
    if actions:
        out["actions"] = actions
    return out


def envelope(card_dict: Mapping[str, Any]) -> dict[str, Any]:
    """The message envelope Workflows webhooks (and bot activities' attachments) carry an Adaptive Card in."""
    return {"type": "message", "attachments": [
        {"contentType": ADAPTIVE_CONTENT_TYPE, "contentUrl": None, "content": copy.deepcopy(dict(card_dict))},
    ]}


def envelope_size(card_dict: Mapping[str, Any]) -> int:
    # ensure_ascii (the default, and what aiohttp sends) is never shorter than the UTF-8 form
    return len(json.dumps(envelope(card_dict)).encode("ascii"))


_EMOJI = {":rocket:": "🚀", ":warning:": "⚠️", ":no_entry:": "⛔", ":lock:": "🔒", ":unlock:": "🔓",
          ":white_check_mark:": "✅", ":x:": "❌", ":repeat:": "🔁", ":snowflake:": "❄️"}


def teams_text(reply: Reply | str) -> str:
    """A chat answer as a Teams bot message (``textFormat: markdown``). Teams reads "a subset of markdown and xml or
    HTML formatting tags" in message text (https://learn.microsoft.com/en-us/microsoftteams/platform/bots/how-to/
    format-your-bot-messages), so the text is escaped for both, like every card field: Markdown's link brackets
    (``[Approve](https://evil)`` stays text) and ``&``, ``<``, ``>`` as entities (no tag, no ``<https://…|…>``).
    Emoji codes become emoji; the reply's channel and its own links are added after the text as markup."""
    if isinstance(reply, str):
        reply = Reply(reply)
    text = html.escape(escape_markdown(reply.text), quote=False)
    for code, glyph in _EMOJI.items():
        text = text.replace(code, glyph)
    parts = [text]
    if reply.channel:
        parts.append("#" + html.escape(escape_markdown(reply.channel), quote=False))
    parts.extend(f"[{html.escape(escape_markdown(lk.label), quote=False)}]({_md_url(lk.url)})"
                 for lk in reply.links if _is_url(lk.url))
    return " ".join(parts)


def _md_url(url: str) -> str:
    """A URL that cannot end the Markdown link early (parentheses, spaces and controls percent-encoded)."""
    return "".join(f"%{ord(ch):02X}" if ch in "() <>" or ord(ch) < 0x20 else ch for ch in url)


_MD_SPECIAL = re.compile(r"([\\\[\]])")


def escape_markdown(text: str) -> str:
    """Teams' surface escape for Adaptive Card markdown: backslash before ``\\``, ``[`` and ``]`` so untrusted
    text can never form a link with a misleading label (``[click](https://evil)``). Adaptive Cards render no
    HTML and no ``<at>`` mention without an entity, so ``<`` and ``>`` are shown as they are. ``*bold*`` stays
    cosmetic (Slack-style single stars become Markdown's double ones)."""
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return re.sub(r"(?<![*\w])\*([^*\n]+)\*(?![*\w])", r"**\1**", text)


def _for_teams(card: Card) -> Card:
    """Every text field of the card escaped for Adaptive Card markdown (card fields are plain, untrusted text)."""
    esc = escape_markdown
    return replace(card, title=esc(card.title), status=esc(card.status), text=esc(card.text),
                   footer=esc(card.footer), facts=tuple(Fact(esc(f.label), esc(f.value)) for f in card.facts))


def render_teams(card: Card, *, interactive: bool = False) -> dict[str, Any]:
    """An Adaptive Card 1.4 dict for ``card`` whose envelope stays under ``MAX_BYTES``.

    Long text is cut with a marker, then facts are dropped from the end; the result is always a valid card.
    """
    card = _for_teams(card)
    rendered = _render(card, interactive=interactive, text=card.text, facts=len(card.facts))
    if envelope_size(rendered) <= MAX_BYTES:
        return rendered
    # Cut the free text first: find the longest prefix that fits (binary search on characters).
    without = _render(card, interactive=interactive, text="", facts=len(card.facts))
    lo, hi = 0, len(card.text)
    best = without if envelope_size(without) <= MAX_BYTES else None
    while lo <= hi and card.text:
        mid = (lo + hi) // 2
        candidate = _render(card, interactive=interactive, text=card.text[:mid] + CUT_MARKER,
                            facts=len(card.facts))
        if envelope_size(candidate) <= MAX_BYTES:
            best, lo = candidate, mid + 1
        else:
            hi = mid - 1
    if best is not None:
        return best
    # Still too big with no text: drop facts from the end until it fits.
    for n in range(len(card.facts) - 1, -1, -1):
        candidate = _render(card, interactive=interactive, text=CUT_MARKER.strip(), facts=n)
        if envelope_size(candidate) <= MAX_BYTES:
            return candidate
    slim = Card(kind=card.kind, title=_clip(card.title, 500), status=card.status, tone=card.tone,
                text=CUT_MARKER.strip())
    return _render(slim, interactive=interactive, text=slim.text, facts=0)


def _for_messagecard(card: Card) -> Card:
    """Legacy connector cards read Markdown and some HTML: Markdown-escaped, then ``&``, ``<``, ``>`` as entities."""
    card = _for_teams(card)

    def esc(text: str) -> str:
        return html.escape(text, quote=False)

    return replace(card, title=esc(card.title), status=esc(card.status), text=esc(card.text),
                   footer=esc(card.footer), facts=tuple(Fact(esc(f.label), esc(f.value)) for f in card.facts))


def render_messagecard(card: Card) -> dict[str, Any]:
    """A legacy Office 365 connector MessageCard, built with pymsteams (its payload; we send it ourselves)."""
    card = _for_messagecard(card)
    mc = pymsteams.connectorcard(None)
    title = card.title + (f" — {card.status}" if card.status else "")
    mc.title(_clip(title, _FIELD_MAX))
    mc.summary(_clip(title, 200))
    mc.color(_THEME_COLOR.get(card.tone, _THEME_COLOR["neutral"]))
    parts = [p for p in (_mention_text(card.mention), card.text) if p]
    hints = [f"**{b.label}**: `{b.action_id} {b.value}`" for b in card.buttons if not _is_url(b.value)]
    if hints:
        parts.append("To act, send the bot (or Slack) a command: " + " · ".join(hints))
    if card.footer:
        parts.append(f"_{card.footer}_")
    if parts:
        mc.text(_clip("\n\n".join(parts), 20_000))
    if card.facts:
        section = pymsteams.cardsection()
        for f in card.facts[:50]:
            section.addFact(_clip(f.label, 200), _clip(f.value, _FIELD_MAX) or "-")
        mc.addSection(section)
    for b in card.buttons:
        if _is_url(b.value):
            mc.addLinkButton(b.label, b.value)
    for lk in card.links:
        if _is_url(lk.url):
            mc.addLinkButton(lk.label, lk.url)
    payload: dict[str, Any] = dict(mc.payload)
    payload["@type"] = "MessageCard"
    payload["@context"] = "https://schema.org/extensions"
    return payload


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def webhook_ref(status: str) -> str:
    return REF_PREFIX + status


class TeamsSender:
    """Posts outbox messages to Teams Workflows (or legacy connector) webhooks. Implements ``Sender``.

    ``urls`` maps webhook name -> URL (secrets: never logged, never put in an exception message);
    ``formats`` maps webhook name -> "adaptive" | "messagecard". Retries belong to the outbox: this raises
    ``DeliveryError(transient=True, retry_after=...)`` for 429, 5xx and timeouts, ``transient=False`` else.
    """

    def __init__(self, *, urls: Mapping[str, str], formats: Mapping[str, str] | None = None,
                 timeout_s: float = 10.0, session: aiohttp.ClientSession | None = None) -> None:
        self._urls = dict(urls)
        self._formats = dict(formats or {})
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session = session
        self._own_session = session is None

    async def close(self) -> None:
        if self._session is not None and self._own_session:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def send(self, message: OutboundMessage, *, ref: str | None) -> str | None:
        name = message.destination.address
        card = message.card
        if message.op in (Op.EPHEMERAL, Op.RESPOND):
            raise DeliveryError(f"teams webhook {name!r} cannot deliver {message.op.value} messages",
                                transient=False)
        if message.op is Op.CARD and ref is not None and ref == webhook_ref(card.status):
            log.debug("teams card status unchanged, not posting again webhook=%s key=%s", name, message.key)
            return ref
        url = self._urls.get(name)
        if not url:
            raise DeliveryError(f"teams webhook {name!r} has no URL configured", transient=False)
        legacy = self._formats.get(name) == "messagecard"
        payload = render_messagecard(card) if legacy else envelope(render_teams(card))
        await self._post(name, url, payload, legacy=legacy, key=message.key)
        return webhook_ref(card.status)

    async def _post(self, name: str, url: str, payload: dict[str, Any], *, legacy: bool, key: str) -> None:
        try:
            async with self._client().post(url, json=payload, timeout=self._timeout) as resp:
                status = resp.status
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
                body = (await resp.text(errors="replace"))[:200] if legacy and status == 200 else ""
        except TimeoutError as exc:
            log.warning("teams webhook post timed out webhook=%s key=%s", name, key)
            raise DeliveryError(f"teams webhook {name!r} timed out", transient=True) from _scrub(exc)
        except aiohttp.ClientError as exc:
            log.warning("teams webhook post failed webhook=%s key=%s error=%s", name, key, type(exc).__name__)
            raise DeliveryError(f"teams webhook {name!r} unreachable ({type(exc).__name__})",
                                transient=True) from _scrub(exc)
        if 200 <= status < 300:
            # Legacy connectors answer 200 with "1" on success and 200 with an error text otherwise.
            if legacy and status == 200 and body.strip() not in ("1", ""):
                throttled = "429" in body
                log.warning("teams connector refused the card webhook=%s key=%s throttled=%s", name, key,
                            throttled)
                raise DeliveryError(f"teams webhook {name!r} refused the card", transient=throttled)
            log.info("teams webhook post ok webhook=%s key=%s status=%d", name, key, status)
            return
        transient = status == 429 or status >= 500 or status == 408
        log.warning("teams webhook post failed webhook=%s key=%s status=%d transient=%s", name, key, status,
                    transient)
        raise DeliveryError(f"teams webhook {name!r} answered HTTP {status}", transient=transient,
                            retry_after=retry_after if transient else None)


class TeamsSenders:
    """The one ``Sender`` for ``Platform.TEAMS``: ``bot:<conversation id>`` addresses go to the bot's sender
    (``bot.egress.teams_bot.TeamsBotSender``), every other address is a webhook name for ``TeamsSender``.
    Without the bot (no ``TEAMS_APP_ID``), a ``bot:`` address fails permanently."""

    def __init__(self, *, webhooks: Sender, bot: Sender | None) -> None:
        self._webhooks = webhooks
        self._bot = bot

    async def send(self, message: OutboundMessage, *, ref: str | None) -> str | None:
        if not message.destination.address.startswith(TEAMS_BOT_PREFIX):
            return await self._webhooks.send(message, ref=ref)
        if self._bot is None:
            raise DeliveryError(f"teams destination {message.destination.address!r} needs the Teams bot, which "
                                "is not running: set TEAMS_APP_ID, TEAMS_APP_PASSWORD and TEAMS_APP_TENANT_ID",
                                transient=False)
        return await self._bot.send(message, ref=ref)


def _scrub(exc: BaseException) -> DeliveryError:
    """A stand-in cause that keeps the error type but not its message (aiohttp errors can carry the URL)."""
    return DeliveryError(type(exc).__name__, transient=True)
