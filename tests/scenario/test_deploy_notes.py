"""Issue 25 item 4 end to end: a successful production deploy posts what it shipped since the previous production
deploy (GitHub's compare API, through the GitHub fake) in the card's Slack thread and to the Teams channel, and a
Grafana annotation (the loopback Grafana fake); commit titles are escaped where rendered."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.domain import RequestState
from chatops.app import STORE
from sandbox.grafana_fake import GrafanaFake
from sandbox.stack import Stack, message_text, wait_for
from tests.scenario.test_github_flow import write_config

REQ = re.compile(r"`(r-[a-z0-9]{8})`")


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[Stack, GrafanaFake]]:
    grafana = await GrafanaFake().start()
    config = write_config(tmp_path, grafana={"url": grafana.url, "token_env": "GRAFANA_TOKEN",
                                             "dashboard_uid": "deploys", "tags": ["chatops"]})
    try:
        async with Stack(database_url=f"sqlite:///{tmp_path}/bot.db", config_path=config,
                         extra_env=grafana.env()) as stack:
            yield stack, grafana
    finally:
        await grafana.stop()


async def ship(stack: Stack, ref: str) -> str:
    _, answer = await stack.command("U0DEV", f"api {ref} to production")
    rid = REQ.search(answer["text"]).group(1)  # type: ignore[union-attr]
    assert stack.app is not None
    for _ in range(500):
        async with stack.app[STORE].unit() as u:
            r = await u.get_request(rid)
        if r is not None and r.state is RequestState.PENDING_APPROVAL:
            break
        await asyncio.sleep(0.02)
    await stack.click("U0LEAD", "approve", rid, key=f"approve-{rid}")
    return rid


def thread_text(stack: Stack, rid: str) -> str:
    cards = [m for m in stack.card_messages("C0DEPLOYS") if rid in message_text(m) and m.thread_ts is None]
    if not cards:
        return ""
    return "\n".join(message_text(m) for m in stack.slack.thread("C0DEPLOYS", cards[0].ts))


async def test_production_deploy_notes_on_slack_and_teams_and_a_grafana_annotation(
        world: tuple[Stack, GrafanaFake]) -> None:
    stack, grafana = world
    first = await ship(stack, "v1.3.0")
    await wait_for(lambda: "Shipped to production" in thread_text(stack, first), what="the first deploy's notes")
    assert "first deploy the bot knows of" in thread_text(stack, first)

    base = stack.github.resolve("v1.3.0") or ""
    now = time.time()
    stack.github.add_commits(base, [("Add retry budget (#41)", "dev-gh", now - 600),
                                    ("<!channel> *boom* & more (#42)", "lead-gh", now - 300)], tag="v1.5.0")
    second = await ship(stack, "v1.5.0")
    await wait_for(lambda: "Add retry budget" in thread_text(stack, second), what="the second deploy's notes")
    notes = thread_text(stack, second)
    assert f"2 commit(s) since {base[:7]}" in notes
    assert "by dev-gh, PR #41" in notes and "by lead-gh, PR #42" in notes
    assert "/pull/41|#41>" in notes and f"/compare/{base}..." in notes  # PR and compare links
    assert "<!channel>" not in notes and "&lt;!channel&gt;" in notes  # an untrusted title, escaped

    # Teams: the channel's webhook gets the notes as a card of their own
    def teams_notes() -> list[str]:
        return [json.dumps(p.body) for p in stack.teams.accepted("ops") if "Add retry budget" in json.dumps(p.body)]
    await wait_for(lambda: bool(teams_notes()), what="the Teams notes")
    assert "pull/42" in teams_notes()[0]

    # Grafana: one annotation per production deploy, with the service, version and link
    await wait_for(lambda: len(grafana.annotations) == 2, what="two Grafana annotations")
    latest = grafana.annotations[-1]
    assert latest["dashboardUID"] == "deploys" and latest["tags"] == ["chatops", "deploy", "api", "production"]
    assert "api v1.5.0" in latest["text"] and "production" in latest["text"] and "http" in latest["text"]
    assert isinstance(latest["time"], int)

    # staging deploys post no notes (deploy_notes defaults to production only)
    _, answer = await stack.command("U0DEV", "api v1.4.2 to staging")
    rid = REQ.search(answer["text"]).group(1)  # type: ignore[union-attr]
    await wait_for(lambda: any(rid in message_text(m) and "succeeded" in message_text(m)
                               for m in stack.card_messages("C0DEPLOYS")), what="the staging deploy")
    await asyncio.sleep(0.3)
    assert "Shipped" not in thread_text(stack, rid) and len(grafana.annotations) == 2
