"""SQS path against moto's server: EventBridge rule -> SQS queue -> poller -> worker -> alert."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from bot.alerts.settings import security_settings
from bot.alerts.sqs import SqsPoller
from bot.alerts.store_ops import counters
from bot.alerts.worker import SecurityWorker
from bot.config import Config
from bot.store.store import Store
from tests.security.conftest import EXPECTED, load, make_config

REGION = "us-east-1"


def client(endpoint: str, service: str) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint, aws_access_key_id="testing",
                        aws_secret_access_key="testing")


@pytest.fixture
def queues(moto_endpoint: str, request: pytest.FixtureRequest) -> tuple[Any, str, str]:
    sqs = client(moto_endpoint, "sqs")
    name = request.node.name.replace("[", "-").replace("]", "").replace(".", "-")[:60]
    url = sqs.create_queue(QueueName=f"sec-{name}")["QueueUrl"]
    dlq = sqs.create_queue(QueueName=f"dlq-{name}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = client(moto_endpoint, "events")
    events.put_rule(Name=f"ct-{name}", EventPattern=json.dumps({"detail-type": [
        "AWS API Call via CloudTrail", "AWS Console Sign In via CloudTrail"]}))
    events.put_targets(Rule=f"ct-{name}", Targets=[{"Id": "q", "Arn": arn}])
    return sqs, url, dlq


def sqs_config(url: str, dlq: str = "", max_receives: int = 3) -> Config:
    return make_config(sqs={"queue_url": url, "region": REGION, "dead_letter_queue_url": dlq,
                            "max_receives": max_receives, "wait_seconds": 1, "visibility_timeout": 0})


def put_cloudtrail(endpoint: str, record: dict[str, Any]) -> None:
    dtype = "AWS Console Sign In via CloudTrail" if record["eventName"] == "ConsoleLogin" else \
        "AWS API Call via CloudTrail"
    out = client(endpoint, "events").put_events(Entries=[{
        "Source": "aws." + record["eventSource"].split(".")[0], "DetailType": dtype, "Detail": json.dumps(record),
    }])
    assert out["FailedEntryCount"] == 0


async def drain(poller: SqsPoller) -> int:
    total = 0
    while n := await poller.run_once(wait_seconds=0):
        total += n
    return total


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_sqs_fixture_makes_one_alert(moto_endpoint: str, queues: tuple[Any, str, str], store: Store,
                                           name: str) -> None:
    sqs, url, _ = queues
    config = sqs_config(url)
    put_cloudtrail(moto_endpoint, load(name))
    put_cloudtrail(moto_endpoint, load(name))  # the same record twice (same eventID)
    poller = SqsPoller(store, config, settings=security_settings(config), client=sqs)
    assert await drain(poller) == 2
    await SecurityWorker(store, config).run_once()
    async with store.unit() as u:
        rows = await u.c.fetch("SELECT rule_id, severity, event_count FROM security_alerts")
    assert [(r["rule_id"], r["severity"], r["event_count"]) for r in rows] == [(*EXPECTED[name], 1)]
    left = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    assert left["Attributes"]["ApproximateNumberOfMessages"] == "0"  # deleted once recorded


async def test_poison_messages_move_to_dlq_and_do_not_block(moto_endpoint: str, queues: tuple[Any, str, str],
                                                            store: Store) -> None:
    sqs, url, dlq = queues
    config = sqs_config(url, dlq)
    sqs.send_message(QueueUrl=url, MessageBody="{not json")
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"detail-type": "Scheduled Event", "detail": {}}))
    put_cloudtrail(moto_endpoint, load("stop-logging.panther-analysis.json"))
    poller = SqsPoller(store, config, client=sqs)
    assert await drain(poller) == 3
    await SecurityWorker(store, config).run_once()
    async with store.unit() as u:
        rows = await u.c.fetch("SELECT rule_id FROM security_alerts")
        log = await u.audit_log()
        counts = await counters(u.c)
    assert [r["rule_id"] for r in rows] == ["cloudtrail-tampering"]
    moved = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"][:9] for m in moved) == ['{"detail-', "{not json"]
    assert [e.result for e in log if e.action == "security.sqs.poison"] == ["moved", "moved"]
    assert counts["sqs_poison"] == 2
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)


async def test_poison_without_dlq_is_deleted_with_audit(queues: tuple[Any, str, str], store: Store) -> None:
    sqs, url, _ = queues
    config = sqs_config(url)
    sqs.send_message(QueueUrl=url, MessageBody="garbage")
    assert await drain(SqsPoller(store, config, client=sqs)) == 1
    async with store.unit() as u:
        log = await u.audit_log()
    assert [(e.action, e.result, e.detail) for e in log] == [("security.sqs.poison", "deleted", "malformed JSON")]
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)


async def test_recording_failure_is_retried_then_moved_aside(queues: tuple[Any, str, str], tmp_path: Any) -> None:
    sqs, url, dlq = queues
    config = sqs_config(url, dlq, max_receives=2)
    store = await Store.open(f"sqlite:///{tmp_path}/broken.db")
    async with store.unit() as u:  # the inbox is gone: recording fails until the message is moved aside
        await u.c.execute("DROP TABLE inbox")
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(load("stop-logging.panther-analysis.json")))
    poller = SqsPoller(store, config, client=sqs)
    assert await poller.run_once(wait_seconds=0) == 1  # receive 1: left in the queue
    assert await poller.run_once(wait_seconds=0) == 1  # receive 2: moved to the DLQ
    assert await poller.run_once(wait_seconds=0) == 0
    moved = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]
    assert len(moved) == 1
    await store.close()
