"""Egress: render platform-neutral Cards for a chat platform and send them."""

from __future__ import annotations

from typing import Protocol

from bot.domain import OutboundMessage


class Sender(Protocol):
    """Delivers one outbox message. ``ref`` is the platform's id of the card's existing message
    (Slack ``ts``) when the message updates a card or replies in its thread, else None.
    Returns the id of the message it posted (to update it later), or None.
    Raises ``bot.errors.DeliveryError`` (``transient`` tells the outbox whether to retry)."""

    async def send(self, message: OutboundMessage, *, ref: str | None) -> str | None: ...
