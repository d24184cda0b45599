"""EventBridge API destination and SNS subscription, driven over real HTTP through aiohttp's TestServer."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.alerts.settings import security_settings
from bot.alerts.store_ops import counters
from bot.alerts.worker import SecurityWorker
from bot.config import Config
from bot.store.store import Store
from handlers.aws import add_routes
from tests.security.conftest import API_KEY, EXPECTED, TOPIC, LoopbackTls, envelope, load


async def alerts(store: Store) -> list[dict[str, Any]]:
    async with store.unit() as u:
        return await u.c.fetch("SELECT id, rule_id, severity, event_count, principal FROM security_alerts")


async def inbox_rows(store: Store) -> int:
    async with store.unit() as u:
        row = await u.c.fetchrow("SELECT COUNT(*) AS n FROM inbox")
    return int(row["n"]) if row else 0


@pytest.fixture
async def client(store: Store, config: Config, tls: LoopbackTls) -> AsyncIterator[TestClient[Any, Any]]:
    app = web.Application()
    add_routes(app.router, store=store, settings=security_settings(config), api_key=API_KEY,
               ssl_context=tls.client_ctx)
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as c:
        yield c


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_eventbridge_fixture_makes_one_alert(client: TestClient[Any, Any], store: Store, config: Config,
                                                   name: str) -> None:
    body = envelope(load(name))
    r = await client.post("/aws/events", json=body, headers={"x-api-key": API_KEY})
    assert r.status == 200, await r.text()
    await SecurityWorker(store, config).run_once()
    rows = await alerts(store)
    assert [(a["rule_id"], a["severity"], a["event_count"]) for a in rows] == [(*EXPECTED[name], 1)]
    # re-sent: same EventBridge id is a duplicate at the door; a new envelope id is a duplicate by eventID
    r = await client.post("/aws/events", json=body, headers={"x-api-key": API_KEY})
    assert (await r.json())["duplicate"] is True
    r = await client.post("/aws/events", json=envelope(load(name)), headers={"x-api-key": API_KEY})
    assert (await r.json())["duplicate"] is False
    await SecurityWorker(store, config).run_once()
    assert [a["event_count"] for a in await alerts(store)] == [1]
    async with store.unit() as u:
        assert (await counters(u.c)).get("duplicates") == 1


async def test_raw_record_and_log_file_are_accepted(client: TestClient[Any, Any], store: Store,
                                                   config: Config) -> None:
    r = await client.post("/aws/events", json=load("console-login.iam-user-no-mfa.logfile.awsdocs.json"),
                          headers={"x-api-key": API_KEY})
    assert r.status == 200
    r = await client.post("/aws/events", json=load("stop-logging.panther-analysis.json"),
                          headers={"x-api-key": API_KEY})
    assert r.status == 200
    await SecurityWorker(store, config).run_once()
    assert sorted(a["rule_id"] for a in await alerts(store)) == ["cloudtrail-tampering", "console-login-without-mfa"]


@pytest.mark.parametrize("headers", [{}, {"x-api-key": "wrong"}, {"x-api-key": ""}, {"X-API-KEY": API_KEY + "x"}])
async def test_wrong_or_missing_api_key_is_401(client: TestClient[Any, Any], store: Store,
                                               headers: dict[str, str]) -> None:
    r = await client.post("/aws/events", json=envelope(load(sorted(EXPECTED)[0])), headers=headers)
    assert r.status == 401
    assert await inbox_rows(store) == 0


@pytest.mark.parametrize(("body", "reason"), [
    (b"{not json", "malformed JSON"),
    (b"[1, 2]", "expected a JSON object"),
    (json.dumps({"version": "0", "id": "x", "detail-type": "EC2 Instance State-change Notification",
                 "detail": {}}).encode(), "is not a CloudTrail event"),
    (json.dumps({"hello": "world"}).encode(), "eventName is missing"),
    (json.dumps({"Records": []}).encode(), "non-empty list"),
])
async def test_bad_eventbridge_bodies_are_400_with_reason(client: TestClient[Any, Any], store: Store,
                                                          body: bytes, reason: str) -> None:
    r = await client.post("/aws/events", data=body, headers={"x-api-key": API_KEY,
                                                             "Content-Type": "application/json"})
    assert r.status == 400
    assert reason in (await r.json())["error"]
    assert await inbox_rows(store) == 0


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_sns_notification_fixture_makes_one_alert(client: TestClient[Any, Any], store: Store,
                                                        config: Config, tls: LoopbackTls, name: str) -> None:
    msg = tls.notification(json.dumps(envelope(load(name))))
    r = await client.post("/aws/sns", json=msg, headers={"x-amz-sns-message-type": "Notification"})
    assert r.status == 200, await r.text()
    r = await client.post("/aws/sns", json=msg)  # SNS redelivery: same MessageId
    assert (await r.json())["duplicate"] is True
    await SecurityWorker(store, config).run_once()
    rows = await alerts(store)
    assert [(a["rule_id"], a["severity"], a["event_count"]) for a in rows] == [(*EXPECTED[name], 1)]
    assert len(tls.hits) == 1  # certificate fetched once, then cached


async def test_sns_signature_v1_and_cert_cache(client: TestClient[Any, Any], store: Store,
                                               tls: LoopbackTls) -> None:
    for v in ("1", "2", "1"):
        msg = tls.notification(json.dumps(envelope(load("stop-logging.panther-analysis.json"))), version=v)
        assert (await client.post("/aws/sns", json=msg)).status == 200
    assert len(tls.hits) == 1


def _tamper(msg: dict[str, str], **changes: str) -> dict[str, str]:
    return {**msg, **changes}


@pytest.mark.parametrize("case", ["bad-signature", "other-host", "http", "unknown-topic", "bad-version",
                                  "garbled-signature"])
async def test_sns_rejections_are_403_nothing_recorded_nothing_fetched(
    client: TestClient[Any, Any], store: Store, tls: LoopbackTls, case: str
) -> None:
    good = tls.notification(json.dumps(envelope(load("stop-logging.panther-analysis.json"))))
    port = tls.base.rsplit(":", 1)[1]
    msg = {
        "bad-signature": _tamper(good, Message=good["Message"].replace("StopLogging", "StartLogging")),
        "other-host": tls.sign({**{k: good[k] for k in ("Type", "MessageId", "TopicArn", "Message", "Timestamp")},
                                "SigningCertURL": f"https://localhost:{port}/SimpleNotificationService-test.pem"}),
        "http": tls.sign({**{k: good[k] for k in ("Type", "MessageId", "TopicArn", "Message", "Timestamp")},
                          "SigningCertURL": f"http://127.0.0.1:{port}/SimpleNotificationService-test.pem"}),
        "unknown-topic": tls.notification(good["Message"], topic="arn:aws:sns:us-east-1:123456789012:other"),
        "bad-version": _tamper(good, SignatureVersion="3"),
        "garbled-signature": _tamper(good, Signature="!!!not-base64!!!"),
    }[case]
    r = await client.post("/aws/sns", json=msg)
    assert r.status == 403
    assert await inbox_rows(store) == 0
    if case in ("other-host", "http", "unknown-topic", "bad-version", "garbled-signature"):
        assert tls.hits == []


async def test_sns_malformed_and_non_cloudtrail(client: TestClient[Any, Any], store: Store,
                                                tls: LoopbackTls) -> None:
    r = await client.post("/aws/sns", data=b"{nope", headers={"Content-Type": "text/plain"})
    assert r.status == 400
    r = await client.post("/aws/sns", json=tls.notification("Hello world"))
    assert r.status == 200 and "ignored" in await r.json()  # authentic: SNS must not retry; counted
    r = await client.post("/aws/sns", json=tls.notification(json.dumps({"detail-type": "Other", "detail": {}})))
    assert r.status == 200 and "ignored" in await r.json()
    assert await inbox_rows(store) == 0
    async with store.unit() as u:
        assert (await counters(u.c))["sns_ignored"] == 2


async def test_subscription_confirmation(client: TestClient[Any, Any], store: Store, tls: LoopbackTls) -> None:
    sub = {"Type": "SubscriptionConfirmation", "MessageId": "m-1", "Token": "tok", "TopicArn": TOPIC,
           "Message": "You have chosen to subscribe", "Timestamp": "2024-01-01T00:00:00.000Z",
           "SubscribeURL": f"{tls.base}/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=tok"}
    r = await client.post("/aws/sns", json=tls.sign(sub), headers={"x-amz-sns-message-type":
                                                                   "SubscriptionConfirmation"})
    assert r.status == 200 and (await r.json())["confirmed"] is True
    assert any(h.startswith("/?Action=ConfirmSubscription") for h in tls.hits)
    # an unknown topic is never confirmed, and nothing is fetched for it
    tls.hits.clear()
    other = tls.sign({**sub, "TopicArn": "arn:aws:sns:us-east-1:123456789012:other"})
    assert (await client.post("/aws/sns", json=other)).status == 403
    assert tls.hits == []
    # a SubscribeURL on a host that is not allowed is not fetched
    evil = tls.sign({**sub, "SubscribeURL": "https://example.com/?Action=ConfirmSubscription"})
    assert (await client.post("/aws/sns", json=evil)).status == 403
    assert not any(h.startswith("/?") for h in tls.hits)
    unsub = tls.sign({**sub, "Type": "UnsubscribeConfirmation"})
    assert (await client.post("/aws/sns", json=unsub)).status == 200
    async with store.unit() as u:
        log = await u.audit_log()
    assert [(e.action, e.result) for e in log][:1] == [("security.sns.subscribe", "ok")]
    assert ("security.sns.unsubscribed", "ok") in [(e.action, e.result) for e in log]


async def test_message_type_header_mismatch_is_400(client: TestClient[Any, Any], tls: LoopbackTls) -> None:
    msg = tls.notification("{}")
    r = await client.post("/aws/sns", json=msg, headers={"x-amz-sns-message-type": "SubscriptionConfirmation"})
    assert r.status == 400
