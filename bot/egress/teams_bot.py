"""The Teams bot (Microsoft 365 Agents SDK): text commands, Action.Execute approvals, proactive cards.

The SDK's ``CloudAdapter`` parses activities, builds the turn, calls this ``TeamsBot`` (an
``ActivityHandler``) and turns an invoke's result into the HTTP answer; replies and proactive posts go
through the SDK's connector client to the activity's ``serviceUrl`` with a token from the adapter's
``Connections`` (``msal_connections`` in production). Incoming activities are authenticated before the
adapter runs, in ``handlers.teams``.

Work is delegated to a ``CommandRunner`` (implemented by the pipeline), so this module holds no policy:
it maps Teams users to people (``Config.person_by("teams", aadObjectId)``) so four-eyes compares people
across Slack and Teams, and it records conversation references through ``ConversationRefs``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import aiohttp
from microsoft_agents.activity import (
    Activity,
    ActivityTypes,
    AdaptiveCardInvokeResponse,
    AdaptiveCardInvokeValue,
    Attachment,
    ConversationReference,
    TurnContextProtocol,
)
from microsoft_agents.hosting.aiohttp import CloudAdapter
from microsoft_agents.hosting.core import ActivityHandler, TurnContext
from microsoft_agents.hosting.core.authorization import Connections

from bot.domain import TEAMS_BOT_PREFIX, Actor, Card, Op, OutboundMessage, Platform, TeamsConversation
from bot.egress.teams import ADAPTIVE_CONTENT_TYPE, parse_retry_after, render_teams
from bot.egress.teams_auth import bot_connections
from bot.errors import DeliveryError

log = logging.getLogger(__name__)

CARD_RESPONSE_TYPE = "application/vnd.microsoft.card.adaptive"
MESSAGE_RESPONSE_TYPE = "application/vnd.microsoft.activity.message"
MAX_COMMAND_TEXT = 8 * 1024  # a typed command is a few dozen characters; longer texts are not parsed
TOO_LONG = "That message is too long to be a command; nothing was done."
_VERBS = {"approve": True, "reject": False}
_BUTTONS = ("promote",)  # other request buttons: answered to the person who clicked (CommandRunner.button)


class CommandRunner(Protocol):
    """What the bot needs from the pipeline (the lead implements and wires it)."""

    async def run_text(self, text: str, actor: Actor, *, message_id: str = "") -> str:
        """Run a chat command (``deploy api v1.4.2 to staging``, ``approve r-...``) and answer in text.
        ``message_id`` identifies the activity (its idempotency key): the same one twice has one effect."""
        ...

    async def decide(self, request_id: str, approve: bool, actor: Actor) -> Card | str:
        """Approve or reject a request; return the refreshed approval card (who decided, what state), or,
        for a refusal (e.g. the requester approving their own request), the reason as text: Teams shows
        it to the person who clicked only, and the card everyone sees is left unchanged."""
        ...

    async def button(self, verb: str, request_id: str, actor: Actor, *, message_id: str = "") -> str:
        """Run a request card's other button (``promote``) and answer the person who clicked, in text."""
        ...


class ConversationRefs(Protocol):
    async def save(self, conversation: TeamsConversation) -> None: ...


PersonLookup = Callable[[str], str | None]  # Entra object id -> person key


def strip_markup(text: str) -> str:
    """``<at>…</at>`` mentions (with what they enclose) and other ``<…>`` tags replaced by a space, in one
    left-to-right pass: every character is looked at a bounded number of times, whatever the input (the
    regular expressions this replaces were quadratic on ``"<at>" * n`` and ``"<" * n``)."""
    lower = text.lower()
    out: list[str] = []
    close = -2  # position of the next "</at>" at or after the current mention; -1: there is none
    i = 0
    while (lt := text.find("<", i)) >= 0:
        out.append(text[i:lt])
        if lower.startswith("<at>", lt):
            if close != -1 and close < lt + 4:
                close = lower.find("</at>", lt + 4)
            if close >= 0:
                out.append(" ")
                i = close + 5
                continue
        gt = text.find(">", lt + 1)
        if gt < 0:  # no tag can close any more: the rest is text
            i = lt
            break
        if gt == lt + 1:  # "<>" is not a tag
            out.append("<>")
        else:
            out.append(" ")
        i = gt + 1
    out.append(text[i:])
    return "".join(out)


