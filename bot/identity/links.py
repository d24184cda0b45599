"""People: one record across Slack, Teams and GitHub (issue 21).

A person is every identity that belongs together: a ``people:`` entry of the config (its Slack user, Teams AAD
object id and GitHub login, written by an admin), plus every chat identity linked through GitHub's sign-in to a
GitHub account (keyed by GitHub's numeric user id; a login is a display name that can change). A link attaches a
chat identity to the person who already holds any of those identities; it never creates a second person for the
same GitHub account, and it never joins two ``people:`` entries.

Identities are strings ``slack:<user id>``, ``teams:<aad object id>``, ``github:<numeric id>``,
``gh-login:<login, lowercased>`` and ``person:<key>``. Four eyes compares sets of them (bot/identity/rbac.py).

A link is made in two steps, so that the same human proves both ends (bot/identity/commands.py): GitHub's callback
only records a *pending* link and shows a one-time code; the link exists when the chat user who asked sends that
code back within 10 minutes.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass, replace

from bot.config import Config, Person
from bot.domain import Actor
from bot.store.store import Unit

LINKED_PREFIX = "github:"  # person key of someone known only through a verified link: github:<numeric id>
CODE_TTL_S = 600
MAX_CODE_TRIES = 5  # wrong codes per chat identity before its pending links are dropped
_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
_CHAT = ("slack", "teams")


@dataclass(frozen=True, slots=True)
class Who:
    """A resolved person: their key (None = unknown), every identity they hold, and their verified GitHub login."""

    person: str | None
    identities: frozenset[str]
    login: str = ""  # "" = no verified GitHub identity

    @property
    def verified(self) -> bool:
        return bool(self.login)


def _config_identities(p: Person) -> set[str]:
    out = {f"person:{p.key}"}
    out.update(f"{k}:{v}" for k, v in (("slack", p.slack), ("teams", p.teams)) if v)
    if p.github:
        out.add(f"gh-login:{p.github.lower()}")
    return out


def _config_person(config: Config, ids: set[str]) -> list[Person]:
    return [p for p in config.people.values() if _config_identities(p) & ids]


async def _links_touching(u: Unit, ids: set[str]) -> list[dict[str, object]]:
    chat = [i.split(":", 1) for i in ids if i.split(":", 1)[0] in _CHAT]
    gh_ids = [int(i.split(":", 1)[1]) for i in ids if i.startswith("github:")]
    logins = [i.split(":", 1)[1] for i in ids if i.startswith("gh-login:")]
    where: list[str] = []
    args: list[object] = []
    for plat, pid in chat:
        where.append("(platform = ? AND platform_id = ?)")
        args += [plat, pid]
    if gh_ids:
        where.append(f"github_id IN ({', '.join('?' * len(gh_ids))})")
        args += gh_ids
    if logins and not gh_ids:
        # a login reaches a link only while no numeric id is known: logins are names that can change hands (a
        # renamed account's old login can be taken by someone else), ids cannot
        where.append(f"github_login IN ({', '.join('?' * len(logins))})")
        args += logins
    if not where:
        return []
    rows = await u.c.fetch("SELECT platform, platform_id, github_login, github_id FROM identity_links WHERE "
                           + " OR ".join(where), *args)
    return [dict(r) for r in rows]


async def closure(u: Unit, config: Config, seeds: set[str]) -> Who:
    """Everything that belongs to the person holding any of ``seeds``: config entries and verified links, followed
    until nothing new turns up (a handful of reads: each round adds a platform or an account)."""
    ids = set(seeds)
    login = ""
    for _ in range(8):
        before = len(ids)
        for p in _config_person(config, ids):
            ids |= _config_identities(p)
        for row in await _links_touching(u, ids):
            ids |= {f"{row['platform']}:{row['platform_id']}", f"github:{row['github_id']}",
                    f"gh-login:{str(row['github_login']).lower()}"}
            login = login or str(row["github_login"]).lower()
        if len(ids) == before:
            break
    people = sorted(p.key for p in _config_person(config, ids))
    for p in (config.people[k] for k in people):
        if p.github:
            login = p.github.lower()  # the config's login wins over a link
            break
    gh_ids = sorted(i for i in ids if i.startswith("github:"))
    person = people[0] if people else (f"{LINKED_PREFIX}{gh_ids[0].split(':', 1)[1]}" if gh_ids else None)
    if person is not None:
        ids.add(f"person:{person}")
    return Who(person, frozenset(ids), login)


async def resolve_actor(u: Unit, config: Config, actor: Actor) -> tuple[Actor, Who]:
    """The chat actor as a person: key and every identity (``Actor.identities``)."""
    who = await closure(u, config, {f"{actor.platform}:{actor.platform_id}"})
    return replace(actor, person=who.person, identities=who.identities), who


async def resolve_github(u: Unit, config: Config, *users: tuple[str, int]) -> Who:
    """The person behind GitHub accounts ((login, numeric id) pairs: a run's actor and triggering actor)."""
    seeds: set[str] = set()
    for login, uid in users:
        if login:
            seeds.add(f"gh-login:{login.lower()}")
        if uid > 0:
            seeds.add(f"github:{uid}")
    if not seeds:
        return Who(None, frozenset())
    who = await closure(u, config, seeds)
    if who.person is None:  # a GitHub account nobody linked: a person of its own, by its numeric id or login
        first = next((uid for _, uid in users if uid > 0), 0)
        key = f"{LINKED_PREFIX}{first}" if first else f"gh-login:{users[0][0].lower()}"
        return Who(key, who.identities | {f"person:{key}"}, users[0][0].lower())
    return who if who.login else replace(who, login=next((lg.lower() for lg, _ in users if lg), ""))


async def linked_login(u: Unit, platform: str, platform_id: str) -> str:
    row = await u.c.fetchrow("SELECT github_login FROM identity_links WHERE platform = ? AND platform_id = ?",
                             platform, platform_id)
    return str(row["github_login"]) if row else ""


async def add_link(u: Unit, config: Config, *, platform: str, platform_id: str, login: str, github_id: int) -> str:
    """Link and return "" on success, else the reason nothing was stored."""
    login = login.lower()
    if github_id <= 0:
        return "GitHub did not give the account's numeric id"
    chat = await closure(u, config, {f"{platform}:{platform_id}"})
    account = await closure(u, config, {f"github:{github_id}", f"gh-login:{login}"})
    chat_people = {i for i in chat.identities if i.startswith("person:") and not i.startswith("person:github:")}
    account_people = {i for i in account.identities if i.startswith("person:") and not i.startswith("person:github:")}
    owner = sorted(account_people)[0].removeprefix("person:") if account_people else ""
    configured = getattr(config.people[owner], platform, "") if owner in config.people else ""
    if (account_people and chat_people and account_people != chat_people) or configured not in ("", platform_id):
        # a config entry is the admin's word: a link never moves an account between people, and never gives a
        # person a second account on a platform the config already names for them
        return f"the GitHub account {login} belongs to people.{owner} in the config, not to you"
    mine = [i for i in account.identities if i.startswith(f"{platform}:") and i != f"{platform}:{platform_id}"]
    config_ids = {i for p in config.people.values() for i in _config_identities(p)}
    if any(i not in config_ids for i in mine):
        return f"the GitHub account {login} is already linked to someone else on {platform}"
    current = await linked_login(u, platform, platform_id)
    if current == login:
        return ""
    if current:
        return f"you are already linked to {current}; `/deploy unlink` first"
    if chat.login and chat.login != login:
        return f"your chat account belongs to GitHub {chat.login} in the config; link that account"
    n = await u.c.execute(
        "INSERT INTO identity_links (platform, platform_id, github_login, github_id, linked_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", platform, platform_id, login, github_id, time.time())
    return "" if n == 1 else f"the GitHub account {login} is already linked to someone else"


async def remove_link(u: Unit, platform: str, platform_id: str) -> str:
    """Unlink; returns the login that was linked ("" = none). Open requests keep the identities they froze."""
    login = await linked_login(u, platform, platform_id)
    if login:
        await u.c.execute("DELETE FROM identity_links WHERE platform = ? AND platform_id = ?", platform, platform_id)
    return login


# ---------------------------------------------------------------- pending links (the one-time code)


def _hash(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


def new_code() -> str:
    """8 characters from 31 unambiguous ones (~40 bits): typed by a person, guessed by nobody in 5 tries."""
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(8))


async def add_pending(u: Unit, *, platform: str, platform_id: str, login: str, github_id: int, now: float) -> str:
    """Record a finished sign-in awaiting its code; returns the code (shown once, on the callback page)."""
    code = new_code()
    await u.c.execute("DELETE FROM pending_links WHERE expires_at < ?", now)
    await u.c.execute("INSERT INTO pending_links (code_hash, platform, platform_id, github_login, github_id, "
                      "expires_at) VALUES (?, ?, ?, ?, ?, ?)", _hash(code), platform, platform_id, login.lower(),
                      github_id, now + CODE_TTL_S)
    return code


async def take_pending(u: Unit, *, platform: str, platform_id: str, code: str,
                       now: float) -> tuple[str, int] | str:
    """The (login, id) a code confirms for this chat identity, consumed; or the reason it is refused. A code
    belongs to the chat identity that started the sign-in: anyone else sending it is refused, and the pending link
    is dropped (the code was seen by someone else)."""
    row = await u.c.fetchrow("SELECT platform, platform_id, github_login, github_id, expires_at FROM pending_links "
                             "WHERE code_hash = ?", _hash(code))
    if row is None:
        tries = await u.c.execute("UPDATE pending_links SET expires_at = expires_at - ? WHERE platform = ? AND "
                                  "platform_id = ?", CODE_TTL_S / MAX_CODE_TRIES, platform, platform_id)
        return ("that code is not valid (codes work once, for 10 minutes)"
                + ("; each wrong code shortens your pending sign-in" if tries else ""))
    await u.c.execute("DELETE FROM pending_links WHERE code_hash = ?", _hash(code))
    if (str(row["platform"]), str(row["platform_id"])) != (platform, platform_id):
        return "that code belongs to another chat account's sign-in; it is void now"
    if float(row["expires_at"]) < now:
        return "that code has expired; run `/deploy link` again"
    return str(row["github_login"]), int(row["github_id"])
