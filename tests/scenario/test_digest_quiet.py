"""Issue 16, item 5: a route's digest is posted once at its time with two replicas running (and after a restart);
quiet hours hold a success until they end (one summary card), while a failure arrives at once."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.errors import ConfigError
from sandbox.stack import Stack, message_text, wait_for
from tests.scenario.test_github_flow import write_config

REQ = re.compile(r"`(r-[a-z0-9]{8})`")
ROUTE0 = {"when": {"kind": ["deployment", "rollback"]}, "to": ["slack:deploys", "teams:ops"]}
FAILURES = {"when": {"kind": ["failure"]}, "to": ["slack:deploys", "teams:ops"], "mention": "here"}


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def routes(**extra: Any) -> dict[str, Any]:
    return {"routes": [{**ROUTE0, **extra}, FAILURES]}


async def replica(stack: Stack, clock: Clock) -> web.AppRunner:
    """A second bot process on the same database (its workers start with the runner)."""
    from bot.config import load_config
    from bot.environment import load_secrets
    from chatops.app import build_app

    config = load_config(stack.config_path, env=stack.env)
    app = await build_app(config, load_secrets(config, stack.env), env=stack.env, clock=clock)
    runner = web.AppRunner(app)
    await runner.setup()
    return runner


def digests(stack: Stack) -> tuple[list[Any], list[Any]]:
    slack = [m for m in stack.card_messages("C0DEPLOYS") if "Delivery digest" in message_text(m)]
    teams = [c for c in stack.teams.cards("ops") if "Delivery digest" in json.dumps(c)]
    return slack, teams


@pytest.fixture
async def two_replicas(tmp_path: Path, sqlite_url: str) -> AsyncIterator[tuple[Stack, Clock]]:
    clock = Clock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))  # a Sunday
    path = write_config(tmp_path, **routes(digest={"every": "1w", "at": "Mon 09:00", "tz": "Europe/Berlin"}))
    async with Stack(database_url=sqlite_url, config_path=path, clock=clock) as stack:
        other = await replica(stack, clock)
        try:
            yield stack, clock
        finally:
            await other.cleanup()


async def test_digest_is_posted_once_at_its_time_with_two_replicas(two_replicas: tuple[Stack, Clock]) -> None:
    stack, clock = two_replicas
    await asyncio.sleep(1.5)  # both replicas' workers pass several times: nothing is due on a Sunday
    assert digests(stack) == ([], [])
    clock.at = datetime(2026, 3, 2, 8, 1, tzinfo=UTC)  # Monday 09:01 in Berlin
    await wait_for(lambda: all(digests(stack)), what="digest in Slack and Teams")
    await asyncio.sleep(2.5)  # several more worker passes on both replicas
    slack, teams = digests(stack)
    assert (len(slack), len(teams)) == (1, 1)
    text = message_text(slack[0])
    assert "api → production" in text and "no deployments" in text and "last 1w" in text
    await stack.stop_bot()  # a restart within the same slot posts nothing more
    await stack.start_bot()
    await asyncio.sleep(1.5)
    assert [len(x) for x in digests(stack)] == [1, 1]
    clock.at += timedelta(weeks=1)
    await wait_for(lambda: len(digests(stack)[0]) == 2, what="next week's digest")


async def test_quiet_hours_hold_a_success_and_let_a_failure_through(tmp_path: Path, sqlite_url: str) -> None:
    now = datetime.now(UTC)  # the store stamps state changes with the wall clock: quiet hours around it
    window = {"from": f"{(now - timedelta(hours=2)):%H:%M}", "to": f"{(now + timedelta(hours=2)):%H:%M}",
              "tz": "UTC"}
    clock = Clock(now)
    path = write_config(tmp_path, **routes(quiet_hours=window))
    async with Stack(database_url=sqlite_url, config_path=path, clock=clock) as stack:
        _, ok = await stack.command("U0DEV", "api v1.4.2 to staging")
        ok_id = REQ.search(ok["text"]).group(1)  # type: ignore[union-attr]
        stack.github.conclusion_by_ref["v1.4.1"] = "failure"
        _, bad = await stack.command("U0DEV", "api v1.4.1 to staging")
        bad_id = REQ.search(bad["text"]).group(1)  # type: ignore[union-attr]
        await wait_for(lambda: any("Deployment failed" in message_text(m) for m in stack.card_messages("C0DEPLOYS")),
                       what="the failure alert, at once")
        await wait_for(lambda: any(bad_id in json.dumps(c) for c in stack.teams.cards("ops")), what="teams failure")
        await stack.github.wait_idle()
        await asyncio.sleep(1.0)
        assert not any(ok_id in message_text(m) for m in stack.card_messages("C0DEPLOYS")), "the success is held"
        assert not any(ok_id in json.dumps(c) for c in stack.teams.cards("ops"))

        clock.at = now + timedelta(hours=3)  # quiet hours are over
        await wait_for(lambda: any("While it was quiet" in message_text(m) for m in stack.card_messages("C0DEPLOYS")),
                       what="the summary card")
        summary = [m for m in stack.card_messages("C0DEPLOYS") if "While it was quiet" in message_text(m)]
        assert len(summary) == 1
        assert f"Deploy api v1.4.2 → staging: succeeded ({ok_id})" in message_text(summary[0])
        await wait_for(lambda: any("While it was quiet" in json.dumps(c) and ok_id in json.dumps(c)
                                   for c in stack.teams.cards("ops")), what="the Teams summary")
        await asyncio.sleep(1.0)
        assert len([m for m in stack.card_messages("C0DEPLOYS") if "While it was quiet" in message_text(m)]) == 1


@pytest.mark.parametrize(("extra", "problem"), [
    ({"digest": {"every": "1w", "at": "Mon 9am", "tz": "Europe/Berlin"}},
     "routes[0].digest.at: '9am' is not a time like 09:00 (HH:MM)"),
    ({"digest": {"every": "1w", "at": "Mon 09:00", "tz": "Mars/Olympus"}},
     "routes[0].digest.tz: 'Mars/Olympus' is not a time zone name like Europe/Berlin"),
    ({"digest": {"every": "3x", "at": "09:00"}},
     "routes[0].digest.every: '3x' is not a duration like 90s, 30m, 2h, 1d or 1w"),
    ({"quiet_hours": {"from": "25:00", "to": "08:00", "tz": "UTC"}},
     "routes[0].quiet_hours.from: '25:00' is not a time like 09:00 (HH:MM)"),
])
def test_check_config_names_bad_digest_and_quiet_hours_keys(tmp_path: Path, extra: dict[str, Any],
                                                            problem: str) -> None:
    from bot.config import load_config
    from bot.delivery.settings import delivery_settings

    config = load_config(write_config(tmp_path, **routes(**extra)),
                         env={"TEAMS_OPS_WEBHOOK_URL": "https://example.invalid/x"})
    with pytest.raises(ConfigError) as exc:
        delivery_settings(config)
    assert problem in exc.value.problems, exc.value.problems
