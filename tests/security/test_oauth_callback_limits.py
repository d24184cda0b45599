"""Issue 22 item 9 through the real app: the OAuth callback is rate-limited per client address (429 with
Retry-After, nothing claimed or audited beyond the budget; a forged X-Forwarded-For entry does not buy a fresh
budget), and audit rows older than CHATOPS_AUDIT_RETENTION_DAYS are pruned while younger ones stay."""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from bot.domain import AuditEntry
from bot.store.store import Store
from chatops.app import STORE
from sandbox.stack import Stack
from tests.scenario.test_org_policy import state_of


async def replayed_rows(stack: Stack) -> int:
    assert stack.app is not None
    async with stack.app[STORE].unit() as u:
        rows = await u.c.fetch("SELECT detail FROM audit WHERE action = 'link' AND result = 'denied'")
    return sum("replayed" in r["detail"] for r in rows)


async def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as s, s.get(url, headers=headers or {}) as resp:
        return resp.status, await resp.text(), resp.headers.get("Retry-After", "")


async def test_callbacks_beyond_the_budget_are_429_and_audit_nothing(tmp_path: Path) -> None:
    # one token a minute after a burst of 5: the 30 calls below take far less than a minute
    extra = {"CHATOPS_OAUTH_CALLBACKS_PER_MINUTE": "1", "CHATOPS_OAUTH_CALLBACK_BURST": "5"}
    async with Stack(database_url=f"sqlite:///{tmp_path}/bot.db", extra_env=extra) as stack:
        _, answer = await stack.command("U0DEV", "link")
        query = urllib.parse.urlencode({"code": stack.github.oauth_code("dev-gh"), "state": state_of(answer)})
        url = f"{stack.url}/github/oauth/callback?{query}"
        answers = [await get(url) for _ in range(30)]  # a captured, validly signed state replayed
        assert answers[0][0] == 200
        assert [status for status, _, _ in answers[1:5]] == [400] * 4  # replays within the budget: refused
        limited = answers[5:]
        assert {status for status, _, _ in limited} == {429}
        assert all(int(retry) >= 1 for _, _, retry in limited)
        assert "Too many sign-in attempts" in limited[0][1]
        assert await replayed_rows(stack) == 4, "only the calls within the budget were audited"


async def test_the_budget_is_per_address_seen_by_the_trusted_proxy(tmp_path: Path) -> None:
    extra = {"CHATOPS_OAUTH_CALLBACKS_PER_MINUTE": "1", "CHATOPS_OAUTH_CALLBACK_BURST": "2",
             "CHATOPS_TRUSTED_PROXY_HOPS": "1"}
    async with Stack(database_url=f"sqlite:///{tmp_path}/bot.db", extra_env=extra) as stack:
        url = f"{stack.url}/github/oauth/callback?code=x&state=junk"
        # the client forges the left of X-Forwarded-For; the proxy appends what it saw (203.0.113.7)
        seen = [(await get(url, {"X-Forwarded-For": f"198.51.100.{i}, 203.0.113.7"}))[0] for i in range(4)]
        assert seen == [400, 400, 429, 429]
        other = (await get(url, {"X-Forwarded-For": "203.0.113.8"}))[0]
        assert other == 400, "another client address has its own budget"


async def test_audit_rows_older_than_the_retention_are_pruned(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/bot.db"
    store = await Store.open(url)
    now = datetime.now(UTC)
    try:
        async with store.unit() as u:
            await u.audit(AuditEntry(now - timedelta(days=31), "U0OLD", "deploy", "r-old", "C0", "ok"))
            await u.audit(AuditEntry(now - timedelta(days=29), "U0KEPT", "deploy", "r-kept", "C0", "ok"))
    finally:
        await store.close()
    async with Stack(database_url=url, extra_env={"CHATOPS_AUDIT_RETENTION_DAYS": "30"}) as stack:
        assert stack.app is not None
        app_store = stack.app[STORE]
        actors: list[str] = []

        async def refresh() -> None:
            async with app_store.unit() as u:
                actors[:] = [r["actor"] for r in await u.c.fetch("SELECT actor FROM audit")]

        async def pruned() -> bool:
            await refresh()
            return "U0OLD" not in actors

        await wait_for_async(pruned, what="the 31-day-old audit row pruned")
        assert "U0KEPT" in actors


async def wait_for_async(check: Callable[[], Awaitable[bool]], *, what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(what)
