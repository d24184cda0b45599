"""GitHub fake: REST handlers for refs, commits, compare, deployments and app installation tokens,
plus the ``GET .../actions/runs`` query filters. Mixed into :class:`sandbox.github_fake.GitHubFake`."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from datetime import UTC, datetime
from typing import Any

import jwt
from aiohttp import web

from sandbox import github_payloads as gp

DOCS = "https://docs.github.com/rest"


class ApiError(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


class RestMixin:
    url: str
    repository: str
    actor: str
    branches: dict[str, str]
    tags: dict[str, str]
    deployments: list[dict[str, Any]]
    deployment_statuses: list[dict[str, Any]]
    installation_tokens: dict[str, float]
    token_installations: dict[str, int]
    app_id: int | None
    app_public_key: str | None
    installation_id: int
    default_branch: str
    workflow_sources: dict[str, str]
    workflows: dict[str, Any]

    def resolve(self, ref: str) -> str | None:  # pragma: no cover - provided by GitHubFake
        raise NotImplementedError

    def installations(self) -> dict[str, int]:  # pragma: no cover - provided by OrgMixin
        raise NotImplementedError

    async def _get_commit(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        sha = self.resolve(p["ref"])
        if sha is None:
            raise ApiError(422, f"No commit found for SHA: {p['ref']}")
        return web.json_response(gp.commit(self.url, self.repository, sha, time.time()))

    async def _get_contents(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        """GET /repos/{owner}/{repo}/contents/{path}: a file as ``type: file``, ``encoding: base64``, 404 "Not
        Found" when there is none (https://docs.github.com/en/rest/repos/contents#get-repository-content). The fake
        holds the workflow files only, the same at every ref."""
        path = p["path"]
        file = path.removeprefix(".github/workflows/")
        if file == path or file not in self.workflows or file not in self.workflow_sources:
            raise ApiError(404, "Not Found")
        raw = self.workflow_sources[file].encode()
        sha = hashlib.sha1(b"blob %d\0" % len(raw) + raw, usedforsecurity=False).hexdigest()
        api = f"{self.url}/repos/{self.repository}/contents/{path}"
        html = f"{gp.HTML}/{self.repository}/blob/{self.default_branch}/{path}"
        git = f"{self.url}/repos/{self.repository}/git/blobs/{sha}"
        return web.json_response({
            "type": "file", "encoding": "base64", "size": len(raw), "name": file, "path": path,
            "content": base64.encodebytes(raw).decode(), "sha": sha, "url": api, "git_url": git, "html_url": html,
            "download_url": None, "_links": {"self": api, "git": git, "html": html},
        })

    async def _get_branch(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        sha = self.branches.get(p["branch"])
        if sha is None:
            raise ApiError(404, "Branch not found")
        base = f"{self.url}/repos/{self.repository}/branches/{p['branch']}"
        return web.json_response(
            {
                "name": p["branch"],
                "commit": gp.commit(self.url, self.repository, sha, time.time()),
                "protected": p["branch"] == self.default_branch,
                "_links": {"self": base, "html": f"{gp.HTML}/{self.repository}/tree/{p['branch']}"},
            }
        )

    async def _get_tag_ref(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        sha = self.tags.get(p["tag"])
        if sha is None:
            raise ApiError(404, "Not Found")
        api = f"{self.url}/repos/{self.repository}"
        return web.json_response(
            {
                "ref": f"refs/tags/{p['tag']}",
                "node_id": gp.node_id("Ref", p["tag"]),
                "url": f"{api}/git/refs/tags/{p['tag']}",
                "object": {"sha": sha, "type": "commit", "url": f"{api}/git/commits/{sha}"},
            }
        )

    async def _compare(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        base, head = self.resolve(p["base"]), self.resolve(p["head"])
        if base is None or head is None:
            raise ApiError(404, "Not Found")
        same = base == head
        commits = [] if same else [gp.commit(self.url, self.repository, head, time.time())]
        spec = f"{p['base']}...{p['head']}"
        return web.json_response(
            {
                "url": f"{self.url}/repos/{self.repository}/compare/{spec}",
                "html_url": f"{gp.HTML}/{self.repository}/compare/{spec}",
                "permalink_url": f"{gp.HTML}/{self.repository}/compare/{base[:7]}...{head[:7]}",
                "diff_url": f"{gp.HTML}/{self.repository}/compare/{spec}.diff",
                "patch_url": f"{gp.HTML}/{self.repository}/compare/{spec}.patch",
                "base_commit": gp.commit(self.url, self.repository, base, time.time()),
                "merge_base_commit": gp.commit(self.url, self.repository, base, time.time()),
                "status": "identical" if same else "ahead",
                "ahead_by": len(commits),
                "behind_by": 0,
                "total_commits": len(commits),
                "commits": commits,
                "files": [],
            }
        )

    async def _create_deployment(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        if not isinstance(body, dict) or not isinstance(body.get("ref"), str):
            raise ApiError(422, 'Invalid request.\n\n"ref" wasn\'t supplied.')
        sha = self.resolve(body["ref"])
        if sha is None:
            raise ApiError(422, f"No ref found for: {body['ref']}")
        dep = gp.deployment(
            self.url,
            self.repository,
            dep_id=900_000 + len(self.deployments),
            sha=sha,
            ref=body["ref"],
            environment=body.get("environment", "production"),
            creator=self.actor,
            ts=time.time(),
            task=body.get("task", "deploy"),
            payload=body.get("payload"),
            description=body.get("description"),
        )
        self.deployments.append(dep)
        return web.json_response(dep, status=201)

    async def _create_deployment_status(
        self, request: web.Request, p: dict[str, str], body: Any
    ) -> web.Response:
        states = {"error", "failure", "inactive", "in_progress", "queued", "pending", "success"}
        if not isinstance(body, dict) or body.get("state") not in states:
            raise ApiError(422, 'Invalid request.\n\n"state" is not a valid deployment state.')
        if not any(d["id"] == int(p["dep"]) for d in self.deployments):
            raise ApiError(404, "Not Found")
        status = {
            "id": 800_000 + len(self.deployment_statuses),
            "deployment_id": int(p["dep"]),
            **body,
            "created_at": gp.iso(time.time()),
            "creator": gp.user(self.url, self.actor),
        }
        self.deployment_statuses.append(status)
        return web.json_response(status, status=201)

    async def _access_token(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if self.app_public_key is None or scheme.lower() != "bearer":
            raise ApiError(401, "A JSON web token could not be decoded")
        try:
            claims = jwt.decode(
                value,
                self.app_public_key,
                algorithms=["RS256"],
                options={"require": ["exp", "iat", "iss"]},
                leeway=60,
            )
        except jwt.PyJWTError as exc:
            raise ApiError(401, f"A JSON web token could not be decoded: {exc}") from None
        if claims["exp"] - time.time() > 600 + 5:
            raise ApiError(401, "'Expiration time' claim ('exp') is too far in the future")
        if str(claims["iss"]) != str(self.app_id):
            raise ApiError(401, "'Issuer' claim ('iss') must be an Integer")
        if int(p["inst"]) not in set(self.installations().values()):
            raise ApiError(404, "Not Found")
        token, expires = f"ghs_{secrets.token_urlsafe(27)}", time.time() + 3600
        self.installation_tokens[token] = expires
        self.token_installations[token] = int(p["inst"])
        return web.json_response(
            {
                "token": token,
                "expires_at": gp.iso(expires),
                "permissions": {
                    "actions": "write",
                    "deployments": "write",
                    "contents": "read",
                    "metadata": "read",
                },
                "repository_selection": "selected",
            },
            status=201,
        )


def run_matches(run: gp.Run, q: Any) -> bool:
    if q.get("event") and run.event != q["event"]:
        return False
    if q.get("branch") and run.head_branch != q["branch"]:
        return False
    if q.get("actor") and run.actor != q["actor"]:
        return False
    if q.get("head_sha") and run.head_sha != q["head_sha"]:
        return False
    status = q.get("status")
    if status and status not in (run.status, run.conclusion):
        return False
    return not q.get("created") or _created_matches(run.created_at, q["created"])


def _ts(text: str, end: bool = False) -> float:
    if len(text) == 10:  # a date: the whole day
        text += "T23:59:59Z" if end else "T00:00:00Z"
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


def _created_matches(created: float, spec: str) -> bool:
    """GitHub search date syntax: ``>=X``, ``>X``, ``<=X``, ``<X``, ``X..Y``, or ``X``."""
    if spec.startswith(">="):
        return created >= _ts(spec[2:])
    if spec.startswith("<="):
        return created <= _ts(spec[2:], True)
    if spec.startswith(">"):
        return created > _ts(spec[1:], True)
    if spec.startswith("<"):
        return created < _ts(spec[1:])
    if ".." in spec:
        lo, hi = spec.split("..", 1)
        return (lo == "*" or created >= _ts(lo)) and (hi == "*" or created <= _ts(hi, True))
    return _ts(spec) <= created <= _ts(spec, True)
