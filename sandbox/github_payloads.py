"""GitHub object shapes (REST answers and webhook payloads) for the GitHub fake.

Shapes follow the octokit payload examples in ``tests/fixtures/published/github`` and the current
octokit/webhooks schemas (fields such as ``display_title``, ``path``, ``workflow_name`` and
``repository.custom_properties`` included). ``api`` is the fake's base URL so that clients following
``url`` fields come back to the fake; ``html`` is the web base used for links people click.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

HTML = "https://github.com"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_id(kind: str, ident: int | str) -> str:
    return base64.b64encode(f"0:{kind}{ident}".encode()).decode().rstrip("=")


def fake_sha(seed: str) -> str:
    return hashlib.sha1(seed.encode()).hexdigest()


def user(api: str, login: str) -> dict[str, Any]:
    uid = int(hashlib.sha1(login.encode()).hexdigest()[:7], 16)
    u = f"{api}/users/{login}"
    return {
        "login": login,
        "id": uid,
        "node_id": node_id("User", uid),
        "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?v=4",
        "gravatar_id": "",
        "url": u,
        "html_url": f"{HTML}/{login}",
        "followers_url": f"{u}/followers",
        "following_url": f"{u}/following{{/other_user}}",
        "gists_url": f"{u}/gists{{/gist_id}}",
        "starred_url": f"{u}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{u}/subscriptions",
        "organizations_url": f"{u}/orgs",
        "repos_url": f"{u}/repos",
        "events_url": f"{u}/events{{/privacy}}",
        "received_events_url": f"{u}/received_events",
        "type": "User",
        "site_admin": False,
    }


_REPO_TEMPLATES = {
    "archive_url": "/{archive_format}{/ref}",
    "assignees_url": "/assignees{/user}",
    "blobs_url": "/git/blobs{/sha}",
    "branches_url": "/branches{/branch}",
    "collaborators_url": "/collaborators{/collaborator}",
    "comments_url": "/comments{/number}",
    "commits_url": "/commits{/sha}",
    "compare_url": "/compare/{base}...{head}",
    "contents_url": "/contents/{+path}",
    "contributors_url": "/contributors",
    "deployments_url": "/deployments",
    "downloads_url": "/downloads",
    "events_url": "/events",
    "forks_url": "/forks",
    "git_commits_url": "/git/commits{/sha}",
    "git_refs_url": "/git/refs{/sha}",
    "git_tags_url": "/git/tags{/sha}",
    "hooks_url": "/hooks",
    "issue_comment_url": "/issues/comments{/number}",
    "issue_events_url": "/issues/events{/number}",
    "issues_url": "/issues{/number}",
    "keys_url": "/keys{/key_id}",
    "labels_url": "/labels{/name}",
    "languages_url": "/languages",
    "merges_url": "/merges",
    "milestones_url": "/milestones{/number}",
    "notifications_url": "/notifications{?since,all,participating}",
    "pulls_url": "/pulls{/number}",
    "releases_url": "/releases{/id}",
    "stargazers_url": "/stargazers",
    "statuses_url": "/statuses/{sha}",
    "subscribers_url": "/subscribers",
    "subscription_url": "/subscription",
    "tags_url": "/tags",
    "teams_url": "/teams",
    "trees_url": "/git/trees{/sha}",
}


def repository_lite(api: str, full_name: str, repo_id: int) -> dict[str, Any]:
    owner, name = full_name.split("/", 1)
    base = f"{api}/repos/{full_name}"
    out: dict[str, Any] = {
        "id": repo_id,
        "node_id": node_id("Repository", repo_id),
        "name": name,
        "full_name": full_name,
        "private": True,
        "owner": user(api, owner),
        "html_url": f"{HTML}/{full_name}",
        "description": "sandbox repository",
        "fork": False,
        "url": base,
    }
    out.update({k: base + v for k, v in _REPO_TEMPLATES.items()})
    return out


def repository(api: str, full_name: str, repo_id: int, default_branch: str) -> dict[str, Any]:
    out = repository_lite(api, full_name, repo_id)
    stamp = "2024-01-02T03:04:05Z"
    out.update(
        {
            "created_at": stamp,
            "updated_at": stamp,
            "pushed_at": stamp,
            "git_url": f"git://github.com/{full_name}.git",
            "ssh_url": f"git@github.com:{full_name}.git",
            "clone_url": f"{HTML}/{full_name}.git",
            "svn_url": f"{HTML}/{full_name}",
            "homepage": None,
            "size": 1,
            "stargazers_count": 0,
            "watchers_count": 0,
            "language": "Python",
            "has_issues": True,
            "has_projects": False,
            "has_downloads": True,
            "has_wiki": False,
            "has_pages": False,
            "has_discussions": False,
            "forks_count": 0,
            "mirror_url": None,
            "archived": False,
            "disabled": False,
            "open_issues_count": 0,
            "license": None,
            "forks": 0,
            "open_issues": 0,
            "watchers": 0,
            "default_branch": default_branch,
            "is_template": False,
            "web_commit_signoff_required": False,
            "topics": [],
            "visibility": "private",
            "custom_properties": {},
        }
    )
    return out


@dataclass
class Workflow:
    id: int
    file: str
    name: str

    def rest(self, api: str, full_name: str) -> dict[str, Any]:
        stamp = "2024-01-02T03:04:05.000Z"
        return {
            "id": self.id,
            "node_id": node_id("Workflow", self.id),
            "name": self.name,
            "path": f".github/workflows/{self.file}",
            "state": "active",
            "created_at": stamp,
            "updated_at": stamp,
            "url": f"{api}/repos/{full_name}/actions/workflows/{self.id}",
            "html_url": f"{HTML}/{full_name}/blob/main/.github/workflows/{self.file}",
            "badge_url": f"{HTML}/{full_name}/workflows/{self.name.replace(' ', '%20')}/badge.svg",
        }


@dataclass
class Step:
    name: str
    number: int
    status: str = "queued"
    conclusion: str | None = None
    started_at: float | None = None
    completed_at: float | None = None

    def payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "status": self.status,
            "conclusion": self.conclusion,
            "number": self.number,
            "started_at": iso(self.started_at) if self.started_at else None,
            "completed_at": iso(self.completed_at) if self.completed_at else None,
        }
        return out


@dataclass
class Job:
    id: int
    name: str
    steps: list[Step]
    created_at: float
    status: str = "queued"
    conclusion: str | None = None
    started_at: float | None = None
    completed_at: float | None = None
    runner: bool = False


@dataclass
class Run:
    id: int
    number: int
    workflow: Workflow
    head_branch: str
    head_sha: str
    inputs: dict[str, str]
    display_title: str
    event: str
    actor: str
    created_at: float
    environment: str | None = None
    status: str = "queued"
    conclusion: str | None = None
    updated_at: float = 0.0
    jobs: list[Job] = field(default_factory=list)
    planned_conclusion: str = "success"


def head_commit(sha: str, ts: float, message: str) -> dict[str, Any]:
    person = {"name": "Sandbox Dev", "email": "dev@example.com"}
    return {
        "id": sha,
        "tree_id": fake_sha("tree" + sha),
        "message": message,
        "timestamp": iso(ts),
        "author": person,
        "committer": person,
    }


def workflow_run(api: str, full_name: str, repo_id: int, run: Run) -> dict[str, Any]:
    base = f"{api}/repos/{full_name}/actions/runs/{run.id}"
    actor = user(api, run.actor)
    repo = repository_lite(api, full_name, repo_id)
    return {
        "id": run.id,
        "name": run.workflow.name,
        "node_id": node_id("WorkflowRun", run.id),
        "check_suite_id": run.id + 7,
        "check_suite_node_id": node_id("CheckSuite", run.id + 7),
        "head_branch": run.head_branch,
        "head_sha": run.head_sha,
        "path": f".github/workflows/{run.workflow.file}",
        "display_title": run.display_title,
        "run_number": run.number,
        "event": run.event,
        "status": run.status,
        "conclusion": run.conclusion,
        "workflow_id": run.workflow.id,
        "url": base,
        "html_url": f"{HTML}/{full_name}/actions/runs/{run.id}",
        "pull_requests": [],
        "created_at": iso(run.created_at),
        "updated_at": iso(run.updated_at or run.created_at),
        "actor": actor,
        "triggering_actor": actor,
        "run_attempt": 1,
        "referenced_workflows": [],
        "run_started_at": iso(run.created_at),
        "jobs_url": f"{base}/jobs",
        "logs_url": f"{base}/logs",
        "check_suite_url": f"{api}/repos/{full_name}/check-suites/{run.id + 7}",
        "artifacts_url": f"{base}/artifacts",
        "cancel_url": f"{base}/cancel",
        "rerun_url": f"{base}/rerun",
        "previous_attempt_url": None,
        "workflow_url": f"{api}/repos/{full_name}/actions/workflows/{run.workflow.id}",
        "head_commit": head_commit(run.head_sha, run.created_at, f"sandbox commit {run.head_sha[:7]}"),
        "repository": repo,
        "head_repository": repo,
    }


def workflow_job(api: str, full_name: str, run: Run, job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "run_id": run.id,
        "workflow_name": run.workflow.name,
        "head_branch": run.head_branch,
        "run_url": f"{api}/repos/{full_name}/actions/runs/{run.id}",
        "run_attempt": 1,
        "node_id": node_id("CheckRun", job.id),
        "head_sha": run.head_sha,
        "url": f"{api}/repos/{full_name}/actions/jobs/{job.id}",
        "html_url": f"{HTML}/{full_name}/actions/runs/{run.id}/job/{job.id}",
        "status": job.status,
        "conclusion": job.conclusion,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at or job.created_at),
        "completed_at": iso(job.completed_at) if job.completed_at else None,
        "name": job.name,
        "steps": [s.payload() for s in job.steps if s.status != "queued"],
        "check_run_url": f"{api}/repos/{full_name}/check-runs/{job.id}",
        "labels": ["ubuntu-latest"],
        "runner_id": 1 if job.runner else None,
        "runner_name": "GitHub Actions 1" if job.runner else None,
        "runner_group_id": 1 if job.runner else None,
        "runner_group_name": "GitHub Actions" if job.runner else None,
    }


def deployment(
    api: str,
    full_name: str,
    *,
    dep_id: int,
    sha: str,
    ref: str,
    environment: str,
    creator: str,
    ts: float,
    task: str = "deploy",
    payload: Any = None,
    description: str | None = None,
) -> dict[str, Any]:
    url = f"{api}/repos/{full_name}/deployments/{dep_id}"
    return {
        "url": url,
        "id": dep_id,
        "node_id": node_id("Deployment", dep_id),
        "sha": sha,
        "ref": ref,
        "task": task,
        "payload": payload if payload is not None else {},
        "original_environment": environment,
        "environment": environment,
        "description": description,
        "creator": user(api, creator),
        "created_at": iso(ts),
        "updated_at": iso(ts),
        "statuses_url": f"{url}/statuses",
        "repository_url": f"{api}/repos/{full_name}",
        "transient_environment": False,
        "production_environment": environment == "production",
    }


def commit(api: str, full_name: str, sha: str, ts: float) -> dict[str, Any]:
    author = {"name": "Sandbox Dev", "email": "dev@example.com", "date": iso(ts)}
    url = f"{api}/repos/{full_name}/commits/{sha}"
    return {
        "sha": sha,
        "node_id": node_id("Commit", sha[:12]),
        "url": url,
        "html_url": f"{HTML}/{full_name}/commit/{sha}",
        "comments_url": f"{url}/comments",
        "commit": {
            "url": f"{api}/repos/{full_name}/git/commits/{sha}",
            "author": author,
            "committer": author,
            "message": f"sandbox commit {sha[:7]}",
            "comment_count": 0,
            "tree": {"sha": fake_sha("tree" + sha), "url": f"{api}/repos/{full_name}/git/trees/{sha}"},
        },
        "author": user(api, "dev-gh"),
        "committer": user(api, "dev-gh"),
        "parents": [],
        "stats": {"total": 0, "additions": 0, "deletions": 0},
        "files": [],
    }