def command_text(activity: Activity) -> str:
    """The command typed to the bot: without ``<at>Bot</at>`` mentions and HTML, whitespace collapsed.
    A text longer than ``MAX_COMMAND_TEXT`` is not parsed at all (answered as too long by the bot)."""
    raw = activity.text or ""
    if len(raw) > MAX_COMMAND_TEXT:
        return ""
    text = strip_markup(raw)
    text = text.replace("&nbsp;", " ").replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    return " ".join(text.split())


def message_key(activity: Activity) -> str:
    """The idempotency key of a text command: the activity id within its conversation (as Slack's trigger_id).
    Teams redelivers an activity with the same id; "" (no id) means no deduplication is possible."""
    conversation = activity.conversation.id if activity.conversation and activity.conversation.id else ""
    return f"{conversation}:{activity.id}" if activity.id else ""


def card_attachment(card: Card) -> Attachment:
    return Attachment(content_type=ADAPTIVE_CONTENT_TYPE, content=render_teams(card, interactive=True))


class TeamsBot(ActivityHandler):
    def __init__(self, runner: CommandRunner, *, person_of: PersonLookup, refs: ConversationRefs) -> None:
        super().__init__()
        self._runner = runner
        self._person_of = person_of
        self._refs = refs

    def actor(self, activity: Activity) -> Actor:
        user = activity.from_property
        aad = (user.aad_object_id or "") if user else ""
        person = self._person_of(aad) if aad else None
        return Actor(
            platform=Platform.TEAMS,
            platform_id=aad or (user.id if user and user.id else ""),
            person=person,
            channel=activity.conversation.id if activity.conversation else "",
            display=(user.name or "") if user else "",
            conversation=(activity.conversation.conversation_type or "") if activity.conversation else "",
        )

    async def on_turn(self, turn_context: TurnContextProtocol[Any]) -> None:
        activity: Activity = turn_context.activity
        await self._remember(activity)
        await super().on_turn(turn_context)

    async def _remember(self, activity: Activity) -> None:
        conv = activity.conversation
        if conv is None or not conv.id or not activity.service_url:
            return
        reference = activity.get_conversation_reference().model_dump(mode="json", by_alias=True,
                                                                      exclude_none=True)
        kind = conv.conversation_type or ""
        person = ""
        if kind == "personal":
            person = self.actor(activity).person or ""
        await self._refs.save(TeamsConversation(conv.id, kind, conv.tenant_id or "", person, reference))

    async def on_message_activity(self, turn_context: TurnContextProtocol[Any]) -> None:
        activity: Activity = turn_context.activity
        actor = self.actor(activity)
        if len(activity.text or "") > MAX_COMMAND_TEXT:  # checked before any parsing
            log.warning("teams message too long to be a command conversation=%s length=%d", actor.channel,
                        len(activity.text or ""))
            await turn_context.send_activity(Activity(type=ActivityTypes.message, text=TOO_LONG))
            return
        text = command_text(activity)
        if not text:
            return
        log.info("teams command received conversation=%s person=%s", actor.channel, actor.person or "-")
        try:
            answer = await self._runner.run_text(text, actor, message_id=message_key(activity))
        except Exception:
            log.exception("teams command failed conversation=%s", actor.channel)
            answer = "Something went wrong while running that command; it was logged."
        await turn_context.send_activity(Activity(type=ActivityTypes.message, text=answer,
                                                  text_format="markdown"))

    async def on_adaptive_card_invoke(self, turn_context: TurnContextProtocol[Any],
                                      invoke_value: AdaptiveCardInvokeValue) -> AdaptiveCardInvokeResponse:
        activity: Activity = turn_context.activity
        action = invoke_value.action
        verb = (action.verb or "") if action else ""
        data: Any = action.data if action else None
        request_id = data.get("request_id") if isinstance(data, dict) else None
        if verb not in (*_VERBS, *_BUTTONS) or not isinstance(request_id, str) or not request_id:
            log.warning("teams card action refused: unknown verb or missing request id")
            return _error(400, "BadRequest", "unknown action")
        actor = self.actor(activity)
        log.info("teams card action verb=%s request=%s person=%s", verb, request_id, actor.person or "-")
        if verb in _BUTTONS:
            try:
                answer = await self._runner.button(verb, request_id[:40], actor, message_id=message_key(activity))
            except Exception:
                log.exception("teams card action failed request=%s", request_id)
                return _error(500, "InternalError", "the action could not be recorded")
            return AdaptiveCardInvokeResponse(status_code=200, type=MESSAGE_RESPONSE_TYPE, value=answer)
        try:
            result = await self._runner.decide(request_id, _VERBS[verb], actor)
        except Exception:
            log.exception("teams card action failed request=%s", request_id)
            return _error(500, "InternalError", "the decision could not be recorded")
        if isinstance(result, str):  # a refusal: shown to the person who clicked, the card stays as it is
            return AdaptiveCardInvokeResponse(status_code=200, type=MESSAGE_RESPONSE_TYPE, value=result)
        return AdaptiveCardInvokeResponse(status_code=200, type=CARD_RESPONSE_TYPE,
                                          value=render_teams(result, interactive=True))


