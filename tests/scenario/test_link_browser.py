"""Issue 21: the link flow in a real headless browser (Debian's Chromium driven by Playwright with
``executable_path``; Playwright never downloads a browser here). The browser signs in at the GitHub fake's
authorization page, GitHub sends it back to the bot's callback, and the page the person sees shows the code they
must send back from chat. Without Chromium the test is skipped with a notice, except under CI where it fails
(``make install`` installs Debian's chromium as root)."""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sandbox.stack import Stack
from tests.scenario.test_four_eyes import rows, write

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-quic"]

if not os.path.exists(CHROMIUM):
    if os.environ.get("CI"):
        raise RuntimeError("chromium is not installed (make install installs Debian's chromium as root)")
    pytest.skip("NOTICE: chromium is not installed: the browser link-flow test is skipped", allow_module_level=True)

playwright = pytest.importorskip("playwright.async_api")


async def new_browser(p: Any, profile: str) -> Any:
    return await p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, args=FLAGS, headless=True)


def sign_in_url(answer: dict[str, Any]) -> str:
    return str(answer["text"].split("<", 1)[1].split("|", 1)[0])


async def finish_sign_in(context: Any, url: str, login: str) -> tuple[int, str, str]:
    """What a person does in their browser: open the link, sign in to GitHub, land on the bot's page."""
    page = await context.new_page()
    await page.goto(url)
    if await page.locator("#login_field").count():
        await page.fill("#login_field", login)
        async with page.expect_navigation(url=lambda u: "/github/oauth/callback" in u):
            await page.click("#sign_in")
    body = await page.inner_text("body")
    code = await page.inner_text("#code") if await page.locator("#code").count() else ""
    response = await page.request.get(page.url)  # the same URL again: the status a replay gets
    return response.status, body, code


async def test_the_link_flow_in_a_real_browser(tmp_path: Path) -> None:
    offset = [timedelta(0)]
    stack = Stack(database_url=f"sqlite:///{tmp_path}/bot.db", config_path=write(tmp_path),
                  clock=lambda: datetime.now(UTC) + offset[0])
    async with stack, playwright.async_playwright() as p:
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            rm_browser, victim_browser = await new_browser(p, a), await new_browser(p, b)
            try:
                # the right person: their own link, their own browser, the code back from their own chat account
                _, mine = await stack.command("U0RM", "link")
                replay_status, page, code = await finish_sign_in(rm_browser, sign_in_url(mine), "rm-gh")
                assert "rm-gh" in page and "U0RM" in page and len(code) == 8
                assert replay_status == 400  # the callback URL again (history, a shared screenshot): refused
                _, linked = await stack.command("U0RM", f"link {code}")
                assert "now linked to GitHub rm-gh" in linked["text"]
                _, again = await stack.command("U0RM", f"link {code}")  # a replayed code
                assert "not valid" in again["text"]

                # a second browser finishes someone else's link: the victim sees a code that links nothing
                _, evil = await stack.command("U0EVIL", "link")
                _, page, code = await finish_sign_in(victim_browser, sign_in_url(evil), "vic-gh")
                assert "U0EVIL" in page and "vic-gh" in page and "do nothing" in page
                _, refused = await stack.command("U0VIC", f"link {code}")
                assert "another chat account" in refused["text"]
                _, void = await stack.command("U0EVIL", f"link {code}")
                assert "not valid" in void["text"]

                # an expired code: the same chat account, 11 minutes later
                _, late = await stack.command("U0LATE", "link")
                _, _, code = await finish_sign_in(victim_browser, sign_in_url(late), "vic-gh")
                offset[0] = timedelta(minutes=11)
                _, expired = await stack.command("U0LATE", f"link {code}")
                assert "expired" in expired["text"]

                links = await rows(stack, "SELECT platform_id, github_login FROM identity_links")
                assert [(r["platform_id"], r["github_login"]) for r in links] == [("U0RM", "rm-gh")]
                assert await rows(stack, "SELECT * FROM pending_links WHERE platform_id <> 'U0RM'") == []
            finally:
                await rm_browser.close()
                await victim_browser.close()
