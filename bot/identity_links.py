"""Verified identity links: a chat identity (Slack or Teams user) -> the GitHub login it proved through GitHub's
sign-in (the OAuth web flow of the GitHub App's user authorization; bot/oauth.py).

``people:`` entries in the config win over links. A login is linked to at most one chat identity (a UNIQUE
constraint, so two racing links cannot both win), and never to a chat identity other than the person the config
already gives that login to: four eyes compares people, and a person must not be able to become another.
"""

from __future__ import annotations

import time
from dataclasses import replace

from bot.config import Config
from bot.domain import Actor
from bot.policy.rbac import LINKED_PREFIX
from bot.store.store import Unit


async def linked_login(u: Unit, platform: str, platform_id: str) -> str:
    row = await u.c.fetchrow("SELECT github_login FROM identity_links WHERE platform = ? AND platform_id = ?",
                             platform, platform_id)
    return str(row["github_login"]) if row else ""


async def add_link(u: Unit, config: Config, *, platform: str, platform_id: str, login: str, github_id: int) -> str:
    """Link and return "" on success, else the reason nothing was stored."""
    login = login.lower()
    owner = next((p for p in config.people.values() if p.github.lower() == login), None)
    if owner is not None and getattr(owner, platform, "") != platform_id:
        return f"the GitHub account {login} belongs to people.{owner.key} in the config, not to you"
    current = await linked_login(u, platform, platform_id)
    if current == login:
        return ""
    if current:
        return f"you are already linked to {current}; `/deploy unlink` first"
    n = await u.c.execute(
        "INSERT INTO identity_links (platform, platform_id, github_login, github_id, linked_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", platform, platform_id, login, github_id, time.time())
    return "" if n == 1 else f"the GitHub account {login} is already linked to someone else"


async def remove_link(u: Unit, platform: str, platform_id: str) -> str:
    """Unlink; returns the login that was linked ("" = none)."""
    login = await linked_login(u, platform, platform_id)
    if login:
        await u.c.execute("DELETE FROM identity_links WHERE platform = ? AND platform_id = ?", platform, platform_id)
    return login


async def resolve_actor(u: Unit, config: Config, actor: Actor) -> tuple[Actor, str]:
    """The actor's person and verified GitHub login. A config person keeps their key (and their configured login,
    which wins over a link); someone known only through a link becomes person ``github:<login>``."""
    person = config.people.get(actor.person or "")
    if person is not None and person.github:
        return actor, person.github.lower()
    login = await linked_login(u, str(actor.platform), actor.platform_id)
    if person is not None or not login:
        return actor, login
    by_config = next((p for p in config.people.values() if p.github.lower() == login), None)
    return replace(actor, person=by_config.key if by_config else f"{LINKED_PREFIX}{login}"), login
