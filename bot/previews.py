"""What a deploy changes: the commit range from what runs in the environment to the requested commit, and the
requested commit's checks. Shown on approval cards (Slack and Teams alike) and kept with the request (the oldest
commit's time is the start of the change's lead time, see ``bot.deploys.delivery_metrics``).

Everything here is plain text for ``bot.deploys.cards``: commit titles and authors come from outside and each surface
escapes them where it renders them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from bot.domain import Fact, Link

SHOWN = 5  # commit titles on a card; the rest is "+N more"

# relation of the requested commit to the deployed one
AHEAD, IDENTICAL, BEHIND, DIVERGED, UNRELATED, FIRST, UNAVAILABLE = (
    "ahead", "identical", "behind", "diverged", "unrelated", "first", "unavailable")
_PR = re.compile(r"\(#(\d{1,9})\)\s*$")


@dataclass(frozen=True, slots=True)
class CommitLine:
    sha: str
    title: str  # first line of the message, untrusted
    author: str  # GitHub login (or the commit's author name), untrusted
    pr: int | None = None  # from a squash-merge title "... (#123)"


@dataclass(frozen=True, slots=True)
class Changes:
    base_sha: str  # what runs in the environment ("" when nothing is known to run there)
    head_sha: str
    relation: str  # ahead | identical | behind | diverged | unrelated | first | unavailable
    total: int = 0  # commits in the range (head not in base)
    behind: int = 0  # deployed commits the request would drop
    commits: tuple[CommitLine, ...] = ()  # newest first, at most SHOWN
    oldest_commit_at: datetime | None = None  # author date of the oldest commit in the range
    checks: str = ""  # passed | pending | failing | none | unavailable
    failing: tuple[str, ...] = ()  # names of failing checks / status contexts


def pr_number(title: str) -> int | None:
    m = _PR.search(title)
    return int(m.group(1)) if m else None


def warning(c: Changes) -> str:
    """The prominent warning for a request that does not move forward from what runs, or ""."""
    if c.relation == BEHIND:
        return (f"⚠ Downgrade: {c.head_sha[:7]} is {c.behind} commit(s) behind {c.base_sha[:7]}, "
                "which runs there now")
    if c.relation == DIVERGED:
        return (f"⚠ Unrelated history: {c.head_sha[:7]} drops {c.behind} commit(s) of {c.base_sha[:7]}, "
                "which runs there now")
    if c.relation == UNRELATED:
        return f"⚠ Unrelated: {c.head_sha[:7]} shares no history with {c.base_sha[:7]}, which runs there now"
    return ""


def _checks_text(c: Changes) -> str:
    if c.checks == "failing":
        return "failing: " + ", ".join(c.failing[:8]) + (f" (+{len(c.failing) - 8})" if len(c.failing) > 8 else "")
    return {"passed": "passed", "pending": "pending", "none": "no checks reported",
            "unavailable": "unavailable"}.get(c.checks, c.checks or "unavailable")


def preview_facts(c: Changes | None) -> list[Fact]:
    """The card facts for a request's changes (``None``: still being looked up)."""
    if c is None:
        return [Fact("Changes", "looking up…")]
    if c.relation == UNAVAILABLE:
        return [Fact("Changes", "changes unavailable (GitHub did not answer)"), Fact("Checks", _checks_text(c))]
    facts = []
    if c.relation == FIRST:
        facts.append(Fact("Changes", "first deployment recorded here"))
    elif c.relation == IDENTICAL:
        facts.append(Fact("Changes", f"none: {c.head_sha[:7]} already runs there"))
    elif c.relation in (AHEAD, DIVERGED):
        facts.append(Fact("Changes", f"{c.total} commit(s) since {c.base_sha[:7]}"))
    if c.commits and c.relation in (AHEAD, DIVERGED):
        lines = [f"{x.sha[:7]} {_PR.sub('', x.title).rstrip()[:80]} — {x.author or '?'}"
                 + (f" (#{x.pr})" if x.pr else "") for x in c.commits[:SHOWN]]
        if c.total > SHOWN:
            lines.append(f"+{c.total - SHOWN} more")
        facts.append(Fact("Commits", "\n".join(lines)))
    facts.append(Fact("Checks", _checks_text(c)))
    return facts


def preview_links(c: Changes | None, *, repository: str, web_url: str) -> list[Link]:
    if c is None or c.relation not in (AHEAD, DIVERGED, BEHIND):
        return []
    links = [Link(f"#{x.pr}", f"{web_url}/{repository}/pull/{x.pr}") for x in c.commits[:SHOWN] if x.pr]
    links.append(Link(f"Compare {c.base_sha[:7]}...{c.head_sha[:7]}",
                      f"{web_url}/{repository}/compare/{c.base_sha}...{c.head_sha}"))
    return links
