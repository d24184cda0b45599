"""A user revoked the App's authorization at GitHub: their identity links stop resolving (issue 22).

GitHub sends ``github_app_authorization`` with action ``revoked`` "when someone revokes their authorization of a
GitHub App"; the payload names the account in ``sender`` (its numeric ``id``)
(https://docs.github.com/en/webhooks/webhook-events-and-payloads#github_app_authorization). The links made through
that account's sign-in (bot/identity/links.py, keyed by that numeric id) are removed, with any sign-in still
waiting for its code: the account no longer resolves to chat identities, nor they to it. Each removed link is
written to the audit log (``link-revoked``), which is the record that it was revoked and when. A repeated delivery
finds nothing left to remove and writes nothing. Requests already made keep the identities they froze.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from bot.domain import AuditEntry
from bot.store.store import Store

log = logging.getLogger(__name__)


async def revoke_links(store: Store, github_id: int, *, clock: Callable[[], datetime]) -> str:
    """Remove every link and pending link of GitHub account ``github_id``; returns what was done."""
    async with store.unit() as u:
        rows = await u.c.fetch("SELECT platform, platform_id, github_login FROM identity_links WHERE github_id = ?",
                               github_id)
        await u.c.execute("DELETE FROM identity_links WHERE github_id = ?", github_id)
        pending = await u.c.execute("DELETE FROM pending_links WHERE github_id = ?", github_id)
        for row in rows:
            await u.audit(AuditEntry(clock(), f"github:{github_id}", "link-revoked",
                                     f"{row['platform']}:{row['platform_id']}", "", "ok",
                                     f"{row['github_login']} revoked the GitHub App's authorization"[:500]))
    log.info("github app authorization revoked by github id %d: %d link(s), %d pending sign-in(s) removed",
             github_id, len(rows), pending)
    return (f"authorization revoked: {len(rows)} link(s) and {pending} pending sign-in(s) of github id {github_id} "
            "removed")
