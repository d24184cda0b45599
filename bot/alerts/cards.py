"""The alert card: who, what, where, when, how many; Acknowledge / Assign to me / Resolve."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from bot.alerts.model import Severity
from bot.alerts.store_ops import FOLDED, Alert, Folded, folded_summary
from bot.config import Config
from bot.delivery.routing import route
from bot.domain import TEAMS_BOT_PREFIX, Button, Card, Event, Fact, Link, Op, OutboundMessage, Platform
from bot.store.db import Conn
from bot.store.store import Unit

ACK, ASSIGN, RESOLVE = "sec_ack", "sec_assign", "sec_resolve"
_TONE = {Severity.LOW: "neutral", Severity.MEDIUM: "warning", Severity.HIGH: "danger", Severity.CRITICAL: "danger"}


def _when(t: float | None) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if t is not None else ""


def _list(values: tuple[str, ...], *, limit: int = 5) -> str:
    shown = ", ".join(values[:limit])
    return shown + (f" (+{len(values) - limit} more)" if len(values) > limit else "")


def card_key(alert_id: str) -> str:
    return f"sec:{alert_id}"


def escalation_key(alert_id: str) -> str:
    return f"sec:{alert_id}:escalated"


def _duration(seconds: float) -> str:
    m = int(seconds // 60)
    return f"{m // 60}h{m % 60:02d}m" if m >= 60 else f"{m}m"


def _alert_facts(alert: Alert, *, repository: str, folded: Folded | None) -> list[Fact]:
    """Who, where and how often: the facts every alert card shows (the folded card names its principals)."""
    e = alert.sample
    facts = [Fact("Severity", alert.severity.value)]
    if alert.escalated_at is not None and alert.state == "open":
        facts.append(Fact("Escalated", f"not acknowledged within {_duration(alert.escalated_at - alert.created_at)}"))
    if folded is not None:
        shown = ", ".join(f"{p} ({n})" for p, n in folded.top)
        more = folded.principals - len(folded.top)
        facts.append(Fact(f"Top {len(folded.top)} principals", shown + (f" (+{more} more)" if more > 0 else "")))
        if folded.new:
            facts.append(Fact("New since the last update", _list(folded.new)))
    else:
        label = "Resource" if e.summary else "Principal"  # a finding / alarm / Health event is about a resource
        facts.append(Fact(label, f"{alert.principal} ({e.principal_type or 'unknown type'})"))
    if e.session_issuer and folded is None:
        facts.append(Fact("Issuer", e.session_issuer + (f" / session {e.session_name}" if e.session_name else "")))
    gh = e.github
    repo = gh.repository or (repository if gh.run_id else "")
    if gh.subject or gh.run_id:
        facts.append(Fact("GitHub", " · ".join(x for x in (repo, gh.ref, f"run {gh.run_id}" if gh.run_id else "")
                                               if x)))
    if e.error_message:
        facts.append(Fact("Details" if e.summary else "Error", e.error_message[:300]))
    facts += [
        Fact("Account", alert.account or "unknown"),
        Fact("Regions", _list(alert.regions) or "-"),
        Fact("Source IPs", _list(alert.source_ips) or "-"),
        Fact("Actions", _list(alert.actions) or "-"),
        Fact("User agent", e.user_agent[:120] or "-"),
        Fact("Events", str(alert.event_count)),
        Fact("First seen", _when(alert.first_seen)),
        Fact("Last seen", _when(alert.last_seen)),
    ]
    return facts


def render_alert_card(alert: Alert, *, repository: str = "", mention: str = "",
                      folded: Folded | None = None) -> Card:
    """The alert's card. ``folded`` (for a rule's folded alert): how many principals, the busiest first."""
    e = alert.sample
    if alert.state == "resolved":
        status, tone = f"Resolved by {alert.resolved_by}", "good"
    elif alert.state == "acknowledged":
        status, tone = f"Acknowledged by {alert.acked_by}", _TONE[alert.severity]
    else:
        status, tone = "Open", _TONE[alert.severity]
    what = f"`{e.event_name}` on {e.event_source}"
    if e.error_code:
        what += f" failed: {e.error_code}"
    if e.summary:  # a GuardDuty / Security Hub finding, an alarm, a Health event: its own title
        what = f"{e.summary} (`{e.event_name}`, {e.event_type})"
    facts = _alert_facts(alert, repository=repository, folded=folded)
    if alert.assignee:
        facts.append(Fact("Assigned to", alert.assignee))
    buttons: tuple[Button, ...] = ()
    if alert.state != "resolved":
        buttons = (
            *((Button(ACK, "Acknowledge", alert.id, "primary"),) if alert.state == "open" else ()),
            Button(ASSIGN, "Assign to me", alert.id),
            Button(RESOLVE, "Resolve", alert.id, "danger"),
        )
    links: tuple[Link, ...] = ()
    gh = e.github
    run_url = gh.run_url if gh.repository else (
        f"https://github.com/{repository}/actions/runs/{gh.run_id}" if repository and gh.run_id else "")
    if run_url:
        links = (Link("Workflow run", run_url),)
    return Card(
        kind="security",
        title=f"{alert.title}: {folded.principals} principals" if folded is not None else
        f"{alert.title}: {alert.principal}",
        status=status,
        tone=tone,
        text=what,
        facts=tuple(facts),
        buttons=buttons,
        links=links,
        footer=f"alert {alert.id} · rule {alert.rule_id}",
        mention=mention if alert.severity.rank >= Severity.HIGH.rank and alert.state == "open" else "",
    )


async def enqueue_card(unit: Unit | Conn, config: Config, alert: Alert, *, seq: int) -> int:
    """Post (seq 1) or update the alert's card in every routed destination. Returns messages added.
    Critical alerts, and alerts about a successful call, go to the outbox's priority lane: ahead of everything
    else queued in their channel. An update of a folded alert names the principals new since its last post."""
    u = unit if isinstance(unit, Unit) else Unit(unit)
    added = await _enqueue(u, config, alert, key=card_key(alert.id), seq=seq, mention=None)
    if alert.escalated_at is not None:  # the escalation re-post shows the same alert: update it too
        added += await _enqueue(u, config, alert, key=escalation_key(alert.id), seq=seq, mention="channel")
    return added


async def enqueue_escalation(u: Unit, config: Config, alert: Alert, *, escalated_at: float, after_s: int) -> int:
    """Re-post an unacknowledged alert as a new message with a channel mention (@channel in Slack)."""
    escalated = replace(alert, escalated_at=escalated_at)
    return await _enqueue(u, config, escalated, key=escalation_key(alert.id), seq=0, mention="channel")


async def _enqueue(u: Unit, config: Config, alert: Alert, *, key: str, seq: int, mention: str | None) -> int:
    folded = await folded_summary(u.c, alert.id, new_since=alert.card_at if seq > 1 else None) \
        if alert.principal == FOLDED else None
    success = not alert.sample.error_code and alert.principal != FOLDED
    priority = 1 if alert.severity is Severity.CRITICAL or success else 0
    added = 0
    for target in route(config, Event(kind="security", severity=alert.severity.value)):
        card = render_alert_card(alert, repository=config.repository,
                                 mention=target.mention if mention is None else mention, folded=folded)
        if key != card_key(alert.id):
            card = replace(card, title=f"Escalated: {card.title}")
        msg = OutboundMessage(
            key=f"{key}:{seq}:{target.destination.platform.value}:{target.destination.address}",
            destination=target.destination, op=Op.CARD, card=card, card_key=key,
        )
        added += int(await u.enqueue(msg, priority=priority))
    return added


async def enqueue_join_note(u: Unit, config: Config, alert: Alert, *, principal: str, now: float) -> int:
    """"A new principal joined" under the folded alert's card: a thread reply on Slack, a message in the
    conversation for the Teams bot (webhooks cannot reply). The key holds the minute, so at most one note a
    minute per alert and destination is queued; the card's next update names every new principal."""
    note = Card(kind="security", title=f"{alert.title}: a new principal joined this alert",
                tone=_TONE[alert.severity], facts=(Fact("Principal", principal),),
                footer=f"alert {alert.id} · rule {alert.rule_id}")
    added = 0
    for target in route(config, Event(kind="security", severity=alert.severity.value)):
        dest = target.destination
        if dest.platform is not Platform.SLACK and not dest.address.startswith(TEAMS_BOT_PREFIX):
            continue
        msg = OutboundMessage(key=f"{card_key(alert.id)}:joined:{int(now // 60)}:{dest.platform.value}:{dest.address}",
                              destination=dest, op=Op.POST, card=note, card_key=card_key(alert.id))
        added += int(await u.enqueue(msg))
    return added
