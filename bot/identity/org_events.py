"""Acting on GitHub App and organization events (issue 22 item 6): forget what they make stale, at once.

- an installation deleted or suspended: its cached installation token (``GitHubRepos.forget_installation``);
- team memberships changed (``membership``, ``organization`` member_removed, ``team``): the team-membership
  answers of that organization (``TeamDirectory.forget``), so a removed member cannot approve for the rest of
  the cache's TTL;
- a user revoked the App's authorization (``github_app_authorization`` revoked): that account's identity links
  (``revoke``, bot/identity/revoke.py).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bot.domain import OrgChange
from bot.identity.teams import TeamDirectory

log = logging.getLogger(__name__)


class OrgEvents:
    def __init__(self, *, directory: Callable[[], TeamDirectory | None],
                 forget_installation: Callable[[int], bool],
                 revoke: Callable[[int], Awaitable[str]] | None = None) -> None:
        self._directory = directory
        self._forget_installation = forget_installation
        self._revoke = revoke

    async def apply_async(self, change: OrgChange) -> str:
        """Like :meth:`apply`, for changes that write to the store (a revoked authorization)."""
        if change.kind == "authorization_revoked":
            if self._revoke is None:
                return "authorization revoked: no identity links are kept here"
            return await self._revoke(change.github_id)
        return self.apply(change)

    def apply(self, change: OrgChange) -> str:
        """Apply ``change``; returns what was done (for the webhook's answer and the log)."""
        if change.kind == "installation":
            dropped = self._forget_installation(change.installation_id)
            log.info("github app installation %d deleted or suspended: cached token %s", change.installation_id,
                     "dropped" if dropped else "not held")
            return f"installation {change.installation_id}: cached token {'dropped' if dropped else 'not held'}"
        directory = self._directory()
        evicted = directory.forget(org=change.org, login=change.login) if directory is not None else 0
        log.info("team memberships changed in %s: %d cached answers evicted", change.org or "(unknown org)", evicted)
        return f"team memberships: {evicted} cached answer(s) evicted"
