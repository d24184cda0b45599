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

import logging
import re
from collections.abc import Callable
from typing import Any, Protocol

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
from microsoft_agents.hosting.core.authorization import AgentAuthConfiguration, Connections

from bot.domain import Actor, Card, Platform, TeamsConversation
from bot.egress.teams import ADAPTIVE_CONTENT_TYPE, render_teams

log = logging.getLogger(__name__)

CARD_RESPONSE_TYPE = "application/vnd.microsoft.card.adaptive"
_AT_MENTION = re.compile(r"<at>.*?</at>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_VERBS = {"approve": True, "reject": False}


class CommandRunner(Protocol):
    """What the bot needs from the pipeline (the lead implements and wires it)."""

    async def run_text(self, text: str, actor: Actor) -> str:
        """Run a chat command (``deploy api v1.4.2 to staging``, ``approve r-...``) and answer in text."""
        ...

    async def decide(self, request_id: str, approve: bool, actor: Actor) -> Card:
        """Approve or reject a request; return the refreshed approval card (who decided, what state).
        A refusal (e.g. the requester approving their own request) is shown on the returned card."""
        ...


class ConversationRefs(Protocol):
    async def save(self, conversation: TeamsConversation) -> None: ...


PersonLookup = Callable[[str], str | None]  # Entra object id -> person key


def command_text(activity: Activity) -> str:
    """The command typed to the bot: without ``<at>Bot</at>`` mentions and HTML, whitespace collapsed."""
    text = _TAG.sub(" ", _AT_MENTION.sub(" ", activity.text or ""))
    text = text.replace("&nbsp;", " ").replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    return " ".join(text.split())


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
        text = command_text(activity)
        actor = self.actor(activity)
        if not text:
            return
        log.info("teams command received conversation=%s person=%s", actor.channel, actor.person or "-")
        try:
            answer = await self._runner.run_text(text, actor)
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
        if verb not in _VERBS or not isinstance(request_id, str) or not request_id:
            log.warning("teams card action refused: unknown verb or missing request id")
            return _error(400, "BadRequest", "unknown action")
        actor = self.actor(activity)
        log.info("teams card action verb=%s request=%s person=%s", verb, request_id, actor.person or "-")
        try:
            card = await self._runner.decide(request_id, _VERBS[verb], actor)
        except Exception:
            log.exception("teams card action failed request=%s", request_id)
            return _error(500, "InternalError", "the decision could not be recorded")
        return AdaptiveCardInvokeResponse(status_code=200, type=CARD_RESPONSE_TYPE,
                                          value=render_teams(card, interactive=True))


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


def msal_connections(*, app_id: str, app_password: str, tenant_id: str) -> Connections:
    """Production Connections: the bot's Entra app (client credentials) for replies and proactive posts."""
    from microsoft_agents.authentication.msal import MsalConnectionManager

    config = AgentAuthConfiguration(client_id=app_id, tenant_id=tenant_id, client_secret=app_password)
    manager: Connections = MsalConnectionManager(connections_configurations={"SERVICE_CONNECTION": config})
    return manager


async def post_card(adapter: CloudAdapter, *, app_id: str, reference: dict[str, Any], card: Card,
                    activity_id: str | None = None) -> str | None:
    """Post ``card`` proactively into a stored conversation, or replace the bot's earlier message
    ``activity_id`` there (bots, unlike webhooks, can update in place). Returns the message's id."""
    conv_ref = ConversationReference.model_validate(reference)
    result: dict[str, str | None] = {"id": activity_id}

    async def send(context: TurnContext) -> None:
        message = Activity(type=ActivityTypes.message, attachments=[card_attachment(card)])
        if activity_id:
            message.id = activity_id
            await context.update_activity(message)
        else:
            response = await context.send_activity(message)
            result["id"] = response.id if response else None

    await adapter.continue_conversation(app_id, conv_ref.get_continuation_activity(), send)
    return result["id"]
