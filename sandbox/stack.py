"""The whole bot wired to the loopback fakes, in one process: used by the demo, scenario tests and benches.

Nothing here is a test-only branch of the bot: the bot is built by ``chatops.app.build_app`` exactly as
``python -m bot serve`` builds it, with base URLs pointing at the fakes.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Self

import aiohttp
from aiohttp import web

from sandbox.github_fake import GitHubFake
from sandbox.slack_fake import SlackFake
from sandbox.teams_fake import TeamsFake

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_CONFIG = ROOT / "examples" / "chatops.yml"
SANDBOX_SECRETS = {
    "SLACK_BOT_TOKEN": "xoxb-sandbox-token",
    "SLACK_SIGNING_SECRET": "sandbox-signing-secret",
    "GITHUB_TOKEN": "ghp-sandbox-token",
    "GITHUB_WEBHOOK_SECRET": "sandbox-webhook-secret",
    "CHATOPS_EVENTS_API_KEY": "sandbox-events-api-key",
}


class Stack:
    def __init__(self, *, database_url: str, config_path: Path = EXAMPLE_CONFIG, channel_interval: float = 0.05,
                 step_delay: float = 0.05, extra_env: dict[str, str] | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock  # the bot's clock (None: the wall clock); tests fix it where periods matter
        self.database_url = database_url
        self.config_path = config_path
        self.slack = SlackFake(token=SANDBOX_SECRETS["SLACK_BOT_TOKEN"],
                               signing_secret=SANDBOX_SECRETS["SLACK_SIGNING_SECRET"])
        self.github = GitHubFake(repository="acme/platform", token=SANDBOX_SECRETS["GITHUB_TOKEN"],
                                 webhook_secret=SANDBOX_SECRETS["GITHUB_WEBHOOK_SECRET"], step_delay=step_delay)
        self.teams = TeamsFake()
        self.channel_interval = channel_interval
        self.extra_env = extra_env or {}
        self.env: dict[str, str] = {}
        self.app: web.Application | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""
        self._session: aiohttp.ClientSession | None = None

    async def start_fakes(self) -> None:
        await self.slack.start()
        await self.github.start()
        await self.teams.start()
        self.env = {
            **SANDBOX_SECRETS,
            "SLACK_API_URL": f"{self.slack.url}/api/",
            "SLACK_HOOKS_URL": self.slack.url,  # the fake serves response_urls (production: hooks.slack.com)
            "GITHUB_API_URL": self.github.url,
            "DATABASE_URL": self.database_url,
            "TEAMS_OPS_WEBHOOK_URL": self.teams.webhook_url("ops"),
            "CHATOPS_CHANNEL_INTERVAL": str(self.channel_interval),
            "GITHUB_THROTTLE": "0",
            "GITHUB_OAUTH_URL": self.github.url,  # the fake serves the OAuth web flow too (production: github.com)
            "GITHUB_APP_CLIENT_ID": self.github.oauth_client[0],
            "GITHUB_APP_CLIENT_SECRET": self.github.oauth_client[1],
            "PATH": os.environ.get("PATH", ""),
            **self.extra_env,
        }

    async def start_bot(self) -> None:
        from bot.config import load_config
        from bot.environment import load_secrets
        from chatops.app import build_app

        config = load_config(self.config_path, env=self.env)
        secrets = load_secrets(config, self.env)
        self.app = await (build_app(config, secrets, env=self.env, config_path=str(self.config_path))
                          if self.clock is None else
                          build_app(config, secrets, env=self.env, clock=self.clock, config_path=str(self.config_path)))
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        self.github.webhook_url = f"{self.url}/github/webhook"
        self.github.oauth_callback_url = f"{self.url}/github/oauth/callback"

    async def stop_bot(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self.app = None

    async def start(self) -> Self:
        await self.start_fakes()
        await self.start_bot()
        return self

    async def stop(self) -> None:
        await self.stop_bot()
        if self._session is not None:
            await self._session.close()
        await self.github.stop()
        await self.slack.stop()
        await self.teams.stop()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---------------------------------------------------------------- driving the bot like Slack does
    async def command(self, user: str, text: str, *, command: str = "/deploy", channel: str = "C0DEPLOYS",
                      key: str | None = None, **extra: Any) -> tuple[int, dict[str, Any]]:
        """A signed slash command; returns (HTTP status, JSON answer or {"text": raw})."""
        status, body = await self.slack.send_command(f"{self.url}/slack/events", command, text, user_id=user,
                                                     channel_id=channel, key=key, **extra)
        return status, _json(body)

    async def click(self, user: str, action_id: str, value: str, *, channel: str = "C0APPROVALS",
                    message_ts: str = "1700000000.000100", key: str | None = None) -> tuple[int, str]:
        return await self.slack.send_action(f"{self.url}/slack/events", action_id, value, user_id=user,
                                            channel_id=channel, message_ts=message_ts, key=key)

    async def get(self, path: str) -> tuple[int, str]:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        async with self._session.get(f"{self.url}{path}") as resp:
            return resp.status, await resp.text()

    async def post(self, path: str, data: bytes, headers: dict[str, str]) -> tuple[int, str]:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        async with self._session.post(f"{self.url}{path}", data=data, headers=headers) as resp:
            return resp.status, await resp.text()

    # ---------------------------------------------------------------- observing
    def card_messages(self, channel: str) -> list[Any]:
        """Current state of the messages the bot posted in a channel (updates applied)."""
        return [m for m in self.slack.messages.values() if m.channel == channel]


def _json(text: str) -> dict[str, Any]:
    import json

    try:
        data = json.loads(text)
    except ValueError:
        return {"text": text}
    return data if isinstance(data, dict) else {"text": text}


def message_text(message: Any) -> str:
    """All the text a person would read in a Slack message (fallback + every block)."""
    parts = [message.text or ""]
    for block in message.blocks or []:
        text = block.get("text")
        if isinstance(text, dict):
            parts.append(str(text.get("text", "")))
        for f in block.get("fields", []) or []:
            parts.append(str(f.get("text", "")))
        for el in block.get("elements", []) or []:
            t = el.get("text")
            parts.append(str(t.get("text", "")) if isinstance(t, dict) else str(t or ""))
    return "\n".join(parts)


def card_of(blocks: Any, request_id: str) -> bool:
    """Are these Slack blocks the card of ``request_id`` (its "Request" fact), not another card or a thread note
    that merely mentions the id (a card "queued behind r-…", deploy notes)?"""
    want = f"*Request*\n{request_id}"
    return any(isinstance(f, dict) and f.get("text") == want
               for b in blocks or [] if isinstance(b, dict) for f in b.get("fields", []) or [])


async def wait_for(predicate: Callable[[], bool], *, timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)
