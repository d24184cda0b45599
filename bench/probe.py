"""Looking at the bot from outside while it runs: its database (read-only queries), its RSS, the Slack fake."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

import asyncpg

from sandbox.slack_fake import SlackFake
from sandbox.stack import message_text

_EVENTS = re.compile(r"\*Events\*\s*\n\s*(\d+)")


def rss_kb(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak over the process's life) in kB, from /proc/<pid>/status."""
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                name, value = line.split(":", 1)
                out[name] = int(value.split()[0])
    except OSError:
        pass
    return out


class DbProbe:
    """Counts in the bot's database: what was durably recorded, what is still waiting."""

    def __init__(self, url: str, *, schema: str | None = None) -> None:
        self.url, self.schema = url, schema
        self._pg: asyncpg.Connection | None = None

    async def scalar(self, sql: str, *args: Any) -> int:
        if self.url.startswith("sqlite:///"):
            path = self.url[len("sqlite:///"):]

            def q() -> int:
                with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as c:
                    row = c.execute(sql, args).fetchone()
                c.close()
                return int(row[0] or 0)
            return await asyncio.to_thread(q)
        if self._pg is None:
            self._pg = await asyncpg.connect(self.url.split("?", 1)[0],
                                             server_settings={"search_path": self.schema or "public"})
        parts = sql.split("?")
        pg = parts[0] + "".join(f"${i}{p}" for i, p in enumerate(parts[1:], 1))
        return int(await self._pg.fetchval(pg, *args) or 0)

    async def inbox(self, source: str, state: str | None = None) -> int:
        if state is None:
            return await self.scalar("SELECT COUNT(*) FROM inbox WHERE source = ?", source)
        return await self.scalar("SELECT COUNT(*) FROM inbox WHERE source = ? AND state = ?", source, state)

    async def wait_drained(self, source: str, *, timeout: float) -> float | None:
        """Seconds until nothing of ``source`` is pending in the inbox (None = still pending at timeout)."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if await self.inbox(source, "pending") == 0:
                return round(time.monotonic() - t0, 2)
            await asyncio.sleep(0.25)
        return None

    async def close(self) -> None:
        if self._pg is not None:
            await self._pg.close()


def security_calls(slack: SlackFake, channel: str, since: float) -> list[Any]:
    return [c for c in slack.calls if c.method in ("chat.postMessage", "chat.update")
            and c.args.get("channel") == channel and c.at >= since]


def card_count(slack: SlackFake, channel: str) -> int:
    """The largest ``Events`` figure on any card in ``channel`` (as a person reads it now)."""
    best = 0
    for m in slack.messages.values():
        if m.channel == channel:
            for hit in _EVENTS.findall(message_text(m)):
                best = max(best, int(hit))
    return best
