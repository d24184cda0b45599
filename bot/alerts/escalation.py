"""Escalation (issue 25 item 5): a high or critical alert still open (not acknowledged, not resolved)
``security.escalate_after`` after it was opened is re-posted with a channel mention (Slack ``@channel``, Teams
the channel mention line) and, when PagerDuty is configured, triggered there. Called by the security worker in
its transaction; one conditional write per alert (``escalated_at IS NULL``) makes it happen once.
"""

from __future__ import annotations

import logging

from bot.alerts.cards import enqueue_escalation
from bot.alerts.model import Severity
from bot.alerts.pagerduty import enqueue_event
from bot.alerts.settings import SecuritySettings
from bot.alerts.store_ops import _COLS, Alert, _alert
from bot.config import Config
from bot.store.store import Unit

log = logging.getLogger(__name__)


async def due_alerts(u: Unit, settings: SecuritySettings, *, now: float, limit: int = 50) -> list[Alert]:
    quiet = tuple(r.id for r in settings.rules if not r.escalate)
    skip = f" AND rule_id NOT IN ({', '.join('?' * len(quiet))})" if quiet else ""
    rows = await u.c.fetch(
        f"SELECT {_COLS} FROM security_alerts WHERE state = 'open' AND escalated_at IS NULL AND severity IN (?, ?) "
        f"AND created_at <= ?{skip} ORDER BY created_at LIMIT ?",
        Severity.HIGH.value, Severity.CRITICAL.value, now - settings.escalate_after_s, *quiet, limit,
    )
    return [_alert(r) for r in rows]


async def escalate_due(u: Unit, config: Config, settings: SecuritySettings, *, now: float, page: bool) -> int:
    """Escalate every due alert. ``page``: also trigger it in PagerDuty. Returns how many were escalated."""
    n = 0
    for alert in await due_alerts(u, settings, now=now):
        won = await u.c.execute("UPDATE security_alerts SET escalated_at = ? WHERE id = ? AND state = 'open' "
                                "AND escalated_at IS NULL", now, alert.id)
        if won != 1:
            continue
        await enqueue_escalation(u, config, alert, escalated_at=now, after_s=settings.escalate_after_s)
        if page:
            await enqueue_event(u.c, alert, action="trigger", now=now, repository=config.repository)
        log.info("security alert escalated: alert=%s severity=%s paged=%s", alert.id, alert.severity, page)
        n += 1
    return n
