"""What every command family shares: the pipeline's configuration, store and clock, who the actor is, the audit row
and the refusal, and what blocks an environment."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from bot.config import Config
from bot.domain import Actor, Command, Reply
from bot.identity.teams import TeamView
from bot.store.store import Store, Unit

if TYPE_CHECKING:
    from bot.deploys.pipeline import Pipeline


class Family:
    """A family of commands (``types``) run for the pipeline it belongs to."""

    types: ClassVar[tuple[type[Command], ...]] = ()

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    # the pipeline's state is read through it on each use: a reload swaps ``Pipeline.config``
    @property
    def config(self) -> Config:
        return self.pipeline.config

    @property
    def store(self) -> Store:
        return self.pipeline.store

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.pipeline.clock

    def wake(self) -> None:
        self.pipeline.wake()

    async def who(self, actor: Actor, *, environment: str = "", service: str = "",
                  need_teams: bool = True, viewing: bool = False) -> tuple[Actor, TeamView]:
        return await self.pipeline.who(actor, environment=environment, service=service, need_teams=need_teams,
                                       viewing=viewing)

    async def _audit(self, u: Unit, actor: Actor, action: str, target: str, result: str, detail: str = "") -> None:
        await self.pipeline.audit(u, actor, action, target, result, detail)

    async def _denied(self, actor: Actor, action: str, target: str, reason: str) -> Reply:
        return await self.pipeline.denied(actor, action, target, reason)

    async def blocked(self, u: Unit, environment: str, at: datetime) -> str:
        return await self.pipeline.blocked(u, environment, at)

    async def run(self, cmd: Command, actor: Actor, *, idem_key: str, response_url: str = "") -> Reply:
        raise NotImplementedError
