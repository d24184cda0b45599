"""Issue 24 item 2: GitHub records a delivery our endpoint did not answer 2xx as failed and never sends it again by
itself (docs.github.com/webhooks/using-webhooks/handling-failed-webhook-deliveries). The bot lists its App's hook
deliveries (App JWT) on start and every ``github.redeliver_every`` and asks GitHub to redeliver each failed
one, once."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sandbox.stack import Stack, message_text, wait_for
from tests.reliability.helpers import request_id
from tests.scenario.test_reconcile import config


def app_stack(tmp_path: Path) -> Stack:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    stack = Stack(database_url=f"sqlite:///{tmp_path}/bot.db",
                  config_path=config(tmp_path, redeliver_every="1s", reconcile_after="1h"),
                  extra_env={"GITHUB_TOKEN": "", "GITHUB_APP_ID": "4242", "GITHUB_APP_PRIVATE_KEY": pem,
                             "GITHUB_APP_INSTALLATION_ID": "1"})
    stack.github.app_id = 4242
    stack.github.app_public_key = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return stack


def listings(stack: Stack) -> int:
    return sum(1 for r in stack.github.requests if r.path == "/app/hook/deliveries" and r.status == 200)


async def test_a_failed_delivery_is_redelivered_once(tmp_path: Path) -> None:
    stack = app_stack(tmp_path)
    async with stack:
        stack.github.hooks.drop("workflow_run", "completed")
        _, answer = await stack.command("U0DEV", "api v1.4.2 to dev", key="cmd")
        rid = request_id(answer)
        await wait_for(lambda: any(d.status == 502 for d in stack.github.deliveries), timeout=20,
                       what="the completed webhook failed")
        failed = next(d for d in stack.github.deliveries if d.status == 502)
        await wait_for(lambda: any(rid in message_text(m) and "succeeded" in message_text(m)
                                   for m in stack.card_messages("C0DEPLOYS")), timeout=20,
                       what="the card at succeeded after the redelivery")
        copies = [d for d in stack.github.deliveries if d.delivery_id == failed.delivery_id and d.redelivery]
        assert len(copies) == 1 and copies[0].ok
        assert stack.github.redelivery_requests == [failed.id]
        seen = listings(stack)
        await wait_for(lambda: listings(stack) >= seen + 3, timeout=20, what="three more passes")
        assert stack.github.redelivery_requests == [failed.id], "an event is redelivered once"
        jwt_calls = [r for r in stack.github.requests if r.path.startswith("/app/hook/deliveries")]
        assert all(r.headers.get("Authorization", "").startswith("Bearer ey") for r in jwt_calls)  # the App JWT
        _, metrics = await stack.get("/metrics")
        assert 'chatops_github_redeliveries_total{result="requested"} 1.0' in metrics


async def test_a_delivery_failed_while_the_bot_was_down_is_redelivered_on_start(tmp_path: Path) -> None:
    stack = app_stack(tmp_path)
    await stack.start_fakes()
    try:
        stack.github.webhook_url = "http://127.0.0.1:9/github/webhook"  # nothing listens: GitHub records a failure
        stack.github.app_id = 4242
        lost = await stack.github.send_webhook("ping", {"zen": "Keep it logically awesome.", "hook_id": 1})
        assert lost.status is None
        await stack.start_bot()
        await wait_for(lambda: stack.github.redelivery_requests == [lost.id], timeout=20,
                       what="the redelivery asked for on start")
        await wait_for(lambda: any(d.redelivery and d.ok for d in stack.github.deliveries), timeout=20,
                       what="the redelivered ping acknowledged")
    finally:
        await stack.stop()
