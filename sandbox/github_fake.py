"""Loopback fake of the GitHub REST API subset the bot calls, with a simulated Actions run
(queued -> in_progress -> completed) that sends signed webhooks to the bot.

Facts checked against GitHub's docs: dispatch answers 204, or 200 ``{workflow_run_id, run_url,
html_url}`` with ``return_run_details: true`` (changelog 2026-02-19); ``ref`` is a branch or tag name;
errors are ``{"message", "documentation_url"}``; installation tokens come from
``POST /app/installations/{id}/access_tokens`` authenticated by an RS256 app JWT whose ``exp`` is
at most 10 minutes ahead.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from sandbox import github_payloads as gp
from sandbox import github_workflows as gw
from sandbox.base import LoopbackServer
from sandbox.github_checks import ChecksMixin
from sandbox.github_comments import IssueComments
from sandbox.github_history import HistoryMixin
from sandbox.github_hooks import WebhookSender
from sandbox.github_org import OrgMixin
from sandbox.github_rest import DOCS, ApiError, RestMixin, run_matches
from sandbox.github_sim import RunSimulator

DEFAULT_WORKFLOWS = (
    "api-ci.yml",
    "web-ci.yml",
    "build-and-deploy-lambda.yml",
    "infra-ci.yml",
    "rollback.yml",
)
DEFAULT_TAGS = ("v1.4.2", "v1.4.1", "v1.3.0")
RUN_STATUSES = {
    "completed",
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "skipped",
    "stale",
    "success",
    "timed_out",
    "in_progress",
    "queued",
    "requested",
    "waiting",
    "pending",
}


@dataclass
class Stall:
    """A request GitHub terminates after its timeout window (see ``GitHubFake.time_out``)."""

    pattern: re.Pattern[str]
    remaining: int
    processed: bool
    after: float


@dataclass
class GitHubRequest:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]
    status: int = 0
    at: float = field(default_factory=time.time)


@dataclass
class Dispatch:
    workflow: str
    ref: str
    inputs: dict[str, str]
    at: float
    run_id: int


@dataclass
class Review:
    """A decision the bot sent: ``kind`` is ``protection_rule`` or ``pending_deployments``."""

    kind: str
    run_id: int
    body: dict[str, Any]
    at: float = field(default_factory=time.time)


Handler = Callable[[web.Request, dict[str, str], Any], Awaitable[web.StreamResponse]]
_O_R = r"^/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"


class GitHubFake(HistoryMixin, ChecksMixin, OrgMixin, RestMixin, LoopbackServer):
    def __init__(
        self,
        repository: str = "acme/platform",
        token: str = "ghp-test",
        *,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        step_delay: float = 0.05,
        app_id: int | None = None,
        app_public_key: str | None = None,
        installation_id: int = 1,
        actor: str = "chatops-deployer",  # the user the personal access token belongs to
    ) -> None:
        self.repository, self.token, self.actor = repository, token, actor
        self.repo_id = 700_000_001
        self.default_branch = "main"
        self.step_delay = step_delay
        self.app_id, self.app_public_key, self.installation_id = app_id, app_public_key, installation_id
        self.job_environment: dict[str, str] = {}  # input environment -> the environment the job names
        self.gates_per_run = 1  # jobs of a run that name a protected environment (each waits for its answer)
        self.legacy_dispatch = False  # True: behave like a server that ignores return_run_details
        self.next_conclusion: str | None = None
        self.conclusion_by_ref: dict[str, str] = {}
        # When set, a run's deploy step really runs (e.g. the workflow's job through sandbox.actions_runner,
        # against moto); it returns the run's conclusion.
        self.executor: Callable[[gp.Run], Awaitable[str]] | None = None
        self.branches: dict[str, str] = {"main": gp.fake_sha("main")}
        self.tags: dict[str, str] = {t: gp.fake_sha(t) for t in DEFAULT_TAGS}
        self.workflows: dict[str, gp.Workflow] = {}
        self.workflow_sources: dict[str, str] = {}  # file -> its YAML (what dispatch checks and contents serve)
        self.environments: set[str] = {"dev", "staging", "production"}
        self.protection_rules: dict[str, list[dict[str, Any]]] = {}  # environment -> enabled custom rules
        self.issue_comments = IssueComments()  # pull request comments (infra-ci's plan comment)
        for i, file in enumerate(DEFAULT_WORKFLOWS):
            self.add_workflow(file, workflow_id=161_000 + i)
        self.requests: list[GitHubRequest] = []
        self.dispatches: list[Dispatch] = []
        self.reviews: list[Review] = []
        self.reruns: list[int] = []
        self.cancels: list[int] = []  # runs cancelled through the REST API
        self.deployments: list[dict[str, Any]] = []
        self.deployment_statuses: list[dict[str, Any]] = []
        self.installation_tokens: dict[str, float] = {}
        self.token_installations: dict[str, int] = {}  # installation token -> the installation it is for
        self.parent: GitHubFake | None = None  # set on a repository added with add_repository
        self.children: dict[str, GitHubFake] = {}
        self.redelivery_requests: list[int] = []  # delivery ids the App asked to redeliver (POST .../attempts)
        self.not_installed: set[str] = set()  # repositories (lowercase) the App is not installed on
        self.team_members: dict[tuple[str, str], dict[str, str]] = {}
        self.oauth_codes: dict[str, str] = {}
        self.user_tokens: dict[str, str] = {}
        self.oauth_client = ("Iv1.sandbox", "sandbox-client-secret")
        self.oauth_callback_url = ""  # the App's "Callback URL" setting (the Stack sets the bot's)
        self.browser_sessions: dict[str, str] = {}  # user_session cookie -> login (the fake's sign-in)
        self.hooks = WebhookSender(webhook_url, webhook_secret)
        self.stalls: list[Stall] = []  # see time_out
        self.slows: list[Stall] = []  # see slow
        self.sim = RunSimulator(self)
        self._history_init()
        self._checks_init()
        super().__init__()

    # configuration -----------------------------------------------------------------------------
    def add_ref(self, name: str, sha: str | None = None, *, kind: str = "tag") -> str:
        """Add (or move) a tag or branch; returns its SHA."""
        sha = sha or gp.fake_sha(f"{kind}:{name}:{time.time_ns()}")
        (self.tags if kind == "tag" else self.branches)[name] = sha
        return sha

    def add_workflow(
        self, file: str, *, workflow_id: int | None = None, name: str | None = None, source: str | None = None
    ) -> gp.Workflow:
        """Add ``.github/workflows/<file>``: ``source`` is its YAML; default the shipped workflow of that name,
        else a stand-in that accepts the bot's inputs (sandbox/github_workflows.py)."""
        wf = gp.Workflow(workflow_id or 161_000 + len(self.workflows), file, name or file.rsplit(".", 1)[0])
        self.workflows[file] = wf
        self.workflow_sources[file] = source if source is not None else gw.source_for(file)
        return wf

    def protect(self, environment: str, kind: str = "custom") -> None:
        """Runs into ``environment`` wait: ``custom`` = deployment protection rule (webhook + callback),
        ``reviewers`` = required reviewers (``pending_deployments``)."""
        self.sim.protected[environment] = kind

    @property
    def webhook_url(self) -> str | None:
        return self.hooks.url

    @webhook_url.setter
    def webhook_url(self, value: str | None) -> None:
        self.hooks.url = value

    @property
    def deliveries(self) -> list[Any]:
        return self.hooks.deliveries

    @property
    def runs(self) -> dict[int, gp.Run]:
        return self.sim.runs

    def fail(
        self, path_regex: str, status: int = 500, times: int = 1, retry_after: int | None = None
    ) -> None:
        """The next ``times`` requests whose path matches ``path_regex`` answer ``status``."""
        self._add_fault(path_regex, status, times, retry_after)

    def time_out(self, path_regex: str, *, times: int = 1, processed: bool = False, after: float = 10.0) -> None:
        """The next ``times`` requests whose path matches ``path_regex`` time out the way GitHub's do: "If GitHub
        takes more than 10 seconds to process an API request, GitHub will terminate the request and you will
        receive a timeout response and a 'Server Error' message" (docs.github.com/en/rest/using-the-rest-api/
        troubleshooting-the-rest-api#timeouts), with "either a 502 or 504 status code" (docs.github.com/en/graphql/
        overview/rate-limits-and-node-limits-for-the-graphql-api#timeouts). The answer comes ``after`` seconds
        (GitHub's window: 10), 504 ``{"message": "Server Error"}``. Whether a terminated request had its effect is
        not said: ``processed=True`` applies it first (a dispatch whose run exists although its answer was a
        timeout), ``processed=False`` drops it."""
        self.stalls.append(Stall(re.compile(path_regex), times, processed, after))

    def slow(self, path_regex: str, seconds: float, *, times: int = 1) -> None:
        """The next ``times`` requests whose path matches ``path_regex`` are answered as usual, ``seconds`` late. Only
        within GitHub's window: a request it takes more than 10 s to process is terminated with a timeout (docs.
        github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api#timeouts), which is ``time_out``."""
        if not 0 <= seconds < 10:
            raise ValueError("GitHub answers a request it takes 10 s or more for with a timeout: use time_out")
        self.slows.append(Stall(re.compile(path_regex), times, True, seconds))

    async def send_webhook(self, event: str, payload: dict[str, Any], delivery_id: str | None = None) -> Any:
        return await self.hooks.send(event, payload, delivery_id)

    async def redeliver(self, delivery_id: str) -> Any:
        return await self.hooks.redeliver(delivery_id)

    async def wait_idle(self, within: float = 10.0) -> None:
        """Wait until every simulated run has finished."""
        await self.sim.wait_idle(within)

    async def start_run(
        self,
        workflow: str,
        ref: str,
        *,
        inputs: dict[str, str] | None = None,
        event: str = "push",
        actor: str = "dev-gh",
    ) -> gp.Run:
        """Start a run that did not come from the bot (a push, a manual run)."""
        return self.sim.create(
            self.workflows[workflow], ref, self.resolve(ref) or "", inputs or {}, event, actor
        )

    async def stop(self) -> None:
        await self.sim.cancel_all()
        await self.hooks.close()
        await super().stop()

    @property
    def url(self) -> str:
        return self.parent.url if self.parent is not None else LoopbackServer.url.fget(self)  # type: ignore[attr-defined]

    # helpers -----------------------------------------------------------------------------------
    def resolve(self, ref: str) -> str | None:
        """Branch, tag, ``refs/heads/x``, ``refs/tags/x`` or a known (prefix of a) SHA -> SHA."""
        name = ref.removeprefix("refs/heads/").removeprefix("refs/tags/")
        if ref.startswith("refs/tags/"):
            return self.tags.get(name)
        if name in self.branches:
            return self.branches[name]
        if name in self.tags:
            return self.tags[name]
        if re.fullmatch(r"[0-9a-f]{7,40}", ref):
            known = {*self.branches.values(), *self.tags.values(), *self.commits}
            return next((s for s in known if s.startswith(ref)), None)
        return None

    def _api(self, request: web.Request) -> str:
        return self.url

    def _workflow(self, ident: str) -> gp.Workflow:
        for wf in self.workflows.values():
            if ident in (wf.file, str(wf.id)):
                return wf
        raise ApiError(404, "Not Found")

    def _run(self, ident: str) -> gp.Run:
        run = self.sim.runs.get(int(ident))
        if run is None:
            raise ApiError(404, "Not Found")
        return run

    # routing -----------------------------------------------------------------------------------
    def _routes(self, app: web.Application) -> None:
        self._table: list[tuple[str, re.Pattern[str], Handler]] = [
            (m, re.compile(p), h)
            for m, p, h in [
                ("GET", _O_R + r"$", self._get_repo),
                ("GET", _O_R + r"/actions/workflows/(?P<wf>[^/]+)$", self._get_workflow),
                ("POST", _O_R + r"/actions/workflows/(?P<wf>[^/]+)/dispatches$", self._dispatch),
                ("GET", _O_R + r"/actions/workflows/(?P<wf>[^/]+)/runs$", self._list_runs),
                ("GET", _O_R + r"/actions/runs$", self._list_runs),
                ("GET", _O_R + r"/actions/runs/(?P<run>\d+)$", self._get_run),
                ("GET", _O_R + r"/actions/runs/(?P<run>\d+)/jobs$", self._get_jobs),
                ("POST", _O_R + r"/actions/runs/(?P<run>\d+)/rerun-failed-jobs$", self._rerun_failed),
                ("POST", _O_R + r"/actions/runs/(?P<run>\d+)/cancel$", self._cancel_run),
                ("GET", _O_R + r"/actions/runs/(?P<run>\d+)/pending_deployments$", self._get_pending),
                ("POST", _O_R + r"/actions/runs/(?P<run>\d+)/pending_deployments$", self._review_pending),
                ("POST", _O_R + r"/actions/runs/(?P<run>\d+)/deployment_protection_rule$", self._protection),
                *self.history_routes(_O_R),
                *self.checks_routes(_O_R),
                *self.issue_comments.routes(_O_R),
                ("GET", _O_R + r"/contents/(?P<path>.+)$", self._get_contents),
                ("GET", _O_R + r"/environments/(?P<env>[^/]+)/deployment_protection_rules$", self._get_rules),
                ("POST", _O_R + r"/environments/(?P<env>[^/]+)/deployment_protection_rules$", self._add_rule),
                ("GET", _O_R + r"/commits/(?P<ref>.+)$", self._get_commit),
                ("GET", _O_R + r"/branches/(?P<branch>.+)$", self._get_branch),
                ("GET", _O_R + r"/git/ref/tags/(?P<tag>.+)$", self._get_tag_ref),
                ("GET", _O_R + r"/compare/(?P<base>.+?)\.\.\.(?P<head>.+)$", self._compare),
                ("POST", _O_R + r"/deployments$", self._create_deployment),
                ("POST", _O_R + r"/deployments/(?P<dep>\d+)/statuses$", self._create_deployment_status),
                ("POST", r"^/app/installations/(?P<inst>\d+)/access_tokens$", self._access_token),
            ]
        ]
        self._org_table = [(m, re.compile(p), h) for m, p, h in self.org_routes()]
        app.router.add_route("*", "/{tail:.*}", self._handle)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        target = re.match(_O_R, request.path)
        if self.parent is None and target and not request.path.endswith("/installation"):
            name = f"{target['owner']}/{target['repo']}".lower()
            if name != self.repository.lower() and name in self.children:
                return await self.children[name]._handle(request)
        raw = await request.read()
        rec = GitHubRequest(request.method, request.path, dict(request.query), None, dict(request.headers))
        self.requests.append(rec)
        try:
            if raw:
                try:
                    rec.body = json.loads(raw)
                except ValueError:
                    raise ApiError(400, "Problems parsing JSON") from None
            slow = next((t for t in self.slows if t.remaining > 0 and t.pattern.search(request.path)), None)
            if slow is not None:
                slow.remaining -= 1
                await asyncio.sleep(slow.after)  # then answered as usual
            stall = next((t for t in self.stalls if t.remaining > 0 and t.pattern.search(request.path)), None)
            if stall is not None:
                stall.remaining -= 1
                return await self._timed_out(request, rec, stall)
            fault = self._take_fault(request.path)
            if fault is not None:
                headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                raise ApiError(fault.status, "injected fault", _headers=headers)
            for method, pattern, handler in self._org_table:
                match = pattern.match(request.path)
                if match and method == request.method:
                    response = await handler(request, match.groupdict(), rec.body)
                    rec.status = response.status
                    return response
            for method, pattern, handler in self._table:
                match = pattern.match(request.path)
                if match and method == request.method:
                    params = match.groupdict()
                    self._authorize(request, params)
                    response = await handler(request, params, rec.body)
                    rec.status = response.status
                    return response
            raise ApiError(404, "Not Found")
        except ApiError as exc:
            headers = exc.extra.pop("_headers", {})
            rec.status = exc.status
            return web.json_response(
                {"message": exc.message, "documentation_url": DOCS, **exc.extra},
                status=exc.status,
                headers=headers,
            )

    async def _timed_out(self, request: web.Request, rec: GitHubRequest, stall: Stall) -> web.Response:
        """See ``time_out``: the request is (or is not) applied, and answered 504 ``Server Error`` late."""
        if stall.processed:
            for method, pattern, handler in self._table:
                match = pattern.match(request.path)
                if match and method == request.method:
                    params = match.groupdict()
                    self._authorize(request, params)
                    await handler(request, params, rec.body)
                    break
        await asyncio.sleep(stall.after)
        rec.status = 504
        return web.json_response({"message": "Server Error"}, status=504)

    def _authorize(self, request: web.Request, params: dict[str, str]) -> None:
        if "inst" in params:
            return  # app JWT, checked by the handler
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        ok = scheme.lower() in ("token", "bearer") and (
            value == self.token or self.installation_tokens.get(value, 0) > time.time()
        )
        if not ok:
            raise ApiError(401, "Bad credentials")
        if f"{params['owner']}/{params['repo']}".lower() != self.repository.lower():
            raise ApiError(404, "Not Found")
        inst = self.token_installations.get(value)
        if inst is not None and inst != self.installation_id:  # another installation's token cannot see us
            raise ApiError(404, "Not Found")

    # handlers ----------------------------------------------------------------------------------
    async def _get_repo(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        repo = gp.repository(self.url, self.repository, self.repo_id, self.default_branch)
        repo["permissions"] = {"admin": False, "maintain": False, "push": True, "triage": True, "pull": True}
        return web.json_response(repo)

    async def _get_workflow(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        return web.json_response(self._workflow(p["wf"]).rest(self.url, self.repository))

    async def _dispatch(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        wf = self._workflow(p["wf"])
        if not isinstance(body, dict):
            raise ApiError(422, "Invalid request.\n\nFor 'links/0/schema', nil is not an object.")
        unknown = set(body) - {"ref", "inputs", "return_run_details"}
        if unknown:
            raise ApiError(422, f"Invalid request.\n\n{sorted(unknown)[0]} is not a permitted key.")
        ref, inputs = body.get("ref"), body.get("inputs", {})
        if not isinstance(ref, str) or not ref:
            raise ApiError(422, 'Invalid request.\n\n"ref" wasn\'t supplied.')
        if not isinstance(inputs, dict):
            raise ApiError(422, "Invalid request.\n\nFor 'properties/inputs', value is not an object.")
        gw.check_input_count(inputs)
        bad = [k for k, v in inputs.items() if not isinstance(v, str)]
        if bad:
            raise ApiError(422, f"Invalid request.\n\nFor 'inputs/{bad[0]}', value is not a string.")
        name = ref.removeprefix("refs/heads/").removeprefix("refs/tags/")
        sha = self.branches.get(name) or self.tags.get(name)  # branch or tag name only, per the docs
        if sha is None:
            # {"message": "No ref found for: fail", ...} with 422 (convictional/trigger-workflow-and-wait#44)
            raise ApiError(422, f"No ref found for: {ref}")
        gw.check_dispatch(gw.parse(self.workflow_sources[wf.file]), inputs)
        run = self.sim.create(wf, name, sha, dict(inputs), "workflow_dispatch", self.dispatch_actor(request))
        self.dispatches.append(Dispatch(wf.file, ref, dict(inputs), time.time(), run.id))
        if body.get("return_run_details") is True and not self.legacy_dispatch:
            run_rest = gp.workflow_run(self.url, self.repository, self.repo_id, run)
            return web.json_response(
                {"workflow_run_id": run.id, "run_url": run_rest["url"], "html_url": run_rest["html_url"]}
            )
        return web.Response(status=204)

    async def _list_runs(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        q = request.query
        runs = sorted(self.sim.runs.values(), key=lambda r: r.id, reverse=True)
        if "wf" in p:
            wf = self._workflow(p["wf"])
            runs = [r for r in runs if r.workflow.id == wf.id]
        if q.get("status") and q["status"] not in RUN_STATUSES:
            raise ApiError(422, f"Invalid request.\n\nInvalid status: {q['status']}")
        runs = [r for r in runs if run_matches(r, q)]
        per_page, page = min(int(q.get("per_page", 30)), 100), max(int(q.get("page", 1)), 1)
        chunk = runs[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(runs):
            nxt = request.url.update_query(page=str(page + 1))
            headers["Link"] = f'<{self.url}{nxt.path_qs}>; rel="next"'
        return web.json_response(
            {
                "total_count": len(runs),
                "workflow_runs": [gp.workflow_run(self.url, self.repository, self.repo_id, r) for r in chunk],
            },
            headers=headers,
        )

    async def _get_run(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        return web.json_response(
            gp.workflow_run(self.url, self.repository, self.repo_id, self._run(p["run"]))
        )

    async def _get_jobs(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        run = self._run(p["run"])
        jobs = [gp.workflow_job(self.url, self.repository, run, j) for j in run.jobs]
        return web.json_response({"total_count": len(jobs), "jobs": jobs})

    async def _rerun_failed(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        run = self._run(p["run"])
        if run.status != "completed":
            raise ApiError(403, "This workflow run is not completed")
        self.reruns.append(run.id)
        return web.json_response({}, status=201)

    async def _get_pending(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        run = self._run(p["run"])
        return web.json_response(self.sim.pending_deployments(run))

    async def _review_pending(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        run = self._run(p["run"])
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("environment_ids"), list)
            or not all(isinstance(i, int) for i in body["environment_ids"])
        ):
            raise ApiError(422, 'Invalid request.\n\n"environment_ids" must be an array of integers.')
        if body.get("state") not in ("approved", "rejected"):
            raise ApiError(422, 'Invalid request.\n\n"state" must be approved or rejected.')
        if not isinstance(body.get("comment"), str):
            raise ApiError(422, 'Invalid request.\n\n"comment" wasn\'t supplied.')
        pending = {d["environment"]["id"]: d for d in self.sim.pending_deployments(run)}
        if not body["environment_ids"] or any(i not in pending for i in body["environment_ids"]):
            raise ApiError(422, "No pending deployment requests to approve or reject")
        self.reviews.append(Review("pending_deployments", run.id, body))
        deps = self.sim.decide(run, body["state"], body["comment"])
        return web.json_response(deps)

    # "Cancel a workflow run" (https://docs.github.com/en/rest/actions/workflow-runs#cancel-a-workflow-run):
    # POST /repos/{owner}/{repo}/actions/runs/{run_id}/cancel answers 202 Accepted with {} and the run completes with
    # conclusion "cancelled"; 409 Conflict for a run that can no longer be cancelled, with the message GitHub's API
    # gives for a completed run ("Cannot cancel a workflow run that is completed.", as `gh run cancel` reports it).
    async def _cancel_run(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        run = self._run(p["run"])
        if not self.sim.cancel(run.id):
            raise ApiError(409, "Cannot cancel a workflow run that is completed.")
        self.cancels.append(run.id)
        return web.json_response({}, status=202)

    # Custom deployment protection rules (https://docs.github.com/en/rest/deployments/protection-rules):
    # GET answers 200 {"total_count", "custom_deployment_protection_rules": [{"id", "node_id", "enabled", "app":
    # {"id", "node_id", "slug", "integration_url"}}]}; POST {"integration_id"} answers 201 with the rule; an unknown
    # environment is 404 "Not Found". An enabled rule makes the environment's runs wait for the App's answer.
    def _environment(self, name: str) -> str:
        env = urllib.parse.unquote(name)
        if env not in self.environments:
            raise ApiError(404, "Not Found")
        return env

    async def _get_rules(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        rules = self.protection_rules.get(self._environment(p["env"]), [])
        return web.json_response({"total_count": len(rules), "custom_deployment_protection_rules": rules})

    async def _add_rule(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        env = self._environment(p["env"])
        if not isinstance(body, dict) or not isinstance(body.get("integration_id"), int):
            raise ApiError(422, 'Invalid request.\n\n"integration_id" wasn\'t supplied.')
        app_id = body["integration_id"]
        rule_id = 3_000 + sum(len(r) for r in self.protection_rules.values())
        slug = "chatops-bot" if app_id == self.app_id else f"app-{app_id}"
        rule = {"id": rule_id, "node_id": gp.node_id("DeploymentProtectionRule", rule_id), "enabled": True,
                "app": {"id": app_id, "node_id": gp.node_id("App", app_id), "slug": slug,
                        "integration_url": f"{self.url}/apps/{slug}"}}
        self.protection_rules.setdefault(env, []).append(rule)
        self.protect(env, "custom")
        return web.json_response(rule, status=201)

    async def _protection(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        run = self._run(p["run"])
        if not isinstance(body, dict) or not isinstance(body.get("environment_name"), str):
            raise ApiError(422, 'Invalid request.\n\n"environment_name" wasn\'t supplied.')
        if body.get("state") not in ("approved", "rejected"):
            raise ApiError(422, 'Invalid request.\n\n"state" must be approved or rejected.')
        if "comment" in body and not isinstance(body["comment"], str):
            raise ApiError(422, 'Invalid request.\n\n"comment" must be a string.')
        if not self.sim.awaiting_rule(run, body["environment_name"]):
            raise ApiError(422, "No pending deployment protection rule for this environment")
        self.reviews.append(Review("protection_rule", run.id, body))
        self.sim.decide(run, body["state"], body.get("comment", ""))
        return web.Response(status=204)
