"""Issue 12, items 1 (Teams mention stripping) and 9 (response_urls in logs), reproduced through the Teams bot
route and slack_sdk's own log line; each failed on the code before the fix."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import pytest

from bot.domain import Card, Destination, Op, OutboundMessage, Platform
from bot.egress.slack import SlackSender
from bot.egress.teams_bot import MAX_COMMAND_TEXT, strip_markup
from bot.errors import DeliveryError
from bot.logs import setup_logging
from sandbox.stack import wait_for
from tests.security.hardening import World, closed_port
from tests.security.hardening import world as world


# ------------------------------------------------------------------------------------- 1: mention flood
async def test_a_64_kb_mention_flood_is_refused_before_it_is_parsed(world: World) -> None:
    bf = world.bf
    before = await world.counts()
    flood = bf.activity("message", user="aad-x", conversation="a:flood", text="<at>" * (64 * 1024 // 4))
    status, _ = await bf.send(world.stack.url, flood, token=bf.token())
    assert status in (200, 202)
    await wait_for(lambda: bool(bf.calls), what="the bot's answer")
    assert "too long to be a command" in str(bf.calls[0].body.get("text"))
    after = await world.counts()
    assert {k: v for k, v in after.items() if k != "teams_conversations"} == \
        {k: v for k, v in before.items() if k != "teams_conversations"}  # nothing but the conversation reference


async def test_a_300_kb_activity_is_refused_at_the_door(world: World) -> None:
    bf = world.bf
    flood = bf.activity("message", user="aad-x", conversation="a:flood", text="<at>" * (300 * 1024 // 4))
    status, _ = await bf.send(world.stack.url, flood, token=bf.token())
    assert status == 413
    assert bf.calls == []


def _opcodes(fn: Callable[[str], Any], text: str) -> int:
    """Bytecode instructions executed by ``fn(text)``: a deterministic measure of Python-level work."""
    count = 0

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal count
        frame.f_trace_opcodes = True
        if event == "opcode":
            count += 1
        return tracer

    sys.settrace(tracer)
    try:
        fn(text)
    finally:
        sys.settrace(None)
    return count


@pytest.mark.parametrize("unit", ["<at>", "<", "<at>x</at>", "<at><b>", "<p>", "a<at"])
def test_stripping_mentions_is_linear(unit: str) -> None:
    small = _opcodes(strip_markup, unit * (64 * 1024 // len(unit)))
    large = _opcodes(strip_markup, unit * (128 * 1024 // len(unit)))
    assert large <= 2.2 * small + 50, (small, large)
    assert MAX_COMMAND_TEXT <= 16 * 1024


def test_mentions_and_tags_are_still_stripped() -> None:
    assert " ".join(strip_markup("<p><at>ChatOps</at>&nbsp;deploy api <b>v1</b> to dev</p>").split()) == \
        "&nbsp;deploy api v1 to dev"
    assert strip_markup("a <> b < c") == "a <> b < c"


# ------------------------------------------------------------------------------------- 9: response_url in logs
@pytest.fixture
def production_logging(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's logging as ``python -m bot serve`` sets it up (stderr captured), restored afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, {n: logging.getLogger(n).level for n in ("slack_sdk", "asyncio")})
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    setup_logging()
    yield
    root.handlers[:], root.level = saved[0], saved[1]
    for name, level in saved[2].items():
        logging.getLogger(name).setLevel(level)


async def test_response_urls_never_reach_the_log(production_logging: None, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{closed_port()}/commands/T0SANDBOX/123456/s3cr3tR3sp0nseT0ken"
    monkeypatch.setenv("SLACK_HOOKS_URL", url.split("/commands")[0])
    setup_logging()  # the hooks host is read from the environment, as the sandbox sets it
    sender = SlackSender(client=None)  # type: ignore[arg-type]  # RESPOND never uses the Web API client
    message = OutboundMessage("k1", Destination(Platform.SLACK, url), Op.RESPOND, Card(kind="info", title="hi"))
    with pytest.raises(DeliveryError):
        await sender.send(message, ref=None)
    logging.getLogger("slack_sdk.webhook").info("posting to https://hooks.slack.com/actions/T0SANDBOX/9/abcDEF")
    err = capsys.readouterr().err
    assert "A retry handler found" in err, err  # slack_sdk's own line, provoked for real
    assert "s3cr3tR3sp0nseT0ken" not in err and "abcDEF" not in err, err
    assert "<redacted>" in err