def _error(status: int, code: str, message: str) -> AdaptiveCardInvokeResponse:
    return AdaptiveCardInvokeResponse(status_code=status, type="application/vnd.microsoft.error",
                                      value={"code": code, "message": message})


def build_adapter(connections: Connections) -> CloudAdapter:
    """A CloudAdapter whose turn errors are logged by type only (the SDK default echoes them to the chat)."""
    adapter = CloudAdapter(connection_manager=connections)

    async def on_turn_error(context: TurnContext, error: Exception) -> None:
        log.error("teams turn failed error=%s", type(error).__name__)

    adapter.on_turn_error = on_turn_error
    return adapter


def msal_connections(*, app_id: str, app_password: str, tenant_id: str, authority_url: str = "") -> Connections:
    """Production Connections: the bot's Entra app (client credentials) for replies and proactive posts.
    (``bot.egress.teams_auth.bot_connections`` also offers a plain token endpoint.)"""
    return bot_connections(app_id=app_id, app_password=app_password, tenant_id=tenant_id,
                           authority_url=authority_url)


async def post_card(adapter: CloudAdapter, *, app_id: str, reference: dict[str, Any], card: Card,
                    activity_id: str | None = None) -> str | None:
    """Post ``card`` proactively into a stored conversation, or replace the bot's earlier message
    ``activity_id`` there (bots, unlike webhooks, can update in place). Returns the message's id.
    A failure of the post itself is raised (e.g. ``aiohttp.ClientResponseError`` from the connector)."""
    conv_ref = ConversationReference.model_validate(reference)
    result: dict[str, str | None] = {"id": activity_id}
    failures: list[Exception] = []

    async def send(context: TurnContext) -> None:
        message = Activity(type=ActivityTypes.message, attachments=[card_attachment(card)])
        try:
            if activity_id:
                message.id = activity_id
                await context.update_activity(message)
            else:
                response = await context.send_activity(message)
                result["id"] = response.id if response else None
        except Exception as exc:  # the adapter would hand it to on_turn_error (log only): keep it for the caller
            failures.append(exc)

    continuation = conv_ref.get_continuation_activity()
    continuation.id = None  # else the SDK sends a "reply" to this made-up id; a new post is what we mean
    await adapter.continue_conversation(app_id, continuation, send)
    if failures:
        raise failures[0]
    return result["id"]


