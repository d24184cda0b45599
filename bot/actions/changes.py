"""Read what a deploy changes from GitHub: compare, combined status, check runs, and (when the bot has no record
of its own) the SHA the Deployments API says runs in an environment. Never raises for GitHub being down: the
answer then says "unavailable" and approvals work as before."""

from __future__ import annotations

import logging
import urllib.parse
from datetime import datetime
from typing import Any

from bot.actions.github import GitHubClient
from bot.errors import GitHubError
from bot.previews import AHEAD, FIRST, SHOWN, UNAVAILABLE, UNRELATED, Changes, CommitLine, pr_number

log = logging.getLogger(__name__)
_FAILING = {"failure", "timed_out", "cancelled", "action_required", "startup_failure", "stale"}


def _when(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _line(c: dict[str, Any]) -> CommitLine:
    commit = c.get("commit") or {}
    title = str(commit.get("message") or "").split("\n", 1)[0]
    author = (c.get("author") or {}).get("login") or (commit.get("author") or {}).get("name") or ""
    return CommitLine(str(c.get("sha") or ""), title, str(author), pr_number(title))


def _date(c: dict[str, Any]) -> datetime | None:
    return _when(((c.get("commit") or {}).get("author") or {}).get("date"))


async def _range(github: GitHubClient, base: str, head: str, *, shown: int = SHOWN) -> Changes:
    if not base:
        data = await github.get_json("reading the commit", f"/commits/{urllib.parse.quote(head, safe='')}")
        return Changes("", head, FIRST, total=1, commits=(_line(data),), oldest_commit_at=_date(data))
    try:
        data = await github.get_json("comparing commits", f"/compare/{base}...{head}")
    except GitHubError as exc:
        if exc.status == 404 and "common ancestor" in str(exc).lower():
            return Changes(base, head, UNRELATED)
        raise
    commits = [c for c in data.get("commits") or [] if isinstance(c, dict)]
    dates = [d for d in (_date(c) for c in commits) if d is not None]
    return Changes(base, head, str(data.get("status") or AHEAD), total=int(data.get("ahead_by") or 0),
                   behind=int(data.get("behind_by") or 0),
                   commits=tuple(_line(c) for c in reversed(commits[-shown:])),  # newest first
                   oldest_commit_at=min(dates) if dates else None)


async def _checks(github: GitHubClient, sha: str) -> tuple[str, tuple[str, ...]]:
    status = await github.get_json("reading the commit status", f"/commits/{sha}/status")
    runs = await github.get_json("reading the check runs", f"/commits/{sha}/check-runs", {"per_page": 100})
    failing = [str(s.get("context")) for s in status.get("statuses") or [] if s.get("state") in ("failure", "error")]
    pending = any(s.get("state") == "pending" for s in status.get("statuses") or [])
    seen = len(status.get("statuses") or [])
    for run in runs.get("check_runs") or []:
        seen += 1
        if run.get("status") != "completed":
            pending = True
        elif run.get("conclusion") in _FAILING:
            failing.append(str(run.get("name")))
    if failing:
        return "failing", tuple(failing)
    return ("pending" if pending else "passed" if seen else "none"), ()


async def fetch_changes(github: GitHubClient, *, base: str | None, head: str) -> Changes:
    """The range ``base...head`` and ``head``'s checks; each half independently "unavailable" on failure.
    ``base`` "" means nothing is known to run there; None that it could not be found out."""
    try:
        if base is None:
            raise GitHubError("what runs there is unknown", transient=True)
        changes = await _range(github, base, head)
    except GitHubError as exc:
        log.warning("reading the changes %s...%s failed: %s", (base or "?")[:7], head[:7], exc)
        changes = Changes(base or "", head, UNAVAILABLE)
    try:
        checks, failing = await _checks(github, head)
    except GitHubError as exc:
        log.warning("reading the checks of %s failed: %s", head[:7], exc)
        checks, failing = "unavailable", ()
    return Changes(changes.base_sha, changes.head_sha, changes.relation, total=changes.total, behind=changes.behind,
                   commits=changes.commits, oldest_commit_at=changes.oldest_commit_at, checks=checks,
                   failing=failing)


async def deployed_sha(github: GitHubClient, environment: str) -> str | None:
    """The newest deployment to ``environment`` whose latest status is success, per GitHub ("" if none, None
    if GitHub could not say)."""
    try:
        deployments = await github.get_json("listing deployments", "/deployments",
                                            {"environment": environment, "per_page": 10})
        for d in deployments or []:
            statuses = await github.get_json("reading deployment statuses", f"/deployments/{d['id']}/statuses",
                                             {"per_page": 1})
            if statuses and statuses[0].get("state") == "success":
                return str(d.get("sha") or "")
    except (GitHubError, KeyError, TypeError) as exc:
        log.warning("reading deployments of %s failed: %s", environment, exc)
        return None
    return ""


async def succeeded_in(github: GitHubClient, environment: str, sha: str) -> bool:
    """Does GitHub's Deployments API show ``sha`` deployed to ``environment`` with a latest status of success?
    (``GET /repos/{o}/{r}/deployments?sha=&environment=``, newest first, and each one's newest status:
    docs.github.com/en/rest/deployments/deployments#list-deployments and
    docs.github.com/en/rest/deployments/statuses#list-deployment-statuses.) Raises GitHubError when GitHub could
    not say (``transient`` tells a retry apart from a refusal)."""
    deployments = await github.get_json("listing deployments", "/deployments",
                                        {"environment": environment, "sha": sha, "per_page": 10})
    for d in deployments if isinstance(deployments, list) else []:
        if not isinstance(d, dict) or str(d.get("sha") or "") != sha:
            continue
        statuses = await github.get_json("reading deployment statuses", f"/deployments/{d.get('id')}/statuses",
                                         {"per_page": 1})
        if isinstance(statuses, list) and statuses and statuses[0].get("state") == "success":
            return True
    return False


async def shipped(github: GitHubClient, *, base: str, head: str, shown: int = 20) -> Changes:
    """The commits ``head`` adds to ``base`` (newest first, at most ``shown``; ``base`` "" = only ``head``
    itself). Raises GitHubError when GitHub could not say."""
    return await _range(github, base, head, shown=shown)
