"""The security worker: drains recorded raw items into events, alert groups and outbox cards, in one transaction.

Aggregation: events group by (rule, principal, account) while the group's last event is within the sliding
window and the alert is not resolved. A new group's card is enqueued at once; later events mark the alert
dirty and the card is updated at most once per ``card_update_interval`` (the outbox also coalesces pending
updates of the same card and keeps ~1 message/s per channel).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from bot.alerts.cards import enqueue_card, enqueue_join_note
from bot.alerts.escalation import escalate_due
from bot.alerts.globs import glob_matcher
from bot.alerts.model import SecurityEvent
from bot.alerts.normalize import NotCloudTrail, parse_events
from bot.alerts.paths import values_at, values_under
from bot.alerts.rules import Rule, best_rule
from bot.alerts.settings import SecuritySettings, security_settings
from bot.alerts.store_ops import (
    FOLDED,
    Alert,
    add_distinct,
    bump,
    create_alert,
    dirty_alerts,
    event_seen,
    find_fold_alert,
    find_open_alert,
    insert_event,
    is_new_principal,
    mark_carded,
    new_alert_id,
    open_principal_alerts,
    save_counts,
)
from bot.config import Config
from bot.oidc_subjects import allowed_subjects
from bot.store.store import Store, Unit
from bot.wire import parse_json

log = logging.getLogger(__name__)
SOURCE = "security"  # inbox source for every raw security item
_OWN_PATHS = ("resources.ARN", "requestParameters.")


async def record_raw(unit: Unit, *, key: str, kind: str, body: str) -> bool:
    """Durably record one raw item (EventBridge event / CloudTrail payload). False = already recorded."""
    return await unit.inbox_add(source=SOURCE, key=key, kind=kind, body=body)


def _own_values(e: SecurityEvent) -> list[str]:
    """The values at resources.ARN and under requestParameters. (a CloudTrail record is read by path, not flattened)."""
    if e.doc is None or e.fields:
        return [v for k, v in e.all_fields() if k == _OWN_PATHS[0] or k.startswith(_OWN_PATHS[1])]
    return values_at(e.doc, _OWN_PATHS[0]) + values_under(e.doc, _OWN_PATHS[1].rstrip("."))


class SecurityWorker:
    """Owned background task: ``await worker.run(stop)``; ``run_once()`` returns how much work it did."""

    def __init__(
        self,
        store: Store,
        config: Config,
        *,
        settings: SecuritySettings | None = None,
        clock: Callable[[], float] = time.time,
        batch: int = 500,
        idle_s: float = 0.25,
        gather_s: float = 0.05,
        page: bool = False,
    ) -> None:
        self.store = store
        self.config = config
        self.settings = settings or security_settings(config)
        self.clock = clock
        self.batch = batch
        self.idle_s = idle_s
        self.gather_s = gather_s  # after a part batch: let items gather (bounds passes to ~1/gather_s per second)
        # default: exactly the subjects the shipped workflows present, for every configured repository (issue 22
        # item 14: `repo:<repo>:*` silenced any branch or pull request of the main repository and flagged the others)
        repos = [config.repository, *(s.repository for s in config.services.values())]
        self._subjects = self.settings.github_allowed_subjects or allowed_subjects(repos, config.environments)
        self._subject_allowed = glob_matcher(tuple(self._subjects))
        self.page = page  # escalations are also triggered in PagerDuty (bot/alerts/pagerduty.py)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                n = await self.run_once()
            except Exception:  # keep the task alive; the batch rolled back and is retried
                log.exception("security worker: batch failed")
                n = 0
            # nothing to do: idle; a part batch: pause briefly so the next pass takes many items at once (each
            # pass costs a transaction and several statements whatever its size; under a steady stream of events
            # back-to-back passes of a few items each took the CPU that ingest needed); a full batch: go on
            pause = self.idle_s if n == 0 else self.gather_s if n < self.batch else 0.0
            if pause:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=pause)
                except TimeoutError:
                    pass
        log.info("security worker stopped")

    async def run_once(self) -> int:
        async with self.store.unit() as u:
            if u.c.dialect == "postgres":
                # alert groups are read-modify-write: one replica's batch at a time (batches take milliseconds)
                await u.c.execute("SELECT pg_advisory_xact_lock(4244)")
            items = await u.inbox_claim(source=SOURCE, limit=self.batch, lease_s=60.0)
            if items:
                await self._process(u, items)
            flushed = await self._flush(u)
            flushed += await escalate_due(u, self.config, self.settings, now=self.clock(), page=self.page)
        return len(items) + flushed

    # ------------------------------------------------------------------ processing
    def derived(self, e: SecurityEvent) -> dict[str, str]:
        out: dict[str, str] = {}
        # each glob list is one compiled regex (bot/alerts/globs.py), the same answers as fnmatchcase per pattern
        if e.github.subject:
            ok = self._subject_allowed(e.github.subject)
            out["bot.github_subject_allowed"] = "true" if ok else "false"
        if self.settings.own_resources:
            own = glob_matcher(tuple(self.settings.own_resources))
            hit = any(own(v) for v in _own_values(e))
            out["bot.own_resource"] = "true" if hit else "false"
        return out

    def classify(self, e: SecurityEvent) -> tuple[Rule | None, bool]:
        return best_rule(self.settings.rules, e, self.derived(e), allow=self.settings.allow)

    async def _process(self, u: Unit, items: list[dict[str, Any]]) -> None:
        touched: dict[tuple[str, str, str], Alert] = {}
        created: set[str] = set()
        stats: dict[str, int] = {}
        now = self.clock()
        done: list[int] = []
        for item in items:
            try:
                events, skipped = parse_events(parse_json(item["body"]))  # json.loads's answer, by orjson (bot.wire)
            except (ValueError, NotCloudTrail) as exc:
                reason = str(exc) if isinstance(exc, NotCloudTrail) else "malformed JSON"
                log.info("security item ignored: id=%s key=%s reason=%s", item["id"], item["key"], reason)
                await u.inbox_done(int(item["id"]), state="ignored", error=reason)
                stats["ignored_items"] = stats.get("ignored_items", 0) + 1
                continue
            stats["skipped_records"] = stats.get("skipped_records", 0) + len(skipped)
            for e in events:
                outcome = await self._ingest(u, e, touched=touched, created=created, now=now)
                stats[outcome] = stats.get(outcome, 0) + 1
            done.append(int(item["id"]))
        await u.inbox_done_many(done)
        for alert in touched.values():
            if alert.id in created:
                await enqueue_card(u, self.config, alert, seq=1)
                alert = replace(alert, dirty=False, card_at=now, card_seq=1)
            await save_counts(u.c, alert)
        for name, n in stats.items():
            await bump(u.c, name, n)

    async def _ingest(
        self, u: Unit, e: SecurityEvent, *, touched: dict[tuple[str, str, str], Alert], created: set[str],
        now: float,
    ) -> str:
        rule, suppressed = self.classify(e)
        if rule is None:
            return "unmatched"
        if suppressed:
            return "suppressed"
        found = await self._alert_for(u, e, rule, touched=touched, created=created, now=now)
        if found is None:
            return "duplicates"
        key, alert = found
        if not await insert_event(u.c, e, alert_id=alert.id, rule_id=rule.id, now=now):
            touched.setdefault(key, alert)
            return "duplicates"
        touched[key] = replace(
            alert,
            event_count=alert.event_count + 1,
            first_seen=min(alert.first_seen, e.event_time),
            last_seen=max(alert.last_seen, e.event_time),
            actions=add_distinct(alert.actions, e.event_name),
            regions=add_distinct(alert.regions, e.region),
            source_ips=add_distinct(alert.source_ips, e.source_ip),
            dirty=True,
        )
        return "events"

    async def _alert_for(
        self, u: Unit, e: SecurityEvent, rule: Rule, *, touched: dict[tuple[str, str, str], Alert],
        created: set[str], now: float,
    ) -> tuple[tuple[str, str, str], Alert] | None:
        """The open alert ``e`` belongs to, opened if needed: the principal's own of the same outcome, else, for a
        failure once the rule has ``fold_after`` principals with alerts of their own in the window, the rule's
        folded alert (one card for the many; an attacker choosing role session names cannot bury the channel).
        A successful call never folds and never joins a card of failures: it gets its own card at once, in the
        priority lane (issue 22 item 1). None = a duplicate event."""
        since = e.event_time - self.settings.window_s
        success = not e.error_code
        key = (rule.id, e.principal_arn + ("\0ok" if success else ""), e.account)
        alert = touched.get(key)
        if alert is None or alert.last_seen < since:
            alert = await find_open_alert(u.c, rule_id=rule.id, principal=e.principal_arn, account=e.account,
                                          since=since, success=success)
        if alert is not None:
            return key, alert
        if await event_seen(u.c, e.event_id):
            return None
        fold_key = (rule.id, FOLDED, "")
        if not success:
            alert = touched.get(fold_key)
            if alert is None or alert.last_seen < since:
                alert = await find_fold_alert(u.c, rule_id=rule.id, since=since)
            if alert is not None:
                await self._note_new_principal(u, alert, e, now=now)
                return fold_key, alert
        fold = not success and await open_principal_alerts(u.c, rule_id=rule.id, since=since) >= \
            self.settings.fold_after
        alert = Alert(
            id=new_alert_id(), rule_id=rule.id, title=rule.title, severity=rule.severity,
            principal=FOLDED if fold else e.principal_arn, account=e.account, state="open", event_count=0,
            first_seen=e.event_time, last_seen=e.event_time, actions=(), regions=(), source_ips=(), sample=e,
            created_at=now,
        )
        await create_alert(u.c, alert)
        created.add(alert.id)
        log.info("security alert opened: alert=%s rule=%s severity=%s folded=%s success=%s", alert.id, rule.id,
                 rule.severity, fold, success)
        return (fold_key if fold else key), alert

    async def _note_new_principal(self, u: Unit, alert: Alert, e: SecurityEvent, *, now: float) -> None:
        """A principal joins a folded alert: a note in the card's thread, at most one a minute per alert."""
        if await is_new_principal(u.c, alert_id=alert.id, principal=e.principal_arn):
            await enqueue_join_note(u, self.config, alert, principal=e.principal_arn, now=now)

    async def _flush(self, u: Unit) -> int:
        """Update cards of alerts that changed, at most once per interval each."""
        now = self.clock()
        due = await dirty_alerts(u.c, due_before=now - self.settings.card_update_interval_s)
        for alert in due:
            seq = alert.card_seq + 1
            await enqueue_card(u, self.config, alert, seq=seq)
            await mark_carded(u.c, alert.id, at=now, seq=seq)
        return len(due)


def counters_view(values: Mapping[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(values.items()))
