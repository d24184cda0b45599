"""``/deploy status`` and ``/deploy stats``: what people may see (``access.viewers``), read in a fixed number of
queries."""

from __future__ import annotations

from bot.deploys.delivery_metrics import stats_text
from bot.deploys.freeze import active_freeze, describe
from bot.deploys.verbs.base import Family
from bot.domain import (
    Actor,
    Command,
    Reply,
    StatsCommand,
    StatusCommand,
)
from bot.identity import rbac


class ViewCommands(Family):
    types = (StatusCommand, StatsCommand)

    async def run(self, cmd: Command, actor: Actor, *, idem_key: str, response_url: str = "") -> Reply:
        if isinstance(cmd, StatsCommand):
            return await self._stats(cmd, actor)
        assert isinstance(cmd, StatusCommand)
        return await self._status(cmd, actor)

    async def _status(self, cmd: StatusCommand, actor: Actor) -> Reply:
        actor, teams = await self.who(actor, need_teams=False, viewing=True)
        decision = rbac.can_view(self.config, actor, teams)
        if not decision.allowed:
            return await self._denied(actor, "status", cmd.service or "-", decision.reason)
        services = [cmd.service] if cmd.service else sorted(self.config.services)
        lines = []
        async with self.store.unit() as u:  # three queries, whatever the number of services
            open_reqs = await u.open_request_lines(limit=200)
            latest = await u.latest_deployments()
            locks = await u.active_locks()
        pending: dict[tuple[str, str], list[str]] = {}
        for rid, service, env, state in open_reqs:
            pending.setdefault((service, env), []).append(f"{rid} {state.replace('_', ' ')}")
        several = len(self.config.repositories) > 1
        for name in services:
            lines.append(f"*{name}*" + (f" ({self.config.repo_of(name)})" if several else ""))
            for env in self.config.services[name].environments:
                last = latest.get((name, env))
                sha = f" ({last.sha[:7]})" if last and last.sha else ""
                text = (f"{last.version}{sha} by {last.by} at {last.at:%Y-%m-%d %H:%M}"
                        if last else "nothing deployed yet")
                waiting = pending.get((name, env))
                if waiting:
                    text += " · " + ", ".join(waiting)
                lock = locks.get(env)
                if lock:
                    text += f" · :lock: locked by {lock.holder}" + (f" ({lock.reason})" if lock.reason else "")
                freeze = active_freeze(self.config, env, self.clock())
                if freeze:
                    text += f" · :snowflake: frozen: {describe(freeze)}"
                lines.append(f"• {env}: {text}")
        return Reply("\n".join(lines), ok=True)

    async def _stats(self, cmd: StatsCommand, actor: Actor) -> Reply:
        actor, teams = await self.who(actor, need_teams=False, viewing=True)
        decision = rbac.can_view(self.config, actor, teams)
        if not decision.allowed:
            return await self._denied(actor, "stats", cmd.service or "-", decision.reason)
        async with self.store.unit() as u:
            return Reply(await stats_text(u, config=self.config, cmd=cmd, now=self.clock()), ok=True)
