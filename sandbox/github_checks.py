"""GitHub fake: pushes, check suites and commit statuses, with the webhooks GitHub sends for them (auto-deploy, issue
25 item 2). Mixed into :class:`sandbox.github_fake.GitHubFake`.

Contracts followed:
- ``GET /repos/{o}/{r}/commits/{ref}/check-suites`` ("List check suites for a Git reference",
  https://docs.github.com/en/rest/checks/suites#list-check-suites-for-a-git-reference): ``ref`` is a SHA, branch or
  tag name; query ``app_id``, ``check_name``, ``per_page`` (max 100), ``page``; answers ``{"total_count",
  "check_suites": [...]}``, each suite with ``id``, ``head_branch``, ``head_sha``, ``status``, ``conclusion``,
  ``app``, ``latest_check_runs_count``. A ref that names no commit is refused 422 "No commit found for SHA: <ref>",
  as the other commit endpoints of this fake refuse it.
- The ``push``, ``check_suite`` (``completed``) and ``status`` webhooks carry the fields of the octokit payload
  examples (tests/fixtures/published/github/events/push.1, check_suite.completed.1, status), which follow
  https://docs.github.com/en/webhooks/webhook-events-and-payloads: a push names its pusher in ``sender`` (``pusher``
  holds a name and an e-mail only); a suite's ``conclusion`` is null until it has completed.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from sandbox import github_payloads as gp
from sandbox.github_rest import ApiError

SUITE_STATUSES = {"queued", "in_progress", "completed", "requested", "pending", "waiting"}
CONCLUSIONS = {"success", "failure", "neutral", "cancelled", "timed_out", "action_required", "stale", "skipped",
               "startup_failure"}
_APPS = {"github-actions": 15368, "circleci-checks": 18001, "codecov": 254}


class ChecksMixin:
    url: str
    repository: str
    repo_id: int
    branches: dict[str, str]
    commits: dict[str, Any]
    statuses: dict[str, list[dict[str, Any]]]

    def resolve(self, ref: str) -> str | None:  # pragma: no cover - provided by GitHubFake
        raise NotImplementedError

    def add_commits(self, parent: str | None, items: list[tuple[str, str, float]], *, tag: str = "",
                    branch: str = "") -> list[str]:  # pragma: no cover - provided by HistoryMixin
        raise NotImplementedError

    def set_status(self, sha: str, context: str, state: str) -> None:  # pragma: no cover - HistoryMixin
        raise NotImplementedError

    async def send_webhook(self, event: str, payload: dict[str, Any], delivery_id: str | None = None) -> Any:
        raise NotImplementedError  # pragma: no cover - provided by GitHubFake

    def _checks_init(self) -> None:
        self.check_suites: dict[str, list[dict[str, Any]]] = {}  # sha -> suites (as the REST API lists them)
        self._suite_ids = 7_000_000_000

    # configuration and webhooks ----------------------------------------------------------------
    def _app(self, slug: str) -> dict[str, Any]:
        app_id = _APPS.get(slug, 20_000 + len(slug))
        return {"id": app_id, "slug": slug, "node_id": gp.node_id("App", app_id), "name": slug,
                "owner": gp.user(self.url, slug), "description": "", "external_url": f"{gp.HTML}/apps/{slug}",
                "html_url": f"{gp.HTML}/apps/{slug}", "created_at": gp.iso(time.time()),
                "updated_at": gp.iso(time.time()), "permissions": {"checks": "write"}, "events": []}

    def suite(self, sha: str, app: str = "github-actions", *, status: str = "queued", conclusion: str | None = None,
              runs: int = 1, branch: str = "") -> dict[str, Any]:
        """Add or change ``app``'s check suite of ``sha`` (one suite per App and commit, as GitHub keeps them)."""
        if status not in SUITE_STATUSES or (conclusion is not None and conclusion not in CONCLUSIONS):
            raise ValueError(f"not a check suite state: {status}/{conclusion}")
        suites = self.check_suites.setdefault(sha, [])
        found = next((s for s in suites if s["app"]["slug"] == app), None)
        if found is None:
            self._suite_ids += 1
            api = f"{self.url}/repos/{self.repository}"
            found = {"id": self._suite_ids, "node_id": gp.node_id("CheckSuite", self._suite_ids),
                     "head_branch": branch or None, "head_sha": sha, "url": f"{api}/check-suites/{self._suite_ids}",
                     "before": None, "after": sha, "pull_requests": [], "app": self._app(app),
                     "created_at": gp.iso(time.time()), "check_runs_url": f"{api}/check-suites/{self._suite_ids}"
                     "/check-runs", "rerequestable": True, "runs_rerequestable": True}
            suites.append(found)
        found.update(status=status, conclusion=conclusion if status == "completed" else None,
                     latest_check_runs_count=runs, updated_at=gp.iso(time.time()))
        return found

    async def push(self, branch: str, *, message: str = "change", author: str = "dev-gh", author_id: int = 0,
                   sender: str | None = None, sender_id: int = 0, send: bool = True) -> str:
        """A new commit on ``branch`` (parent: the branch's head), the branch moved to it, and the ``push`` webhook
        (``sender`` is who pushed; default the author). Returns the new SHA."""
        before = self.branches.get(branch) or "0" * 40
        sha = self.add_commits(before if before in self.commits else None, [(message, author, time.time())],
                               branch=branch)[-1]
        if send:
            who = gp.user(self.url, sender or author)
            who["id"] = sender_id or who["id"]
            head = {"id": sha, "tree_id": gp.fake_sha(f"tree:{sha}"), "distinct": True, "message": message,
                    "timestamp": gp.iso(time.time()), "url": f"{gp.HTML}/{self.repository}/commit/{sha}",
                    "author": {"name": author, "email": f"{author}@users.noreply.github.com", "username": author},
                    "committer": {"name": author, "email": f"{author}@users.noreply.github.com",
                                  "username": author},
                    "added": [], "removed": [], "modified": ["app.py"]}
            await self.send_webhook("push", {
                "ref": f"refs/heads/{branch}", "before": before, "after": sha, "created": before == "0" * 40,
                "deleted": False, "forced": False, "base_ref": None,
                "compare": f"{gp.HTML}/{self.repository}/compare/{before[:12]}...{sha[:12]}", "commits": [head],
                "head_commit": head, "repository": gp.repository(self.url, self.repository, self.repo_id, "main"),
                "pusher": {"name": sender or author, "email": f"{sender or author}@users.noreply.github.com"},
                "sender": who})
        return sha

    async def finish_suite(self, sha: str, app: str = "github-actions", conclusion: str = "success", *,
                           branch: str = "main", delivery_id: str | None = None) -> Any:
        """``app``'s suite of ``sha`` completes with ``conclusion``, and the ``check_suite`` webhook says so."""
        suite = self.suite(sha, app, status="completed", conclusion=conclusion, branch=branch)
        commit = self.commits.get(sha)
        author = commit.author if commit is not None else "dev-gh"
        payload = {"action": "completed", "check_suite": {
            **suite, "head_commit": {"id": sha, "tree_id": gp.fake_sha(f"tree:{sha}"),
                                     "message": commit.message if commit is not None else "change",
                                     "timestamp": gp.iso(time.time()),
                                     "author": {"name": author, "email": f"{author}@users.noreply.github.com"},
                                     "committer": {"name": author, "email": f"{author}@users.noreply.github.com"}}},
            "repository": gp.repository(self.url, self.repository, self.repo_id, "main"),
            "sender": gp.user(self.url, app)}
        return await self.send_webhook("check_suite", payload, delivery_id)

    async def post_status(self, sha: str, context: str, state: str, *, branch: str = "main") -> Any:
        """A commit status (``POST /statuses/{sha}`` by a CI service), and the ``status`` webhook."""
        self.set_status(sha, context, state)
        payload = {"id": 9_000_000 + len(self.statuses.get(sha, [])), "sha": sha, "name": self.repository,
                   "target_url": None, "context": context, "description": None, "state": state,
                   "commit": self._commit_json(sha),  # type: ignore[attr-defined]
                   "branches": [{"name": branch, "commit": {"sha": self.branches.get(branch, sha),
                                                           "url": f"{self.url}/repos/{self.repository}/commits/"
                                                                  f"{self.branches.get(branch, sha)}"},
                                 "protected": branch == "main"}],
                   "created_at": gp.iso(time.time()), "updated_at": gp.iso(time.time()),
                   "repository": gp.repository(self.url, self.repository, self.repo_id, "main"),
                   "sender": gp.user(self.url, "ci-bot"), "avatar_url": f"{gp.HTML}/ci-bot.png"}
        return await self.send_webhook("status", payload)

    # handlers ----------------------------------------------------------------------------------
    async def _list_check_suites(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        sha = self.resolve(p["ref"])
        if sha is None:
            raise ApiError(422, f"No commit found for SHA: {p['ref']}")
        q = request.query
        try:
            per_page, page = int(q.get("per_page", 30)), int(q.get("page", 1))
        except ValueError:
            raise ApiError(422, "Invalid request.\n\nper_page and page must be integers.") from None
        per_page, page = min(max(per_page, 1), 100), max(page, 1)
        suites = [s for s in self.check_suites.get(sha, [])
                  if not q.get("app_id") or str(s["app"]["id"]) == q["app_id"]]
        chunk = suites[(page - 1) * per_page: page * per_page]
        return web.json_response({"total_count": len(suites), "check_suites": chunk})

    def checks_routes(self, o_r: str) -> list[tuple[str, str, Any]]:
        """Routes to put ahead of ``GET .../commits/{ref}`` (which would swallow ``.../check-suites``)."""
        return [("GET", o_r + r"/commits/(?P<ref>[^/]+)/check-suites$", self._list_check_suites)]
