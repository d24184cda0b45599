"""Teams bot conversation references: saved on every authenticated activity, read for proactive posts."""

from __future__ import annotations

import json
import time
from typing import Any

from bot.domain import TeamsConversation
from bot.store.store import Store, Unit


def _row(row: dict[str, Any]) -> TeamsConversation:
    return TeamsConversation(row["conversation_id"], row["conversation_type"], row["tenant_id"],
                             row["person"], json.loads(row["reference"]))


async def save_conversation(u: Unit, c: TeamsConversation) -> None:
    """Insert or refresh a conversation reference (serviceUrl can change; the latest one wins)."""
    await u.c.execute(
        "INSERT INTO teams_conversations (conversation_id, conversation_type, tenant_id, person, reference, "
        "updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (conversation_id) DO UPDATE SET "
        "conversation_type = excluded.conversation_type, tenant_id = excluded.tenant_id, "
        "person = CASE WHEN excluded.person <> '' THEN excluded.person ELSE teams_conversations.person END, "
        "reference = excluded.reference, updated_at = excluded.updated_at",
        c.conversation_id, c.conversation_type, c.tenant_id, c.person, json.dumps(c.reference), time.time(),
    )


async def get_conversation(u: Unit, conversation_id: str) -> TeamsConversation | None:
    row = await u.c.fetchrow(
        "SELECT conversation_id, conversation_type, tenant_id, person, reference FROM teams_conversations "
        "WHERE conversation_id = ?", conversation_id,
    )
    return _row(row) if row else None


async def reference_for_post(u: Unit, conversation_id: str) -> dict[str, Any] | None:
    """The reference to post into ``conversation_id``: its own, or, for a channel the bot only saw through
    a thread (``<channel>;messageid=<id>``), that thread's reference pointed at the channel (a new post)."""
    found = await get_conversation(u, conversation_id)
    if found is not None:
        return found.reference
    rows = await u.c.fetch(
        "SELECT conversation_id, conversation_type, tenant_id, person, reference FROM teams_conversations "
        "WHERE conversation_id LIKE ? ORDER BY updated_at DESC", conversation_id + ";%",
    )
    for row in rows:
        thread = _row(row)
        if thread.conversation_id.split(";", 1)[0] == conversation_id:
            reference = dict(thread.reference)
            reference["conversation"] = {**dict(reference.get("conversation") or {}), "id": conversation_id}
            return reference
    return None


async def personal_conversation(u: Unit, person: str) -> TeamsConversation | None:
    """The most recent 1:1 chat with a person (to send them an approval request directly)."""
    row = await u.c.fetchrow(
        "SELECT conversation_id, conversation_type, tenant_id, person, reference FROM teams_conversations "
        "WHERE person = ? AND conversation_type = 'personal' ORDER BY updated_at DESC LIMIT 1", person,
    )
    return _row(row) if row else None


async def conversations(u: Unit, *, conversation_type: str | None = None) -> list[TeamsConversation]:
    sql = "SELECT conversation_id, conversation_type, tenant_id, person, reference FROM teams_conversations"
    args: tuple[Any, ...] = ()
    if conversation_type is not None:
        sql += " WHERE conversation_type = ?"
        args = (conversation_type,)
    return [_row(r) for r in await u.c.fetch(sql + " ORDER BY id", *args)]


class StoreConversationRefs:
    """``ConversationRefs`` (see ``bot.egress.teams_bot``) over the Store: one short transaction per save."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def save(self, conversation: TeamsConversation) -> None:
        async with self._store.unit() as u:
            await save_conversation(u, conversation)

    async def reference(self, conversation_id: str) -> dict[str, Any] | None:
        """``ReferenceLookup`` for ``bot.egress.teams_bot.TeamsBotSender``."""
        async with self._store.unit() as u:
            return await reference_for_post(u, conversation_id)