ReferenceLookup = Callable[[str], Awaitable[dict[str, Any] | None]]  # conversation id -> stored reference


class TeamsBotSender:
    """Delivers outbox messages addressed ``bot:<conversation id>`` through the bot. Implements ``Sender``.

    Needs a conversation reference stored for that conversation (the app was installed there, or someone
    talked to the bot there). ``Op.CARD`` posts once and then updates the same activity in place (the
    returned activity id is the outbox ``ref``); if that message was deleted, the card is posted again.
    Errors become ``DeliveryError``: 429, 5xx, timeouts and a missing reference are transient."""

    def __init__(self, adapter: CloudAdapter, *, app_id: str, references: ReferenceLookup,
                 timeout_s: float = 20.0) -> None:
        self._adapter = adapter
        self._app_id = app_id
        self._references = references
        self._timeout_s = timeout_s

    async def send(self, message: OutboundMessage, *, ref: str | None) -> str | None:
        conversation = message.destination.address.removeprefix(TEAMS_BOT_PREFIX)
        if message.op not in (Op.CARD, Op.POST):
            raise DeliveryError(f"the teams bot cannot deliver {message.op.value} messages", transient=False)
        reference = await self._references(conversation)
        if reference is None:
            log.warning("no teams conversation reference conversation=%s key=%s", conversation, message.key)
            raise DeliveryError(f"no stored reference for teams conversation {conversation!r}: add the app "
                                "there (or message the bot there) so it may post", transient=True)
        activity_id = ref if message.op is Op.CARD else None
        try:
            new_id = await self._post(reference, message.card, activity_id)
        except aiohttp.ClientResponseError as exc:
            if exc.status == 404 and activity_id:  # the message was deleted: post the card again
                log.info("teams card message gone, posting again conversation=%s key=%s", conversation,
                         message.key)
                new_id = await self._post_or_raise(reference, message.card, conversation, message.key)
            else:
                raise _translate(exc, conversation, message.key) from None
        except DeliveryError:
            raise
        except Exception as exc:
            raise _translate(exc, conversation, message.key) from None
        log.info("teams bot post ok conversation=%s key=%s updated=%s", conversation, message.key,
                 bool(activity_id))
        return new_id or activity_id

    async def _post(self, reference: dict[str, Any], card: Card, activity_id: str | None) -> str | None:
        async with asyncio.timeout(self._timeout_s):
            return await post_card(self._adapter, app_id=self._app_id, reference=reference, card=card,
                                   activity_id=activity_id)

    async def _post_or_raise(self, reference: dict[str, Any], card: Card, conversation: str,
                             key: str) -> str | None:
        try:
            return await self._post(reference, card, None)
        except DeliveryError:
            raise
        except Exception as exc:
            raise _translate(exc, conversation, key) from None


def _translate(exc: BaseException, conversation: str, key: str) -> DeliveryError:
    """A connector or token failure as a DeliveryError (never with the answer body: it can echo the card)."""
    if isinstance(exc, aiohttp.ClientResponseError):
        status = exc.status
        transient = status in (408, 429) or status >= 500
        retry_after = parse_retry_after(exc.headers.get("Retry-After")) if exc.headers and transient else None
        log.warning("teams bot post failed conversation=%s key=%s status=%d transient=%s", conversation, key,
                    status, transient)
        return DeliveryError(f"teams connector answered HTTP {status}", transient=transient,
                             retry_after=retry_after)
    log.warning("teams bot post failed conversation=%s key=%s error=%s", conversation, key, type(exc).__name__)
    return DeliveryError(f"teams bot post failed ({type(exc).__name__})", transient=True)
