"""``/deploy link`` · ``/deploy whoami`` · ``/deploy unlink`` and the completion of a link at the OAuth callback.
Every link, refused link and unlink is audited."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from bot.domain import (
    Actor,
    AuditEntry,
    Command,
    DeployRequest,
    IdentityCommand,
    Link,
    Platform,
    Reply,
    RequestKind,
    RequestState,
)
from bot.identity import rbac
from bot.identity.links import add_link, add_pending, linked_login, remove_link, take_pending
from bot.identity.oauth import OAuthRefused, OAuthSettings
from bot.identity.teams import TeamView

if TYPE_CHECKING:
    from collections.abc import Callable

    from bot.config import Config
    from bot.store.store import Store

log = logging.getLogger(__name__)


class Context(Protocol):
    """What the identity commands need of the deploy pipeline (it provides all four): identity sits below deploys,
    so it names the shape rather than importing ``bot.deploys.pipeline``."""

    store: Store
    config: Config
    clock: Callable[[], datetime]

    async def who(self, actor: Actor, *, environment: str = "", service: str = "",
                  need_teams: bool = True, viewing: bool = False) -> tuple[Actor, TeamView]: ...


class IdentityCommands:
    def __init__(self, pipeline: Context, oauth: OAuthSettings | None) -> None:
        self.pipeline = pipeline
        self.oauth = oauth

    def handles(self, cmd: Command) -> bool:
        return isinstance(cmd, IdentityCommand)

    async def _audit(self, actor: Actor | str, action: str, target: str, result: str, detail: str = "") -> None:
        label, channel = (actor.label, actor.channel) if isinstance(actor, Actor) else (actor, "")
        async with self.pipeline.store.unit() as u:
            await u.audit(AuditEntry(self.pipeline.clock(), label, action, target, channel, result, detail[:500]))

    async def run(self, cmd: Command, actor: Actor, *, idem_key: str, response_url: str = "") -> Reply:
        assert isinstance(cmd, IdentityCommand)
        if cmd.action == "link" and actor.platform is Platform.TEAMS and actor.conversation != "personal":
            # a sign-in link or code posted where others read it can be finished or used by someone else
            await self._audit(actor, "link-start", "-", "denied", f"asked in a {actor.conversation or '?'} chat")
            return Reply("Linking is private: ask me in a direct (1:1) chat with the bot.")
        if cmd.action == "link" and cmd.code:
            return await self._confirm(actor, cmd.code, idem_key=idem_key)
        if cmd.action == "link":
            if self.oauth is None:
                return Reply(":warning: Linking is not set up here (GITHUB_APP_CLIENT_ID / _SECRET); ask an admin.")
            state, _ = self.oauth.make_state(str(actor.platform), actor.platform_id,
                                             now=self.pipeline.clock().timestamp(), display=actor.display)
            await self._audit(actor, "link-start", "-", "ok")
            return Reply("Sign in to GitHub to link your account (the link works once, for 10 minutes; only you "
                         "can see it). GitHub's page then shows a code: send it here as `/deploy link <code>`.",
                         ok=True, links=(Link("link my GitHub account", self.oauth.authorize_url(state)),))
        if cmd.action == "unlink":
            async with self.pipeline.store.unit() as u:
                login = await remove_link(u, str(actor.platform), actor.platform_id)
                await u.audit(AuditEntry(self.pipeline.clock(), _label(actor), "unlink", login or "-",
                                         actor.channel, "ok" if login else "noop"))
            return Reply(f"Unlinked GitHub account {login}. Open requests keep who you were when they were made."
                         if login else "No GitHub account was linked.", ok=True)
        return await self._whoami(actor)

    async def _confirm(self, actor: Actor, code: str, *, idem_key: str) -> Reply:
        """``/deploy link <code>``: the chat end of the proof. The link exists only now."""
        now = self.pipeline.clock().timestamp()
        async with self.pipeline.store.unit() as u:
            if not await u.claim_key(idem_key):
                return Reply("Already received; nothing more to do.", ok=True)
            taken = await take_pending(u, platform=str(actor.platform), platform_id=actor.platform_id, code=code,
                                       now=now)
            if isinstance(taken, str):
                await u.audit(AuditEntry(self.pipeline.clock(), _label(actor), "link", "-", actor.channel, "denied",
                                         taken))
                return Reply(f":no_entry: Not linked: {taken}.")
            login, github_id = taken
            reason = await add_link(u, self.pipeline.config, platform=str(actor.platform),
                                    platform_id=actor.platform_id, login=login, github_id=github_id)
            await u.audit(AuditEntry(self.pipeline.clock(), _label(actor), "link", f"{login} (github id {github_id})",
                                     actor.channel, "denied" if reason else "ok", reason))
        if reason:
            return Reply(f":no_entry: Not linked: {reason}.")
        return Reply(f":link: Your {actor.platform} account is now linked to GitHub {login}.", ok=True)

    async def _whoami(self, actor: Actor) -> Reply:
        config = self.pipeline.config
        resolved, teams = await self.pipeline.who(actor)
        async with self.pipeline.store.unit() as u:
            link = await linked_login(u, str(actor.platform), actor.platform_id)
        person = config.people.get(resolved.person or "")
        lines = [f"*You* ({actor.platform} {actor.platform_id}): "
                 + (f"people.{person.key} in the config" if person else
                    f"{resolved.person} (a linked GitHub account)" if resolved.person else "unknown to this bot")]
        if person:
            ids = [f"{k} {getattr(person, k)}" for k in ("slack", "teams", "github") if getattr(person, k)]
            lines.append("Config identities: " + ", ".join(ids))
        lines.append(f"Linked GitHub account: {link or 'none (`/deploy link`)'}"
                     + (" (the config's login wins)" if person and person.github and link else ""))
        if teams.member_of:
            lines.append("GitHub teams that count: " + ", ".join(sorted(t.removeprefix("github-team:")
                                                                          for t in teams.member_of)))
        for why in teams.unknown.values():
            lines.append(f":warning: {why}")
        for name, svc in sorted(config.services.items()):
            parts = []
            for env in svc.environments:
                deploy = rbac.can_deploy(config, resolved, env, service=name, teams=teams).allowed
                fake = _probe(name, env)
                approvers, _ = rbac.approvers_of(config, fake)
                approve = rbac.listed(approvers, resolved, teams) and rbac.can_view(config, resolved, teams).allowed
                parts.append(f"{env}: " + (" + ".join(w for w, ok in (("deploy", deploy), ("approve", approve)) if ok)
                                           or "nothing"))
            lines.append(f"• {name}: " + " · ".join(parts))
        return Reply("\n".join(lines), ok=True)

    async def complete(self, *, code: str, state: str) -> tuple[int, str, str]:
        """The OAuth callback: (HTTP status, message for the page, one-time code or ""). Links nothing: a pending
        link waits for its code to come back from the chat account that asked."""
        if self.oauth is None:
            return 404, "Linking GitHub accounts is not set up on this bot.", ""
        try:
            platform, platform_id, nonce, display = self.oauth.read_state(state, now=self.pipeline.clock().timestamp())
        except OAuthRefused as exc:
            return 400, f"This sign-in was refused: {exc}.", ""  # not audited: anyone can send junk here
        who = f"{platform}:{platform_id}"
        async with self.pipeline.store.unit() as u:
            fresh = await u.claim_key(f"oauth-state:{nonce}")
        if not fresh:
            await self._audit(who, "link", "-", "denied", "sign-in link replayed")
            return 400, "This sign-in link was already used; run `/deploy link` again.", ""
        try:
            login, github_id = await self.oauth.login_for(code)
        except OAuthRefused as exc:
            await self._audit(who, "link", "-", "denied", str(exc))
            return 400, f"This sign-in was refused: {exc}.", ""
        async with self.pipeline.store.unit() as u:
            pending = await add_pending(u, platform=platform, platform_id=platform_id, login=login,
                                        github_id=github_id, now=self.pipeline.clock().timestamp())
            await u.audit(AuditEntry(self.pipeline.clock(), who, "link-signed-in", login.lower(), "", "ok",
                                     f"github id {github_id}; waiting for the code in chat"))
        account = f"{platform} account {display} ({platform_id})" if display else f"{platform} account {platform_id}"
        return 200, (f"You signed in to GitHub as {login.lower()}. To link it to the {account}, send this code "
                     f"from that chat account within 10 minutes: /deploy link {pending} (Teams: link {pending} in a "
                     "direct chat with the bot). If that is not your chat account, do nothing: nothing is linked "
                     "until the code comes back from it, and never give the code to anyone."), pending


def _label(actor: Actor) -> str:
    """Who, for the audit log: the person and the platform identity that acted."""
    return f"{actor.person} ({actor.platform}:{actor.platform_id})" if actor.person else actor.label


def _probe(service: str, environment: str) -> DeployRequest:
    """A stand-in request, to ask who approves a service's deploys into an environment."""
    return DeployRequest(id="r-whoami00", kind=RequestKind.DEPLOY, service=service, environment=environment, ref="",
                         requester="", requester_platform=Platform.SLACK, requester_id="", channel="",
                         state=RequestState.PENDING_APPROVAL, created_at=datetime.now().astimezone(), workflow="")
