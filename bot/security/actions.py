"""Button clicks on an alert card: Acknowledge, Assign to me, Resolve. State + audit + card update, one transaction."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import UTC, datetime

from bot.config import Config
from bot.domain import Actor, AuditEntry
from bot.security.cards import ACK, ASSIGN, RESOLVE, enqueue_card
from bot.security.store_ops import get_alert, mark_carded, set_state
from bot.store.store import Store

log = logging.getLogger(__name__)
ACTION_IDS = (ACK, ASSIGN, RESOLVE)

# action id -> (SET clause, WHERE on state, audit action)
_WRITES = {
    ACK: ("state = 'acknowledged', acked_by = ?, acked_at = ?", "state = 'open'", "security.ack"),
    ASSIGN: ("assignee = ?, assigned_at = ?", "state != 'resolved'", "security.assign"),
    RESOLVE: ("state = 'resolved', resolved_by = ?, resolved_at = ?", "state != 'resolved'", "security.resolve"),
}
_DONE = {ACK: "Acknowledged {id}.", ASSIGN: "{id} is assigned to you.", RESOLVE: "Resolved {id}."}


async def handle_alert_action(
    store: Store, config: Config, *, action_id: str, alert_id: str, actor: Actor
) -> str:
    """Apply one button click. Returns a short text for the user (shown ephemerally)."""
    if action_id not in _WRITES:
        return f"Unknown action {action_id!r}."
    sql_set, where, audit_action = _WRITES[action_id]
    now = time.time()
    async with store.unit() as u:
        alert = await get_alert(u.c, alert_id)
        if alert is None:
            return f"No security alert {alert_id!r}."
        entry = AuditEntry(at=datetime.now(UTC), actor=actor.label, action=audit_action, target=alert_id,
                           channel=actor.channel, result="ok")
        if actor.person is None:
            await u.audit(replace(entry, result="denied", detail="unknown person"))
            return "You are not in the people list of the config, so you cannot act on security alerts."
        won = await set_state(u.c, alert_id, sql_set=sql_set, args=(actor.person, now), where_state=where)
        if not won:
            await u.audit(replace(entry, result="noop", detail=f"state {alert.state}"))
            who = alert.resolved_by or alert.acked_by
            return f"{alert_id} is already {alert.state}" + (f" (by {who})." if who else ".")
        await u.audit(entry)
        updated = await get_alert(u.c, alert_id)
        assert updated is not None
        seq = updated.card_seq + 1
        await enqueue_card(u, config, updated, seq=seq)
        await mark_carded(u.c, alert_id, at=updated.card_at, seq=seq)
    log.info("security alert action: alert=%s action=%s actor=%s", alert_id, action_id, actor.label)
    return _DONE[action_id].format(id=alert_id)

