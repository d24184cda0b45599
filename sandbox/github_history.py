"""GitHub fake: a commit graph with compare, commit statuses and check runs, and deployment listings.
Mixed into :class:`sandbox.github_fake.GitHubFake` ahead of :class:`sandbox.github_rest.RestMixin`.

Shapes as GitHub documents them: ``GET /repos/{o}/{r}/compare/{base}...{head}`` answers ``status`` (ahead, behind,
identical, diverged), ``ahead_by``, ``behind_by``, ``total_commits`` and ``commits`` (oldest first, each with
``sha``, ``commit.message``, ``commit.author.date``, ``author.login``, ``html_url``); two commits with no common
ancestor answer 404 "No common ancestor between …". ``GET .../commits/{ref}/status`` is the combined status
(``state`` failure if any context failed or errored, pending if none or any pending, else success);
``GET .../commits/{ref}/check-runs`` lists ``check_runs`` with ``status`` and ``conclusion``."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from sandbox import github_payloads as gp
from sandbox.github_rest import ApiError


@dataclass
class FakeCommit:
    sha: str
    parents: tuple[str, ...]
    message: str
    author: str  # GitHub login
    date: float  # author date, epoch seconds


class HistoryMixin:
    url: str
    repository: str
    branches: dict[str, str]
    tags: dict[str, str]
    deployments: list[dict[str, Any]]
    deployment_statuses: list[dict[str, Any]]

    def resolve(self, ref: str) -> str | None:  # pragma: no cover - provided by GitHubFake
        raise NotImplementedError

    def _history_init(self) -> None:
        self.commits: dict[str, FakeCommit] = {}
        self.statuses: dict[str, list[dict[str, Any]]] = {}
        self.check_runs: dict[str, list[dict[str, Any]]] = {}

    # configuration -----------------------------------------------------------------------------
    def add_commits(self, parent: str | None, items: list[tuple[str, str, float]], *, tag: str = "",
                    branch: str = "") -> list[str]:
        """A linear chain of commits (message, author login, author date) on top of ``parent`` (None: a new
        root). The last one gets ``tag`` / ``branch`` when given. Returns the SHAs, oldest first."""
        shas: list[str] = []
        previous = parent
        for message, author, date in items:
            sha = gp.fake_sha(f"commit:{previous}:{message}:{date}:{time.time_ns()}")
            self.commits[sha] = FakeCommit(sha, (previous,) if previous else (), message, author, date)
            shas.append(sha)
            previous = sha
        if shas and tag:
            self.tags[tag] = shas[-1]
        if shas and branch:
            self.branches[branch] = shas[-1]
        return shas

    def set_status(self, sha: str, context: str, state: str) -> None:
        self.statuses.setdefault(sha, []).insert(0, {"context": context, "state": state})

    def add_check_run(self, sha: str, name: str, conclusion: str | None, status: str = "completed") -> None:
        self.check_runs.setdefault(sha, []).append({"name": name, "status": status, "conclusion": conclusion})

    # helpers -----------------------------------------------------------------------------------
    def _ancestors(self, sha: str) -> dict[str, int]:
        """Every commit reachable from ``sha`` (itself included) -> distance."""
        seen: dict[str, int] = {}
        todo = [(sha, 0)]
        while todo:
            cur, depth = todo.pop()
            if cur in seen:
                continue
            seen[cur] = depth
            commit = self.commits.get(cur)
            todo.extend((p, depth + 1) for p in (commit.parents if commit else ()))
        return seen

    def _commit_json(self, sha: str) -> dict[str, Any]:
        c = self.commits.get(sha)
        data = gp.commit(self.url, self.repository, sha, c.date if c else time.time())
        if c is not None:
            data["commit"]["message"] = c.message
            data["commit"]["author"]["name"] = c.author
            data["author"] = gp.user(self.url, c.author)
            data["parents"] = [{"sha": p, "url": f"{self.url}/repos/{self.repository}/commits/{p}"}
                               for p in c.parents]
        return data

    # handlers ----------------------------------------------------------------------------------
    async def _get_commit(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        sha = self.resolve(p["ref"])
        if sha is None:
            raise ApiError(422, f"No commit found for SHA: {p['ref']}")
        return web.json_response(self._commit_json(sha))

    async def _compare(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        base, head = self.resolve(p["base"]), self.resolve(p["head"])
        if base is None or head is None:
            raise ApiError(404, "Not Found")
        if base == head:
            ahead: list[str] = []
            behind: list[str] = []
        elif base in self.commits or head in self.commits:  # a default tag may be the root of a graph chain
            from_base, from_head = self._ancestors(base), self._ancestors(head)
            if not set(from_base) & set(from_head):
                raise ApiError(404, f"No common ancestor between {p['base']} and {p['head']}.")
            ahead = sorted((s for s in from_head if s not in from_base), key=lambda s: -from_head[s])
            behind = [s for s in from_base if s not in from_head]
        else:  # refs outside the graph (the default tags): head is one commit ahead, as before
            ahead, behind = [head], []
        status = ("identical" if not ahead and not behind else "ahead" if not behind
                  else "behind" if not ahead else "diverged")
        spec = f"{p['base']}...{p['head']}"
        return web.json_response({
            "url": f"{self.url}/repos/{self.repository}/compare/{spec}",
            "html_url": f"{gp.HTML}/{self.repository}/compare/{spec}",
            "permalink_url": f"{gp.HTML}/{self.repository}/compare/{base[:7]}...{head[:7]}",
            "diff_url": f"{gp.HTML}/{self.repository}/compare/{spec}.diff",
            "patch_url": f"{gp.HTML}/{self.repository}/compare/{spec}.patch",
            "base_commit": self._commit_json(base),
            "merge_base_commit": self._commit_json(base),
            "status": status,
            "ahead_by": len(ahead),
            "behind_by": len(behind),
            "total_commits": len(ahead),
            "commits": [self._commit_json(s) for s in ahead[:250]],
            "files": [],
        })

    async def _combined_status(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        sha = self.resolve(p["ref"])
        if sha is None:
            raise ApiError(422, f"No commit found for SHA: {p['ref']}")
        latest: dict[str, dict[str, Any]] = {}
        for s in self.statuses.get(sha, []):
            latest.setdefault(s["context"], s)
        states = [s["state"] for s in latest.values()]
        state = ("failure" if any(s in ("failure", "error") for s in states) else
                 "pending" if not states or "pending" in states else "success")
        api = f"{self.url}/repos/{self.repository}"
        return web.json_response({
            "state": state, "sha": sha, "total_count": len(states),
            "statuses": [{"id": i + 1, "context": s["context"], "state": s["state"], "description": "",
                          "target_url": None, "created_at": gp.iso(time.time())}
                         for i, s in enumerate(latest.values())],
            "commit_url": f"{api}/commits/{sha}", "url": f"{api}/commits/{sha}/status",
            "repository": {"full_name": self.repository},
        })

    async def _list_check_runs(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        sha = self.resolve(p["ref"])
        if sha is None:
            raise ApiError(422, f"No commit found for SHA: {p['ref']}")
        runs = [{"id": 5_000_000 + i, "name": r["name"], "head_sha": sha, "status": r["status"],
                 "conclusion": r["conclusion"], "html_url": f"{gp.HTML}/{self.repository}/runs/{5_000_000 + i}",
                 "started_at": gp.iso(time.time()), "completed_at": gp.iso(time.time())}
                for i, r in enumerate(self.check_runs.get(sha, []))]
        return web.json_response({"total_count": len(runs), "check_runs": runs})

    async def _list_deployments(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        # filters sha, ref, task, environment: docs.github.com/en/rest/deployments/deployments#list-deployments
        env, sha = request.query.get("environment"), request.query.get("sha")
        found = [d for d in self.deployments if (env is None or d.get("environment") == env)
                 and (sha is None or d.get("sha") == sha)]
        return web.json_response(sorted(found, key=lambda d: -int(d["id"]))[:int(request.query.get("per_page", 30))])

    async def _list_deployment_statuses(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        found = [s for s in self.deployment_statuses if str(s.get("deployment_id", "")) == p["dep"]
                 or s.get("deployment_url", "").endswith(f"/deployments/{p['dep']}")]
        return web.json_response(list(reversed(found)))

    def history_routes(self, o_r: str) -> list[tuple[str, str, Any]]:
        """Routes to put ahead of ``GET .../commits/{ref}`` (which would swallow ``.../status``)."""
        return [
            ("GET", o_r + r"/commits/(?P<ref>[^/]+)/status$", self._combined_status),
            ("GET", o_r + r"/commits/(?P<ref>[^/]+)/check-runs$", self._list_check_runs),
            ("GET", o_r + r"/deployments$", self._list_deployments),
            ("GET", o_r + r"/deployments/(?P<dep>\d+)/statuses$", self._list_deployment_statuses),
        ]
