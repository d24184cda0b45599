"""Issue 21, stateful property: random sequences of link / unlink / relink / request / approve / runs started in
GitHub across Slack, Teams and GitHub never let a person approve a request that any of their identities made.

Driven through the real Pipeline (the command path the HTTP handlers call) on a real SQLite store; links are made
the way the callback and ``/deploy link <code>`` make them (a pending sign-in, then the code from chat). GitHub's
team-membership answers come from a stand-in of ``GET /orgs/{org}/teams/{slug}/memberships/{user}``.

The model: each human holds one Slack account, one Teams account and one GitHub account, and can only ever prove
their own accounts (the code flow's promise, tested in a real browser and through HTTP elsewhere). A human who owns
two GitHub accounts that are both approvers is two people to GitHub too; that is out of this model and documented.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from bot.config import parse_config
from bot.deploys.pipeline import Pipeline
from bot.domain import (
    Actor,
    DeployCommand,
    DeployRequest,
    IdentityCommand,
    Platform,
    RequestKind,
    RequestState,
    new_request_id,
)
from bot.identity.commands import IdentityCommands
from bot.identity.links import add_pending, resolve_github
from bot.identity.teams import TeamDirectory
from bot.store.store import Store

HUMANS = 3
GITHUB = {h: (f"gh{h}", 1000 + h) for h in range(HUMANS)}  # (login, numeric id): one account each
CONFIG = {
    "github": {"repository": "acme/platform"},
    "slack": {"team_id": "T0SANDBOX", "channels": {"deploys": "C0D", "approvals": "C0A"}},
    "people": {"h0": {"slack": "U0H0", "github": "gh0"}, "h1": {"slack": "U0H1"}},  # h2 is known only by links
    "environments": {"production": {"deployers": ["h0", "h1", "github-team:acme/all"],
                                    "approvers": ["h0", "h1", "github-team:acme/all"], "approvals": 1}},
    "services": {"api": {"workflow": "api-ci.yml", "environments": ["production"]}},
    "routes": [],
}


def chat_id(human: int, platform: Platform) -> str:
    return f"U0H{human}" if platform is Platform.SLACK else f"aad-{human}"


def person_of(config_people: dict[str, Any], human: int, platform: Platform) -> str | None:
    for key, p in config_people.items():
        if p.get(str(platform)) == chat_id(human, platform):
            return str(key)
    return None


class FourEyes(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.tmp = Path(f"/tmp/four-eyes-{id(self)}-{next(_COUNTER)}.db")
        self.store = self.run(Store.open(f"sqlite:///{self.tmp}"))
        self.config = parse_config(CONFIG, env={})
        self.pipeline = Pipeline(config=self.config, store=self.store, clock=lambda: datetime.now(UTC))

        async def member(org: str, slug: str, login: str) -> bool:
            return login in {lg for lg, _ in GITHUB.values()}

        self.pipeline.directory = TeamDirectory(member, ttl_s=lambda: 300.0)
        self.identity = IdentityCommands(self.pipeline, None)
        self.pipeline.commands = self.identity
        self.requests: dict[str, int] = {}  # request id -> the human who made it (ground truth)
        self.keys = itertools.count()

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        self.run(self.store.close())
        self.loop.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.tmp}{suffix}").unlink(missing_ok=True)

    def actor(self, human: int, platform: Platform) -> Actor:
        return Actor(platform, chat_id(human, platform), person_of(CONFIG["people"], human, platform),
                     conversation="personal")

    @initialize()
    def start(self) -> None:
        pass

    @rule(human=st.integers(0, HUMANS - 1), platform=st.sampled_from([Platform.SLACK, Platform.TEAMS]))
    def link(self, human: int, platform: Platform) -> None:
        login, uid = GITHUB[human]

        async def go() -> None:
            async with self.store.unit() as u:
                code = await add_pending(u, platform=str(platform), platform_id=chat_id(human, platform),
                                         login=login, github_id=uid, now=datetime.now(UTC).timestamp())
            await self.pipeline.handle(IdentityCommand("link", code), self.actor(human, platform),
                                       idem_key=f"k{next(self.keys)}")

        self.run(go())

    @rule(human=st.integers(0, HUMANS - 1), platform=st.sampled_from([Platform.SLACK, Platform.TEAMS]))
    def unlink(self, human: int, platform: Platform) -> None:
        self.run(self.pipeline.handle(IdentityCommand("unlink"), self.actor(human, platform),
                                      idem_key=f"k{next(self.keys)}"))

    @rule(human=st.integers(0, HUMANS - 1), platform=st.sampled_from([Platform.SLACK, Platform.TEAMS]))
    def request(self, human: int, platform: Platform) -> None:
        reply = self.run(self.pipeline.handle(DeployCommand("api", "v1.4.2", "production"),
                                              self.actor(human, platform), idem_key=f"k{next(self.keys)}"))
        if reply.ok and "`" in reply.text:
            rid = reply.text.split("`")[1]
            self.requests[rid] = human
            self.run(self._pending(rid))

    async def _pending(self, rid: str) -> None:
        async with self.store.unit() as u:  # the worker's next step: ref resolved, waiting for approval
            await u.transition(rid, from_states=[RequestState.RECEIVED], to=RequestState.PENDING_APPROVAL)

    @rule(human=st.integers(0, HUMANS - 1))
    def run_started_in_github(self, human: int) -> None:
        """A run from the Actions UI by the human's GitHub account, waiting for chat approval (what
        GitHubEvents._external records, with the requester resolved the same way)."""
        login, uid = GITHUB[human]

        async def go() -> str:
            async with self.store.unit() as u:
                who = await resolve_github(u, self.config, (login, uid))
                r = DeployRequest(id=new_request_id(), kind=RequestKind.DEPLOY, service="api",
                                  environment="production", ref="main", requester=who.person or "",
                                  requester_platform=Platform.GITHUB, requester_id=login, channel="",
                                  state=RequestState.PENDING_APPROVAL, created_at=datetime.now(UTC),
                                  workflow="api-ci.yml", approvals_required=1,
                                  requester_identities=tuple(sorted(who.identities)))
                await u.insert_request(r)
                return r.id

        self.requests[self.run(go())] = human

    @precondition(lambda self: bool(self.requests))
    @rule(data=st.data(), human=st.integers(0, HUMANS - 1),
          platform=st.sampled_from([Platform.SLACK, Platform.TEAMS]))
    def approve(self, data: st.DataObject, human: int, platform: Platform) -> None:
        rid = data.draw(st.sampled_from(sorted(self.requests)))
        self.run(self.pipeline.decide(rid, approve=True, actor=self.actor(human, platform), comment="",
                                      idem_key=f"k{next(self.keys)}"))

    @invariant()
    def nobody_approves_their_own_request(self) -> None:
        async def approvals() -> list[tuple[str, str, str]]:
            async with self.store.unit() as u:
                rows = await u.c.fetch("SELECT request_id, platform, platform_id FROM approvals "
                                       "WHERE decision = 'approve'")
            return [(r["request_id"], r["platform"], r["platform_id"]) for r in rows]

        for rid, _platform, platform_id in self.run(approvals()):
            approver = int(platform_id[-1])  # U0H<n> / aad-<n>: the human behind the account
            assert approver != self.requests[rid], f"human {approver} approved their own request {rid}"


_COUNTER = itertools.count()
TestFourEyes = FourEyes.TestCase
TestFourEyes.settings = settings(max_examples=60, stateful_step_count=25, deadline=None,
                                 suppress_health_check=[HealthCheck.too_slow])
