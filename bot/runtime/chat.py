"""Text commands for chat surfaces without slash commands (the Teams bot): ``deploy api v1.4.2 to staging``."""

from __future__ import annotations

import uuid

from bot.deploys.commands import USAGE, parse
from bot.deploys.pipeline import Pipeline
from bot.domain import Actor, Card, Reply
from bot.egress.teams import teams_text


class ChatRunner:
    """Implements ``bot.egress.teams_bot.CommandRunner`` on top of the pipeline."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    async def run_text(self, text: str, actor: Actor, *, message_id: str = "") -> str:
        word, _, rest = text.strip().partition(" ")
        word = word.lower().lstrip("/")
        if word in ("link", "unlink", "whoami"):  # Teams: `link <code>` is `deploy link <code>`
            word, rest = "deploy", text.strip().lstrip("/")
        if word not in USAGE:
            return "I understand: " + " · ".join(f"`{u.removeprefix('Usage: ')}`" for u in USAGE.values())
        parsed = parse(rest, command=word, config=self.pipeline.config)
        if isinstance(parsed, Reply):
            if not parsed.ok:
                await self.pipeline.invalid(actor, word, parsed.text.splitlines()[0])
            return teams_text(parsed)
        key = f"{actor.platform}:msg:{message_id or uuid.uuid4().hex}"
        return teams_text(await self.pipeline.handle(parsed, actor, idem_key=key))

    async def button(self, verb: str, request_id: str, actor: Actor, *, message_id: str = "") -> str:
        """A request card's **Promote** button: the answer, for the person who clicked."""
        key = f"{actor.platform}:act:{verb}:{message_id or uuid.uuid4().hex}"
        return teams_text(await self.pipeline.button(verb, request_id, actor, idem_key=key))

    async def decide(self, request_id: str, approve: bool, actor: Actor) -> Card | str:
        """The refreshed card, or the refusal's reason (for the clicking person only)."""
        reply = await self.pipeline.decide(request_id, approve=approve, actor=actor, comment="",
                                           idem_key=f"{actor.platform}:decide:{uuid.uuid4().hex}")
        current = await self.pipeline.request_view(request_id)
        return current if reply.ok and current is not None else teams_text(reply)
