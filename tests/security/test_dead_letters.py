"""Issue 24 item 3: events EventBridge or SNS gave up delivering reach the bot through the delivery dead-letter
queue (moto's server, a real boto3 client), become exactly one alert, and a late second copy changes nothing.

Message shapes, from AWS's documentation:
- EventBridge: the DLQ message body is the event as it was, with the message attributes RULE_ARN, TARGET_ARN,
  ERROR_CODE, ERROR_MESSAGE, EXHAUSTED_RETRY_CONDITION and RETRY_ATTEMPTS (EventBridge User Guide, "Using
  dead-letter queues to process undelivered events", docs.aws.amazon.com/eventbridge/latest/userguide/rule-dlq.html).
- SNS: the subscription's undeliverable message, i.e. the JSON envelope an HTTPS endpoint is sent (raw message
  delivery is off in infra/modules/security-events), Amazon SNS Developer Guide, "Amazon SNS dead-letter queues"
  and "Fanout ... to Amazon SQS queues" for the envelope's fields; the envelope below is a published one
  (tests/fixtures/published/aws/sns) with our event as its Message.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.web import Application

from bot.alerts.settings import parse_security
from bot.alerts.sqs import SqsPoller
from bot.alerts.worker import SecurityWorker
from bot.config import Config
from bot.errors import ConfigError
from bot.store.store import Store
from chatops.app import STORE
from handlers.aws import add_routes
from sandbox.stack import EXAMPLE_CONFIG, Stack, wait_for
from tests.security.conftest import API_KEY, SHARED_SNS, envelope, load, make_config

REGION = "us-east-1"
RULE = "arn:aws:events:us-east-1:123456789012:rule/chatops-cloudtrail-tampering"
DESTINATION = "arn:aws:events:us-east-1:123456789012:api-destination/chatops-chatops-bot/0a1b2c3d"


@pytest.fixture
def sqs(moto_endpoint: str) -> Any:
    return boto3.client("sqs", region_name=REGION, endpoint_url=moto_endpoint, aws_access_key_id="testing",
                        aws_secret_access_key="testing")


@pytest.fixture
def delivery_dlq(sqs: Any) -> str:
    return str(sqs.create_queue(QueueName=f"dlq-{uuid.uuid4().hex[:12]}")["QueueUrl"])


def dlq_config(delivery_dlq: str) -> Config:
    # API destination target: no target queue, only the delivery dead-letter queue is drained
    return make_config(sqs={"region": REGION, "delivery_dlq_url": delivery_dlq, "wait_seconds": 1,
                            "visibility_timeout": 0})


def put_eventbridge_dead_letter(sqs: Any, url: str, event: dict[str, Any]) -> None:
    text = {"DataType": "String"}
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(event), MessageAttributes={
        "RULE_ARN": {**text, "StringValue": RULE},
        "TARGET_ARN": {**text, "StringValue": DESTINATION},
        "ERROR_CODE": {**text, "StringValue": "CONNECTION_FAILURE"},
        "ERROR_MESSAGE": {**text, "StringValue": "Connection to the endpoint failed."},
        "EXHAUSTED_RETRY_CONDITION": {**text, "StringValue": "MaximumRetryAttempts"},
        "RETRY_ATTEMPTS": {"DataType": "Number", "StringValue": "20"},
    })


def sns_envelope(event: dict[str, Any], *, message_id: str) -> dict[str, Any]:
    published = json.loads(
        (SHARED_SNS / "http-notification.sigv2.no-subject.aws-php-sns-message-validator.json").read_text())
    return {**published, "MessageId": message_id, "Message": json.dumps(event),
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:chatops-security-events"}


async def drain(store: Store, config: Config, sqs: Any, url: str) -> int:
    """Drain the queue through the SQS ingress, then let the security worker process what was recorded."""
    poller = SqsPoller(store, config, client=sqs, queue_url=url)
    total = 0
    while n := await poller.run_once(wait_seconds=0):
        total += n
    await SecurityWorker(store, config).run_once()
    return total


async def effects(store: Store) -> dict[str, Any]:
    async with store.unit() as u:
        alerts = await u.c.fetch("SELECT rule_id, event_count FROM security_alerts")
        inbox = await u.c.fetch("SELECT key FROM inbox")
        outbox = await u.c.fetch("SELECT key FROM outbox")
    return {
        "alerts": [(r["rule_id"], r["event_count"]) for r in alerts],
        "inbox": sorted(r["key"] for r in inbox),
        "outbox": sorted(r["key"] for r in outbox),
    }


def queue_empty(sqs: Any, url: str) -> bool:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages",
                                                                  "ApproximateNumberOfMessagesNotVisible"])
    return set(attrs["Attributes"].values()) == {"0"}


async def test_eventbridge_dead_letter_becomes_one_alert_and_a_second_copy_changes_nothing(
    sqs: Any, delivery_dlq: str, store: Store,
) -> None:
    config = dlq_config(delivery_dlq)
    event = envelope(load("stop-logging.panther-analysis.json"), event_id=str(uuid.uuid4()))
    put_eventbridge_dead_letter(sqs, delivery_dlq, event)
    assert await drain(store, config, sqs, delivery_dlq) == 1
    first = await effects(store)
    assert first["alerts"] == [("cloudtrail-tampering", 1)]
    assert first["inbox"] == [f"eventbridge:{event['id']}"]
    assert len(first["outbox"]) == 1  # one card
    assert queue_empty(sqs, delivery_dlq)  # deleted once recorded

    put_eventbridge_dead_letter(sqs, delivery_dlq, event)  # a late copy: EventBridge delivers at least once
    assert await drain(store, config, sqs, delivery_dlq) == 1
    assert await effects(store) == first
    assert queue_empty(sqs, delivery_dlq)


async def test_dead_letter_of_an_event_already_delivered_over_https_changes_nothing(
    sqs: Any, delivery_dlq: str, store: Store,
) -> None:
    """The bot recorded the event but EventBridge saw a failure (e.g. its 5 s timeout): its dead letter is a no-op."""
    config = dlq_config(delivery_dlq)
    event = envelope(load("create-access-key.panther-analysis.yml-derived.json"), event_id=str(uuid.uuid4()))
    app = Application()
    add_routes(app.router, store=store, settings=parse_security(config.raw["security"]), api_key=API_KEY)
    async with TestClient(TestServer(app, host="127.0.0.1")) as http:
        resp = await http.post("/aws/events", data=json.dumps(event), headers={"x-api-key": API_KEY})
        assert resp.status == 200
    await SecurityWorker(store, config).run_once()
    first = await effects(store)
    assert first["alerts"] == [("iam-persistence", 1)]

    put_eventbridge_dead_letter(sqs, delivery_dlq, event)
    assert await drain(store, config, sqs, delivery_dlq) == 1
    assert await effects(store) == first
    assert queue_empty(sqs, delivery_dlq)


async def test_sns_dead_letter_envelope_becomes_one_alert_and_a_second_copy_changes_nothing(
    sqs: Any, delivery_dlq: str, store: Store,
) -> None:
    config = dlq_config(delivery_dlq)
    event = envelope(load("console-login.root-no-mfa.awsdocs.json"), event_id=str(uuid.uuid4()))
    body = json.dumps(sns_envelope(event, message_id=str(uuid.uuid4())))
    sqs.send_message(QueueUrl=delivery_dlq, MessageBody=body)
    assert await drain(store, config, sqs, delivery_dlq) == 1
    first = await effects(store)
    assert first["alerts"] == [("root-activity", 1)] and len(first["outbox"]) == 1
    sqs.send_message(QueueUrl=delivery_dlq, MessageBody=body)
    assert await drain(store, config, sqs, delivery_dlq) == 1
    assert await effects(store) == first


async def test_poison_in_the_delivery_dlq_is_parked_not_drained_again(sqs: Any, delivery_dlq: str,
                                                                       store: Store) -> None:
    parked = str(sqs.create_queue(QueueName=f"parked-{uuid.uuid4().hex[:12]}")["QueueUrl"])
    config = make_config(sqs={"region": REGION, "delivery_dlq_url": delivery_dlq, "dead_letter_queue_url": parked})
    sqs.send_message(QueueUrl=delivery_dlq, MessageBody="{not json")
    assert await drain(store, config, sqs, delivery_dlq) == 1
    assert queue_empty(sqs, delivery_dlq)
    moved = sqs.receive_message(QueueUrl=parked, WaitTimeSeconds=0)["Messages"]
    assert [m["Body"] for m in moved] == ["{not json"]
    with pytest.raises(ValueError, match="not drained"):
        SqsPoller(store, config, client=sqs, queue_url=parked)


@pytest.mark.parametrize("sqs_section", [
    {"delivery_dlq_url": "https://sqs.us-east-1.amazonaws.com/1/q", "dead_letter_queue_url":
     "https://sqs.us-east-1.amazonaws.com/1/q"},
    {"queue_url": "https://sqs.us-east-1.amazonaws.com/1/q", "dead_letter_queue_url":
     "https://sqs.us-east-1.amazonaws.com/1/q"},
    {"queue_url": "https://sqs.us-east-1.amazonaws.com/1/q", "delivery_dlq_url": "https://sqs.us-east-1.amazonaws.com/1/q"},
    {"delivery_dlq_url": "ftp://x"},
])
def test_config_refuses_queues_that_would_loop(sqs_section: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        parse_security({"sqs": sqs_section})


def test_drained_queues_are_the_target_and_the_delivery_dlq() -> None:
    settings = parse_security({"sqs": {"queue_url": "https://sqs.us-east-1.amazonaws.com/1/a",
                                       "delivery_dlq_url": "https://sqs.us-east-1.amazonaws.com/1/b",
                                       "dead_letter_queue_url": "https://sqs.us-east-1.amazonaws.com/1/c"}})
    assert settings.sqs.drained() == ("https://sqs.us-east-1.amazonaws.com/1/a",
                                      "https://sqs.us-east-1.amazonaws.com/1/b")


async def test_the_app_drains_the_delivery_dlq_into_one_card(
    moto_endpoint: str, sqs: Any, delivery_dlq: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Through the real app (sandbox Stack): chatops/app.py starts a poller for security.sqs.delivery_dlq_url, and an
    EventBridge dead letter ends as one card in the security channel; a second copy adds nothing."""
    for key, value in {"AWS_ENDPOINT_URL": moto_endpoint, "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(key, value)  # boto3 inside the app reads these, as it reads a task role's in AWS
    config = tmp_path / "chatops.yml"
    config.write_text(EXAMPLE_CONFIG.read_text(encoding="utf-8") + (
        "  card_update_interval: 0\n"
        "  sqs:\n"
        f"    delivery_dlq_url: {delivery_dlq}\n"
        f"    region: {REGION}\n"
        "    wait_seconds: 0\n"
    ), encoding="utf-8")
    event = envelope(load("stop-logging.panther-analysis.json"), event_id=str(uuid.uuid4()))
    async with Stack(database_url=f"sqlite:///{tmp_path}/chatops.db", config_path=config) as stack:
        put_eventbridge_dead_letter(sqs, delivery_dlq, event)
        await wait_for(lambda: len(stack.slack.posts("C0SECURITY")) >= 1, timeout=30, what="the alert card")
        put_eventbridge_dead_letter(sqs, delivery_dlq, event)
        await wait_for(lambda: queue_empty(sqs, delivery_dlq), timeout=30, what="the second copy drained")
        assert stack.app is not None
        store = stack.app[STORE]
        async with store.unit() as u:  # the copy was received and deleted: the inbox holds the event once
            inbox = await u.c.fetch("SELECT key FROM inbox")
            alerts = await u.c.fetch("SELECT event_count FROM security_alerts")
        assert [r["key"] for r in inbox] == [f"eventbridge:{event['id']}"]
        assert [r["event_count"] for r in alerts] == [1]
        assert len(stack.slack.posts("C0SECURITY")) == 1
