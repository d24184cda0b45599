"""``github-team:<org>/<team-slug>`` in policy: membership from the GitHub API, cached, failing closed.

A person counts as a team member only through a verified GitHub login (``people.<x>.github`` written by an admin,
or a link made through GitHub's sign-in, bot/identity/links.py) and only when GitHub says the membership is
``active``. Answers are cached for ``github.team_cache_ttl`` (default 5 m); concurrent cold lookups of one
(team, login) share one API call. When GitHub cannot be reached a cached answer is used until it is an hour old;
after that the answer is "not confirmed", which every rule treats as no (fail closed, never open). A 404 is a
definite "not a member".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from bot.config import TEAM_PREFIX, Config
from bot.errors import GitHubError

log = logging.getLogger(__name__)
STALE_LIMIT_S = 3600.0

Fetch = Callable[[str, str, str], Awaitable[bool]]  # (org, team slug, login) -> active member?


@dataclass(frozen=True, slots=True)
class TeamView:
    """What policy may know about one person's teams, decided before the (pure) rules run."""

    login: str = ""  # the verified GitHub login ("" = none)
    member_of: frozenset[str] = frozenset()  # github-team:org/slug entries confirmed
    unknown: Mapping[str, str] = field(default_factory=dict)  # entry -> why membership could not be confirmed


NO_TEAMS = TeamView()


def is_team(entry: str) -> bool:
    return entry.startswith(TEAM_PREFIX)


def policy_teams(config: Config, *, environment: str = "", service: str = "") -> set[str]:
    """Every ``github-team:`` entry a decision about ``environment`` / ``service`` may consult."""
    values: list[str] = list(config.admins)
    env = config.environments.get(environment)
    if env is not None:
        values += [*env.deployers, *env.approvers]
    svc = config.services.get(service)
    if svc is not None:
        values += [*svc.owners, *svc.approvers]
    if not environment and not service:  # whoami: everything
        for e in config.environments.values():
            values += [*e.deployers, *e.approvers]
        for s in config.services.values():
            values += [*s.owners, *s.approvers]
    return {v for v in values if is_team(v)}


def utcnow() -> datetime:
    return datetime.now(UTC)


class TeamDirectory:
    def __init__(self, fetch: Fetch, *, ttl_s: Callable[[], float], clock: Callable[[], datetime] = utcnow) -> None:
        self._fetch = fetch
        self._ttl_s = ttl_s
        self.clock = clock
        self._cache: dict[tuple[str, str], tuple[bool, datetime]] = {}
        self._inflight: dict[tuple[str, str], asyncio.Future[bool]] = {}
        self._generation = 0  # moved by forget(): an answer fetched before then is not cached
        self.lookups = 0  # API calls made (a cold lookup happens at most once per (person, team) per TTL)

    async def view(self, login: str, teams: Iterable[str]) -> TeamView:
        if not login:
            return NO_TEAMS
        wanted = sorted(set(teams))
        results = await asyncio.gather(*(self._member(t, login) for t in wanted))
        member = frozenset(t for t, (ok, _) in zip(wanted, results, strict=True) if ok)
        unknown = {t: why for t, (_, why) in zip(wanted, results, strict=True) if why}
        return TeamView(login, member, unknown)

    async def _member(self, team: str, login: str) -> tuple[bool, str]:
        """(member?, why unknown). Unknown is never member."""
        key = (team, login.lower())
        now = self.clock()
        cached = self._cache.get(key)
        if cached is not None and (now - cached[1]).total_seconds() < self._ttl_s():
            return cached[0], ""
        generation = self._generation
        try:
            answer = await self._shared(key)
        except GitHubError as exc:
            if cached is not None and (now - cached[1]).total_seconds() < STALE_LIMIT_S:
                log.warning("team lookup failed (%s); using the cached answer for %s", exc.status, team)
                return cached[0], ""
            log.warning("team lookup failed (%s) and no usable cached answer for %s: deny", exc.status, team)
            return False, (f"GitHub could not be asked whether {login} is in {team} and no answer younger than "
                           "1 hour is cached, so it counts as no")
        if generation == self._generation:
            self._cache[key] = (answer, self.clock())
        return answer, ""

    def forget(self, *, org: str = "", login: str = "") -> int:
        """Evict the cached answers for teams of ``org`` ("" = every organization), of ``login`` only when given
        (a webhook said memberships changed). Lookups in flight are not cached either. Returns how many."""
        prefix = f"{TEAM_PREFIX}{org.lower()}/" if org else TEAM_PREFIX
        gone = [k for k in self._cache if k[0].lower().startswith(prefix) and (not login or k[1] == login.lower())]
        for key in gone:
            del self._cache[key]
        self._generation += 1
        return len(gone)

    async def _shared(self, key: tuple[str, str]) -> bool:
        running = self._inflight.get(key)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        org, _, slug = key[0].removeprefix(TEAM_PREFIX).partition("/")
        try:
            self.lookups += 1
            answer = await self._fetch(org, slug, key[1])
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody else waits
            raise
        finally:
            self._inflight.pop(key, None)
        future.set_result(answer)
        return answer


class Reads(Protocol):
    async def get_api(self, path: str) -> Any: ...


def github_fetch(client_for: Callable[[str], Awaitable[Reads]]) -> Fetch:
    """The membership read: ``GET /orgs/{org}/teams/{slug}/memberships/{login}``, ``state`` must be ``active``."""

    async def fetch(org: str, slug: str, login: str) -> bool:
        client = await client_for(org)
        try:
            data = await client.get_api(f"/orgs/{org}/teams/{slug}/memberships/{login}")
        except GitHubError as exc:
            if exc.status == 404:
                return False  # not a member: a definite no
            raise
        return isinstance(data, dict) and data.get("state") == "active"

    return fetch
