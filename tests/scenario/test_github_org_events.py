"""Issue 22 item 6 through the real app: every webhook event GitHub publishes, signed, gets 2xx (ignored ones
counted per event in /metrics); ``installation`` deleted drops the installation's cached token; ``membership``
removed evicts the team-membership cache at once, so a removed member cannot approve for the rest of its TTL.

Payloads: the octokit/webhooks examples in tests/fixtures/published/github (SOURCES.md), one or more per event."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sandbox.paths import PUBLISHED_FIXTURES
from sandbox.signing import sign_github
from sandbox.stack import SANDBOX_SECRETS, Stack, message_text, wait_for
from tests.scenario.test_org_policy import _stack, _team, link

GITHUB = PUBLISHED_FIXTURES / "github"
PUBLISHED = sorted(GITHUB.rglob("*.json"))


async def deliver(stack: Stack, event: str, payload: dict[str, Any]) -> tuple[int, str]:
    raw = json.dumps(payload).encode()
    return await stack.post("/github/webhook", raw, {
        **sign_github(SANDBOX_SECRETS["GITHUB_WEBHOOK_SECRET"], raw), "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()), "Content-Type": "application/json"})


def fixture(name: str) -> dict[str, Any]:
    return json.loads((GITHUB / "events" / name).read_text(encoding="utf-8"))


async def test_every_published_event_type_signed_gets_2xx(tmp_path: Path) -> None:
    events = {p.name.split(".")[0] for p in PUBLISHED}
    assert {"installation", "installation_repositories", "github_app_authorization", "membership", "organization",
            "team", "star", "push"} <= events and len(events) >= 60
    async with Stack(database_url=f"sqlite:///{tmp_path}/bot.db") as stack:
        failed = []
        for path in PUBLISHED:
            status, text = await deliver(stack, path.name.split(".")[0], json.loads(path.read_text("utf-8")))
            if not 200 <= status < 300:
                failed.append(f"{path.relative_to(GITHUB)}: {status} {text[:120]}")
        assert not failed, "\n".join(failed)
        status, metrics = await stack.get("/metrics")
        assert status == 200
        for event in ("star", "installation_repositories", "push"):  # github_app_authorization revoked is acted on
            assert f'chatops_github_events_ignored_total{{event="{event}"' in metrics, event
        status, _ = await deliver(stack, "not_an_event_github_sends", {"zen": "x"})
        assert status == 202
        _, metrics = await stack.get("/metrics")
        assert 'chatops_github_events_ignored_total{event="other",reason="unhandled_event"}' in metrics
        assert "not_an_event_github_sends" not in metrics  # the header is not signed: no label per value
        assert (await stack.get("/healthz"))[0] == 200


@pytest.mark.parametrize("action", ["deleted", "suspend"])
async def test_installation_deleted_or_suspended_drops_its_cached_token(tmp_path: Path, action: str) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "app.pem").write_text(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                        serialization.NoEncryption()).decode())
    stack = Stack(database_url=f"sqlite:///{tmp_path}/bot.db", extra_env={
        "GITHUB_TOKEN": "", "GITHUB_APP_ID": "4242", "GITHUB_APP_PRIVATE_KEY_FILE": str(tmp_path / "app.pem"),
        "GITHUB_APP_INSTALLATION_ID": "1"})
    stack.github.app_id = 4242
    stack.github.app_public_key = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def minted() -> int:
        return sum(1 for r in stack.github.requests if r.path == "/app/installations/1/access_tokens")

    async with stack:
        await stack.command("U0DEV", "api v1.4.2 to dev")
        await wait_for(lambda: len(stack.github.dispatches) == 1, what="first dispatch")
        assert minted() == 1
        payload = fixture(f"installation.{action}.octokit.json")
        payload["installation"]["id"] = 1
        status, text = await deliver(stack, "installation", payload)
        assert status == 200 and "cached token dropped" in text, text
        await stack.command("U0DEV", "api v1.4.2 to staging")
        await wait_for(lambda: len(stack.github.dispatches) == 2, what="second dispatch")
        assert minted() == 2, "the dropped token is not used again: the next call mints a new one"
        bad = dict(payload, installation={"id": "one"})
        assert (await deliver(stack, "installation", bad))[0] == 400


@pytest.mark.parametrize(("event", "name"), [("membership", "membership.removed.octokit.json"),
                                             ("organization", "organization.member_added.octokit.json"),
                                             ("team", "team.edited.octokit.json")])
async def test_a_removed_team_member_cannot_approve_from_the_cache(tmp_path: Path, event: str, name: str) -> None:
    async with _stack(tmp_path, _team) as stack:
        stack.github.set_team("acme", "release-managers", {"rm-gh": "active"})
        assert (await link(stack, "U0RM", "rm-gh"))[0] == 200
        _, whoami = await stack.command("U0RM", "whoami")  # asks GitHub once: the answer is cached (TTL)
        assert "release-managers" in whoami["text"]
        _, answer = await stack.command("U0DEV", "api v1.4.2 to production")
        rid = answer["text"].split("`")[1]
        await wait_for(lambda: any(rid in message_text(m) and "Approve" in message_text(m)
                                   for m in stack.card_messages("C0APPROVALS")), what="approval card")

        stack.github.set_team("acme", "release-managers", {})  # removed at GitHub, which tells the bot
        payload = fixture(name)
        payload["organization"]["login"] = "acme"
        if event == "membership":
            payload["member"]["login"], payload["team"]["slug"] = "rm-gh", "release-managers"
        elif event == "organization":
            payload["action"], payload["membership"]["user"]["login"] = "member_removed", "rm-gh"
        status, text = await deliver(stack, event, payload)
        assert status == 200 and "evicted" in text, text

        _, refused = await stack.command("U0RM", rid, command="/approve")
        assert "Approved" not in refused["text"], refused["text"]
        assert stack.github.dispatches == []
