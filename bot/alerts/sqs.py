"""SQS poller (EventBridge rule -> SQS queue): long polling with boto3 off the event loop.

A message is deleted only after its payload is durably recorded in the inbox. A message that cannot be
parsed is moved aside at once (dead-letter queue if configured, else deleted with an audit entry); a
message whose recording keeps failing is moved aside once it has been received ``max_receives`` times.
Nothing is retried forever and one bad message never blocks the others.

One poller per drained queue: the target queue (``queue_url``) and the security-events module's delivery
dead-letter queue (``delivery_dlq_url``), where EventBridge puts an event its API destination target could not
deliver (the body is the event as it was, plus the message attributes RULE_ARN, TARGET_ARN, ERROR_CODE,
ERROR_MESSAGE, EXHAUSTED_RETRY_CONDITION, RETRY_ATTEMPTS: EventBridge User Guide, "Using dead-letter queues to
process undelivered events") and SNS a notification its HTTPS subscription could not deliver (the body is the
SNS JSON envelope, as with raw message delivery off). Both are keyed like the HTTPS ingress (EventBridge ``id``,
SNS ``MessageId``), so a late copy of an event the bot already recorded records nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from typing import Any

from bot.alerts.normalize import NotCloudTrail, check_payload, inbox_key
from bot.alerts.settings import SecuritySettings, security_settings
from bot.alerts.store_ops import bump
from bot.alerts.worker import record_raw
from bot.config import Config
from bot.domain import AuditEntry
from bot.store.store import Store
from bot.wire import parse_json

log = logging.getLogger(__name__)


def unwrap(body: str) -> tuple[str, str, str]:
    """``(kind, payload_json, inbox_key)`` from an SQS body: an EventBridge event, a CloudTrail payload, or an SNS
    envelope around one (SNS -> SQS without raw delivery, or an SNS dead letter). Raises NotCloudTrail /
    ValueError."""
    obj = parse_json(body)
    sns_id = ""
    if isinstance(obj, dict) and obj.get("Type") == "Notification" and isinstance(obj.get("Message"), str):
        sns_id = str(obj.get("MessageId") or "")
        obj = parse_json(obj["Message"])
    records = check_payload(obj)  # validates; raises NotCloudTrail with a reason
    kind = "eventbridge" if isinstance(obj, dict) and "detail-type" in obj else "cloudtrail"
    key = f"sns:{sns_id}" if sns_id else inbox_key(obj, records)
    return kind, json.dumps(obj, separators=(",", ":")), key


class SqsPoller:
    def __init__(
        self, store: Store, config: Config, *, settings: SecuritySettings | None = None, client: Any = None,
        queue_url: str = "",
    ) -> None:
        """Polls ``queue_url`` (default: ``security.sqs.queue_url``; chatops/app.py starts one per drained queue)."""
        self.store = store
        self.settings = settings or security_settings(config)
        sq = self.settings.sqs
        self.queue_url = queue_url or sq.queue_url
        if not self.queue_url:
            raise ValueError("security.sqs.queue_url is not configured")
        if self.queue_url == sq.dead_letter_queue_url:
            raise ValueError("the poison queue (security.sqs.dead_letter_queue_url) is not drained")
        if client is None:
            import boto3  # here, not at the top: a bot without an SQS queue never loads boto3 (0.1 s of every start)

            client = boto3.client("sqs", region_name=sq.region or None)
        self.client = client

    async def run(self, stop: asyncio.Event) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        while not stop.is_set():
            try:
                await self.run_once()
            except (BotoCoreError, ClientError) as exc:
                log.warning("sqs receive failed: %s", type(exc).__name__)
                try:
                    await asyncio.wait_for(stop.wait(), timeout=5.0)
                except TimeoutError:
                    pass
        log.info("sqs poller stopped")

    async def run_once(self, *, wait_seconds: int | None = None) -> int:
        """Receive up to 10 messages (long poll) and handle each. Returns how many were received."""
        sq = self.settings.sqs
        resp = await asyncio.to_thread(
            self.client.receive_message,
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=sq.wait_seconds if wait_seconds is None else wait_seconds,
            VisibilityTimeout=sq.visibility_timeout,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
            MessageAttributeNames=["ERROR_CODE"],  # set on EventBridge dead letters (logged, never trusted)
        )
        messages = resp.get("Messages", [])
        for m in messages:
            await self._handle(m)
        return len(messages)

    async def _handle(self, m: dict[str, Any]) -> None:
        message_id = str(m.get("MessageId", ""))
        receives = int(m.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        body = str(m.get("Body", ""))
        try:
            kind, payload, key = unwrap(body)
        except (ValueError, NotCloudTrail) as exc:
            reason = str(exc) if isinstance(exc, NotCloudTrail) else "malformed JSON"
            await self._move_aside(m, reason=reason)
            return
        try:
            async with self.store.unit() as u:
                added = await record_raw(u, key=key, kind=kind, body=payload)
        except Exception:  # recording failed: leave the message; it comes back after the visibility timeout
            log.exception("sqs message not recorded: id=%s receives=%d", message_id, receives)
            if receives >= self.settings.sqs.max_receives:
                await self._move_aside(m, reason=f"not recorded after {receives} receives")
            return
        if self.queue_url == self.settings.sqs.delivery_dlq_url:
            error = m.get("MessageAttributes", {}).get("ERROR_CODE", {}).get("StringValue", "")
            log.info("dead letter recovered: key=%s error=%s duplicate=%s", key[:80], str(error)[:40], not added)
        await asyncio.to_thread(self.client.delete_message, QueueUrl=self.queue_url,
                                ReceiptHandle=m["ReceiptHandle"])

    async def _move_aside(self, m: dict[str, Any], *, reason: str) -> None:
        message_id = str(m.get("MessageId", ""))
        dlq = self.settings.sqs.dead_letter_queue_url
        if dlq:
            await asyncio.to_thread(self.client.send_message, QueueUrl=dlq, MessageBody=str(m.get("Body", "")))
        async with self.store.unit() as u:
            await bump(u.c, "sqs_poison")
            await u.audit(AuditEntry(
                at=datetime.now(UTC), actor="system:sqs", action="security.sqs.poison", target=message_id,
                channel="", result="moved" if dlq else "deleted", detail=reason[:200],
            ))
        await asyncio.to_thread(self.client.delete_message, QueueUrl=self.queue_url,
                                ReceiptHandle=m["ReceiptHandle"])
        log.warning("sqs poison message %s: id=%s reason=%s", "moved" if dlq else "deleted", message_id, reason)
