"""Button clicks on an alert card: Acknowledge, Assign to me, Resolve. State + audit + card update, one transaction."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import UTC, datetime
from fnmatch import fnmatchcase

from bot.alerts.cards import ACK, ASSIGN, RESOLVE, enqueue_card
from bot.alerts.pagerduty import resolve_if_triggered
from bot.alerts.settings import SecuritySettings, security_settings
from bot.alerts.store_ops import Alert, alert_principals, get_alert, mark_carded, set_state
from bot.config import Config
from bot.domain import Actor, AuditEntry
from bot.store.db import Conn
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
NO_RESPONDERS = ("Nobody may act on security alerts yet: no responders are configured. Set security.responders "
                 "(people or groups) in the config.")
NOT_RESPONDER = "Only security responders (security.responders in the config) can acknowledge, assign or resolve."
SUBJECT = "This alert is about you ({who}), so someone else among the responders must handle it."


def principal_names(principal: str, session_name: str = "") -> set[str]:
    """Names a principal may carry a person by: the IAM user or role-session name (the ARN's last part),
    with and without an email domain, lowercased."""
    names: set[str] = set()
    for raw in (principal.rsplit("/", 1)[-1] if "/" in principal else "", session_name):
        if raw:
            names.update({raw.lower(), raw.split("@", 1)[0].lower()})
    return names


def subjects(config: Config, settings: SecuritySettings, principals: tuple[str, ...], *,
             session_name: str = "") -> set[str]:
    """The people (person keys) an alert is about: explicit ``security.subjects`` patterns, else a person
    whose key or GitHub login is the principal's user / session name."""
    out = {person for person, pattern in settings.subjects for p in principals if fnmatchcase(p, pattern)}
    names: set[str] = set()
    for i, p in enumerate(principals):
        names |= principal_names(p, session_name if i == 0 else "")
    out |= {key for key, person in config.people.items()
            if key.lower() in names or (person.github and person.github.lower() in names)}
    return out


async def refusal(c: Conn, config: Config, settings: SecuritySettings, alert: Alert, person: str) -> str:
    """Why ``person`` may not act on ``alert`` ("" = they may): responders only, never the alert's subject."""
    if not settings.responders:
        return NO_RESPONDERS
    if person not in settings.responders:
        return NOT_RESPONDER
    principals = await alert_principals(c, alert)
    if person in subjects(config, settings, principals, session_name=alert.sample.session_name):
        return SUBJECT.format(who=person)
    return ""


async def handle_alert_action(
    store: Store, config: Config, *, action_id: str, alert_id: str, actor: Actor,
    settings: SecuritySettings | None = None,
) -> str:
    """Apply one button click. Returns a short text for the user (shown ephemerally)."""
    if action_id not in _WRITES:
        return f"Unknown action {action_id!r}."
    settings = settings or security_settings(config)
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
        why = await refusal(u.c, config, settings, alert, actor.person)
        if why:
            await u.audit(replace(entry, result="denied", detail=why[:200]))
            return why
        won = await set_state(u.c, alert_id, sql_set=sql_set, args=(actor.person, now), where_state=where)
        if not won:
            await u.audit(replace(entry, result="noop", detail=f"state {alert.state}"))
            who = alert.resolved_by or alert.acked_by
            return f"{alert_id} is already {alert.state}" + (f" (by {who})." if who else ".")
        await u.audit(entry)
        updated = await get_alert(u.c, alert_id)
        assert updated is not None
        if action_id == RESOLVE:  # an alert paged in PagerDuty is resolved there too, in this transaction
            await resolve_if_triggered(u.c, updated, now=now)
        seq = updated.card_seq + 1
        await enqueue_card(u, config, updated, seq=seq)
        await mark_carded(u.c, alert_id, at=updated.card_at, seq=seq)
    log.info("security alert action: alert=%s action=%s actor=%s", alert_id, action_id, actor.label)
    return _DONE[action_id].format(id=alert_id)

