"""GitHub actions through PyGithub (synchronous, so every call runs in a thread).

Errors are translated to ``bot.errors.GitHubError``; ``transient`` is true for 5xx, 429, secondary rate
limits and network faults. Writes are never retried blindly: a dispatch whose outcome is unknown is
looked up by its request id (in the run name) before any retry.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from github import Auth, Github, GithubException
from github.WorkflowRun import WorkflowRun

from bot.errors import GitHubError

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class DispatchResult:
    run_id: int | None
    run_url: str  # html url of the run ("" when the server did not return it)


@dataclass(frozen=True, slots=True)
class RunInfo:
    run_id: int
    html_url: str
    status: str
    conclusion: str
    head_sha: str
    title: str
    workflow: str = ""  # file name
    event: str = ""  # what started the run: workflow_dispatch, push, pull_request, ...
    actor: str = ""  # the login of who started the run (the bot's own dispatches: its App's bot account)


def translate(exc: Exception, what: str) -> GitHubError:
    if isinstance(exc, GithubException):
        status = exc.status
        message = ""
        if isinstance(exc.data, dict):
            message = str(exc.data.get("message", ""))[:200]
        # a rate limit answers 403 or 429: the primary one with x-ratelimit-remaining 0, a secondary one with a
        # message saying so and maybe retry-after (docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-
        # rest-api#exceeding-the-rate-limit; older GHES words it "abuse detection"). Any other 403 is a refusal.
        headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
        transient = status >= 500 or status == 429 or (status == 403 and (
            "rate limit" in message.lower() or "abuse" in message.lower() or "retry-after" in headers
            or headers.get("x-ratelimit-remaining") == "0"))
        return GitHubError(f"{what}: GitHub answered {status} {message}".strip(), transient=transient,
                           status=status)
    return GitHubError(f"{what}: {type(exc).__name__}", transient=True)


def make_github(*, auth: Auth.Auth, base_url: str, throttle: bool = True) -> Github:
    """One PyGithub client (no retries: ours are explicit; a 15 s timeout per call)."""
    kwargs: dict[str, Any] = {}
    if not throttle:
        kwargs = {"seconds_between_requests": None, "seconds_between_writes": None}
    return Github(auth=auth, base_url=base_url.rstrip("/"), retry=None, timeout=15, lazy=True, **kwargs)


class GitHubClient:
    """One repository's GitHub calls. ``gh`` shares one authenticated client (and so one cached installation
    token) between the repositories of one installation."""

    def __init__(self, *, repository: str, auth: Auth.Auth | None = None, base_url: str, throttle: bool = True,
                 gh: Github | None = None) -> None:
        if gh is None:
            if auth is None:
                raise ValueError("GitHubClient needs auth or gh")
            gh = make_github(auth=auth, base_url=base_url, throttle=throttle)
        self._gh = gh
        self.repository = repository
        self.base_url = base_url.rstrip("/")
        self._repo = self._gh.get_repo(repository, lazy=True)

    async def _call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return await asyncio.to_thread(fn)
        except (GithubException, requests.RequestException, OSError) as exc:
            raise translate(exc, what) from exc

    async def resolve_sha(self, ref: str) -> str:
        def go() -> str:
            # lazy objects would echo the ref back: ask the API explicitly
            _, data = self._gh.requester.requestJsonAndCheck(
                "GET", f"/repos/{self.repository}/commits/{urllib.parse.quote(ref, safe='')}"
            )
            return str(data["sha"])

        return await self._call("resolving the ref", go)

    async def dispatch(self, *, workflow: str, ref: str, inputs: dict[str, str]) -> DispatchResult:
        def go() -> DispatchResult:
            wf = self._repo.get_workflow(workflow)
            run = wf.create_dispatch(ref, inputs, throw=True, return_run_details=True)
            if not isinstance(run, WorkflowRun):  # an older server: no run details
                return DispatchResult(None, "")
            return DispatchResult(int(run.id), str(run.html_url or ""))

        return await self._call(f"dispatching {workflow}", go)

    async def find_run(self, *, workflow: str, request_id: str, actor: str) -> RunInfo | None:
        """Find the run our workflow named with ``[request_id]`` in its run-name, among the runs ``actor`` (the
        bot's own GitHub identity) dispatched: anyone who can write to the repository can dispatch a run with
        that title too."""
        if not actor:
            return None

        def go() -> RunInfo | None:
            runs = self._repo.get_workflow(workflow).get_runs(event="workflow_dispatch", actor=actor)
            for i, run in enumerate(runs):
                if i >= 50:
                    break
                title = str(run.raw_data.get("display_title") or run.raw_data.get("name") or "")
                by = str((run.raw_data.get("actor") or {}).get("login") or "").lower()
                if f"[{request_id}]" in title and by == actor.lower():
                    return RunInfo(int(run.id), str(run.html_url), str(run.status), str(run.conclusion or ""),
                                   str(run.head_sha), title)
            return None

        return await self._call("looking up the run", go)

    async def get_run(self, run_id: int) -> RunInfo:
        def go() -> RunInfo:
            _, d = self._gh.requester.requestJsonAndCheck("GET", f"/repos/{self.repository}/actions/runs/{run_id}")
            return RunInfo(int(d["id"]), str(d.get("html_url") or ""), str(d.get("status") or ""),
                           str(d.get("conclusion") or ""), str(d.get("head_sha") or ""),
                           str(d.get("display_title") or d.get("name") or ""),
                           str(d.get("path") or "").rsplit("/", 1)[-1], str(d.get("event") or ""),
                           str((d.get("actor") or {}).get("login") or ""))

        return await self._call("reading the run", go)

    async def get_json(self, what: str, path: str, params: dict[str, Any] | None = None) -> Any:
        """One read of this repository's API (``path`` below ``/repos/{owner}/{name}``), parsed JSON."""

        def go() -> Any:
            _, data = self._gh.requester.requestJsonAndCheck("GET", f"/repos/{self.repository}{path}",
                                                             parameters=params)
            return data

        return await self._call(what, go)

    async def default_branch(self) -> str:
        """The repository's default branch, from the API."""

        def go() -> str:
            _, data = self._gh.requester.requestJsonAndCheck("GET", f"/repos/{self.repository}")
            return str(data["default_branch"])

        return await self._call("reading the default branch", go)

    async def workflow_exists(self, workflow: str) -> bool:
        """Does ``.github/workflows/<workflow>`` exist in the repository (per the Actions API)?"""

        def go() -> bool:
            try:
                self._gh.requester.requestJsonAndCheck(
                    "GET", f"/repos/{self.repository}/actions/workflows/{urllib.parse.quote(workflow, safe='')}")
            except GithubException as exc:
                if exc.status == 404:
                    return False
                raise
            return True

        return await self._call(f"reading workflow {workflow}", go)

    async def workflow_file(self, workflow: str) -> str | None:
        """The text of ``.github/workflows/<workflow>`` on the default branch (contents API), None when absent."""

        def go() -> str | None:
            try:
                content = self._repo.get_contents(f".github/workflows/{workflow}")
            except GithubException as exc:
                if exc.status == 404:
                    return None
                raise
            if isinstance(content, list):  # a directory of that name
                return None
            return bytes(content.decoded_content).decode()

        return await self._call(f"reading workflow file {workflow}", go)

    async def protection_rule_app_ids(self, environment: str) -> list[int]:
        """App ids of the custom deployment protection rules enabled on an environment (REST: GET
        /repos/{owner}/{repo}/environments/{environment_name}/deployment_protection_rules)."""
        path = f"/repos/{self.repository}/environments/{urllib.parse.quote(environment, safe='')}"

        def go() -> list[int]:
            _, data = self._gh.requester.requestJsonAndCheck("GET", f"{path}/deployment_protection_rules")
            rules = data.get("custom_deployment_protection_rules") or []
            return [int(r["app"]["id"]) for r in rules if r.get("enabled", True) and r.get("app")]

        return await self._call(f"reading the protection rules of {environment}", go)

    async def enable_protection_rule(self, environment: str, integration_id: int) -> None:
        """Enable a GitHub App's custom deployment protection rule on an environment (POST, ``integration_id``)."""
        path = f"/repos/{self.repository}/environments/{urllib.parse.quote(environment, safe='')}"
        await self._call(f"enabling the protection rule on {environment}",
                         lambda: self._gh.requester.requestJsonAndCheck(
                             "POST", f"{path}/deployment_protection_rules", input={"integration_id": integration_id}))

    async def get_api(self, path: str) -> Any:
        """A GET on any API path (used for team memberships); errors translated like every call."""
        return await self._call("reading from GitHub", lambda: self._gh.requester.requestJsonAndCheck("GET", path)[1])

    async def rerun_failed_jobs(self, run_id: int) -> None:
        await self._call("re-running failed jobs", lambda: self._gh.requester.requestJsonAndCheck(
            "POST", f"/repos/{self.repository}/actions/runs/{run_id}/rerun-failed-jobs"))

    async def cancel_run(self, run_id: int) -> bool:
        """Ask GitHub to cancel a run (REST: POST /repos/{owner}/{repo}/actions/runs/{run_id}/cancel, 202
        Accepted; the run then completes with conclusion ``cancelled``). False when GitHub answers 409 Conflict:
        the run has already completed, so there is nothing left to cancel."""

        def go() -> bool:
            try:
                self._gh.requester.requestJsonAndCheck(
                    "POST", f"/repos/{self.repository}/actions/runs/{run_id}/cancel")
            except GithubException as exc:
                if exc.status == 409:
                    return False
                raise
            return True

        return await self._call("cancelling the run", go)

    def is_callback_url(self, url: str) -> bool:
        """Only our repository's protection-rule callback on the configured API host gets our token."""
        prefix = f"{self.base_url}/repos/{self.repository}/actions/runs/"
        tail = url[len(prefix):] if url.startswith(prefix) else ""
        run, _, rest = tail.partition("/")
        return run.isdigit() and rest == "deployment_protection_rule"

    async def protection_callback(self, *, url: str, environment: str, state: str, comment: str) -> None:
        """Answer a custom deployment protection rule (``approved`` | ``rejected``)."""
        if not self.is_callback_url(url):
            raise GitHubError("refusing a callback URL outside the configured repository", transient=False)
        path = url[len(self.base_url):]
        body = {"environment_name": environment, "state": state, "comment": comment[:1024]}
        await self._call("answering the protection rule", lambda: self._gh.requester.requestJsonAndCheck(
            "POST", path, input=body))
