"""GitHub fake, organisation scale: several repositories behind one API host, App installations per owner,
team memberships and the OAuth web flow of a GitHub App's user authorization. Mixed into
:class:`sandbox.github_fake.GitHubFake`.

Shapes (GitHub docs): ``GET /repos/{owner}/{repo}/installation`` and ``GET /orgs/{org}/installation`` (app JWT)
answer an installation ``{id, account, app_id, target_type, ...}`` or 404; ``GET /orgs/{org}/teams/{slug}/
memberships/{username}`` answers ``{url, role, state}`` (``state`` ``active`` | ``pending``) or 404 when the user
is not a member; ``POST /login/oauth/access_token`` answers 200 with ``{access_token, token_type, scope, ...}``, or
200 with ``{error, error_description, error_uri}`` for a bad code; ``GET /user`` answers the signed-in user.
"""

from __future__ import annotations

import html
import secrets
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, unquote

import jwt
from aiohttp import web

from sandbox import github_payloads as gp
from sandbox.github_rest import ApiError

APP_SLUG = "chatops-bot"  # the sandbox App's slug: its bot account is chatops-bot[bot]

if TYPE_CHECKING:
    from sandbox.github_fake import GitHubFake


class OrgMixin:
    """State lives on the root fake; a child fake (another repository) shares it through ``root``."""

    url: str
    repository: str
    installation_id: int
    app_id: int | None
    app_public_key: str | None
    children: dict[str, GitHubFake]
    parent: GitHubFake | None
    token_installations: dict[str, int]
    team_members: dict[tuple[str, str], dict[str, str]]
    oauth_codes: dict[str, str]
    user_tokens: dict[str, str]
    oauth_client: tuple[str, str]
    oauth_callback_url: str
    browser_sessions: dict[str, str]
    not_installed: set[str]
    redelivery_requests: list[int]

    # configuration -------------------------------------------------------------------------------
    def add_repository(self, full_name: str, *, installation_id: int | None = None) -> GitHubFake:
        """Another repository on the same API host (its own refs, workflows and runs), installed as
        ``installation_id`` (default: this fake's installation)."""
        from sandbox.github_fake import GitHubFake

        root = self._root()
        child = GitHubFake(full_name, root.token, step_delay=root.step_delay, app_id=root.app_id,
                           app_public_key=root.app_public_key,
                           installation_id=installation_id or root.installation_id, actor=root.actor)
        child.parent = root
        child.hooks = root.hooks
        child.installation_tokens = root.installation_tokens
        child.token_installations = root.token_installations
        n = len(root.children) + 1
        child.repo_id = root.repo_id + n
        child.sim._next_id += n * 100_000_000  # run ids are unique across repositories, as on GitHub
        root.children[full_name.lower()] = child
        return child

    def repo(self, full_name: str) -> GitHubFake:
        root = self._root()
        return root if full_name.lower() == root.repository.lower() else root.children[full_name.lower()]

    def set_team(self, org: str, team: str, members: dict[str, str]) -> None:
        """``members``: login -> ``active`` | ``pending``."""
        self._root().team_members[(org.lower(), team.lower())] = {k.lower(): v for k, v in members.items()}

    def oauth_code(self, login: str) -> str:
        """What GitHub would put in ``?code=`` after ``login`` authorized the App (single use)."""
        code = secrets.token_hex(10)
        self._root().oauth_codes[code] = login
        return code

    def all_requests(self) -> list[Any]:
        root = self._root()
        reqs = list(root.requests)  # type: ignore[attr-defined]
        for child in root.children.values():
            reqs.extend(child.requests)
        return sorted(reqs, key=lambda r: r.at)

    def all_dispatches(self) -> list[tuple[str, Any]]:
        root = self._root()
        out = [(root.repository, d) for d in root.dispatches]  # type: ignore[attr-defined]
        for child in root.children.values():
            out.extend((child.repository, d) for d in child.dispatches)
        return out

    def _root(self) -> GitHubFake:
        return self.parent or self  # type: ignore[return-value]

    def installations(self) -> dict[str, int]:
        """Repository (lowercase) -> installation id, for every repository the App is installed on."""
        root = self._root()
        repos = {root.repository.lower(): root.installation_id}
        repos.update({name: c.installation_id for name, c in root.children.items()})
        return {k: v for k, v in repos.items() if k not in root.not_installed}

    # handlers ------------------------------------------------------------------------------------
    def org_routes(self) -> list[tuple[str, str, Any]]:
        return [
            ("GET", r"^/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/installation$", self._repo_installation),
            ("GET", r"^/orgs/(?P<org>[^/]+)/installation$", self._org_installation),
            ("GET", r"^/orgs/(?P<org>[^/]+)/teams/(?P<team>[^/]+)/memberships/(?P<user>[^/]+)$", self._membership),
            ("POST", r"^/login/oauth/access_token$", self._oauth_token),
            ("GET", r"^/user$", self._user),
            ("GET", r"^/app$", self._app),
            ("GET", r"^/app/hook/deliveries$", self._hook_deliveries),
            ("POST", r"^/app/hook/deliveries/(?P<delivery>\d+)/attempts$", self._hook_redeliver),
            ("GET", r"^/login/oauth/authorize$", self._authorize_page),
            ("GET", r"^/session$", self._sign_in),
        ]

    def app_jwt_ok(self, request: web.Request) -> None:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if self.app_public_key is None or scheme.lower() != "bearer":
            raise ApiError(401, "A JSON web token could not be decoded")
        try:
            claims = jwt.decode(value, self.app_public_key, algorithms=["RS256"],
                                options={"require": ["exp", "iat", "iss"]}, leeway=60)
        except jwt.PyJWTError as exc:
            raise ApiError(401, f"A JSON web token could not be decoded: {exc}") from None
        if str(claims["iss"]) != str(self.app_id):
            raise ApiError(401, "'Issuer' claim ('iss') must be an Integer")

    def _installation(self, inst: int, owner: str) -> web.Response:
        return web.json_response({
            "id": inst, "app_id": self.app_id, "app_slug": APP_SLUG, "target_type": "Organization",
            "account": {"login": owner, "id": 100 + inst, "type": "Organization"},
            "repository_selection": "selected",
            "access_tokens_url": f"{self.url}/app/installations/{inst}/access_tokens",
            "permissions": {"actions": "write", "deployments": "write", "contents": "read", "members": "read"},
            "events": ["workflow_run", "workflow_job", "deployment_protection_rule"],
        })

    async def _repo_installation(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        self.app_jwt_ok(request)
        inst = self.installations().get(f"{p['owner']}/{p['repo']}".lower())
        if inst is None:
            raise ApiError(404, "Not Found")
        return self._installation(inst, p["owner"])

    async def _org_installation(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        self.app_jwt_ok(request)
        inst = next((i for repo, i in self.installations().items() if repo.split("/")[0] == p["org"].lower()), None)
        if inst is None:
            raise ApiError(404, "Not Found")
        return self._installation(inst, p["org"])

    def dispatch_actor(self, request: web.Request) -> str:
        """Who a dispatch is by: ``<app slug>[bot]`` for an installation token, the token's user for a PAT."""
        value = request.headers.get("Authorization", "").partition(" ")[2]
        root = self._root()
        return f"{APP_SLUG}[bot]" if value in root.installation_tokens else root.actor

    def token_ok(self, request: web.Request) -> None:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        root = self._root()
        if scheme.lower() not in ("token", "bearer") or not (
                value == root.token or root.installation_tokens.get(value, 0) > time.time()):
            raise ApiError(401, "Bad credentials")

    async def _membership(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        self.token_ok(request)
        team = self._root().team_members.get((p["org"].lower(), p["team"].lower()))
        state = (team or {}).get(p["user"].lower())
        if team is None or state is None:
            raise ApiError(404, "Not Found")
        return web.json_response({"url": f"{self.url}/organizations/1/team/2/memberships/{p['user']}",
                                  "role": "member", "state": state})

    async def _oauth_token(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        raw = await request.text()
        form = body if isinstance(body, dict) else dict(parse_qsl(raw))
        root = self._root()
        if (form.get("client_id"), form.get("client_secret")) != root.oauth_client:
            return web.json_response({"error": "incorrect_client_credentials",
                                      "error_description": "The client_id and/or client_secret passed are incorrect.",
                                      "error_uri": "https://docs.github.com/apps/troubleshooting"})
        login = root.oauth_codes.pop(str(form.get("code", "")), None)
        if login is None:
            return web.json_response({"error": "bad_verification_code",
                                      "error_description": "The code passed is incorrect or expired.",
                                      "error_uri": "https://docs.github.com/apps/troubleshooting"})
        token = f"ghu_{secrets.token_urlsafe(27)}"
        root.user_tokens[token] = login
        return web.json_response({"access_token": token, "expires_in": 28800, "refresh_token": "ghr_unused",
                                  "refresh_token_expires_in": 15811200, "scope": "", "token_type": "bearer"})

    async def _authorize_page(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        """GitHub's authorization page (docs.github.com/apps/creating-github-apps/authenticating-with-a-github-app/
        generating-a-user-access-token-for-a-github-app, "Using the web application flow"): ``client_id`` names
        the App; a signed-out browser is sent to sign in first; a user who authorized the App before is sent
        straight back (no consent screen) to the App's callback URL with ``?code=...&state=...``; a
        ``redirect_uri`` other than the App's callback URL is refused (``redirect_uri_mismatch``)."""
        root = self._root()
        q = request.query
        if q.get("client_id") != root.oauth_client[0]:
            return web.Response(status=404, text="Not Found")
        callback = root.oauth_callback_url
        if q.get("redirect_uri") and q["redirect_uri"] != callback:
            raise web.HTTPFound(f"{callback}?error=redirect_uri_mismatch&state={quote(q.get('state', ''))}")
        login = root.browser_sessions.get(request.cookies.get("user_session", ""))
        if login is None:
            back = quote(str(request.rel_url), safe="")
            return web.Response(content_type="text/html", text=(
                "<!doctype html><title>Sign in to GitHub</title><form action='/session' method='get'>"
                f"<input type='hidden' name='return_to' value='{html.escape(back)}'>"
                "<input name='login' id='login_field'><button type='submit' id='sign_in'>Sign in</button></form>"))
        code = self.oauth_code(login)
        raise web.HTTPFound(f"{callback}?code={code}&state={quote(q.get('state', ''), safe='')}")

    async def _sign_in(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        """The fake's stand-in for github.com's sign-in form: a browser session for ``login``."""
        root = self._root()
        session = secrets.token_urlsafe(16)
        root.browser_sessions[session] = request.query.get("login", "").strip().lower()
        target = unquote(request.query.get("return_to", "/"))
        response = web.HTTPFound(target if target.startswith("/login/oauth/authorize") else "/")
        response.set_cookie("user_session", session, httponly=True, samesite="Lax")
        raise response

    async def _app(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        """``GET /app`` with the App's JWT: the App itself, whose ``slug`` names its bot account ``<slug>[bot]``,
        the actor of what the App does with an installation token (docs.github.com/rest/apps/apps#get-the-
        authenticated-app; docs.github.com/apps/creating-github-apps/authenticating-with-a-github-app/about-
        authentication-with-a-github-app: authenticate as an installation "to attribute app activity to the
        app")."""
        self.app_jwt_ok(request)
        return web.json_response({"id": self.app_id, "slug": APP_SLUG, "name": "ChatOps bot",
                                  "owner": {"login": self.repository.split("/")[0], "type": "Organization"},
                                  "permissions": {"actions": "write", "deployments": "write"}, "events": []})

    # The App's webhook deliveries (docs.github.com/rest/apps/webhooks, JWT only): "List deliveries for an app
    # webhook" answers 200 with hook-delivery-items, newest first, ``per_page`` (default 30, at most 100) at a time;
    # the next page is named by ``cursor`` in a ``Link: <...>; rel="next"`` header; a bad parameter is 422 "Validation
    # Failed". "Redeliver a delivery for an app webhook" answers 202 Accepted and sends the delivery again later, with
    # the same guid and ``redelivery: true``. GitHub never redelivers on its own (docs.github.com/webhooks/using-
    # webhooks/handling-failed-webhook-deliveries); only these calls (or a person in the App's settings) do.
    async def _hook_deliveries(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        self.app_jwt_ok(request)
        root = self._root()
        q = request.query
        try:
            per_page = int(q.get("per_page", "30"))
        except ValueError:
            raise ApiError(422, "Validation Failed") from None
        if not 1 <= per_page <= 100:
            raise ApiError(422, "Validation Failed")
        newest_first = sorted(root.hooks.deliveries, key=lambda d: d.id, reverse=True)
        if q.get("cursor"):
            if not q["cursor"].isdigit():
                raise ApiError(422, "Validation Failed")
            newest_first = [d for d in newest_first if d.id <= int(q["cursor"])]
        page, rest = newest_first[:per_page], newest_first[per_page:]
        headers = {}
        if rest:
            headers["Link"] = f'<{self.url}/app/hook/deliveries?per_page={per_page}&cursor={rest[0].id}>; rel="next"'
        return web.json_response([d.item(root.installation_id, root.repo_id) for d in page], headers=headers)

    async def _hook_redeliver(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        self.app_jwt_ok(request)
        hooks = self._root().hooks
        original = next((d for d in hooks.deliveries if d.id == int(p["delivery"])), None)
        if original is None:
            raise ApiError(404, "Not Found")
        self._root().redelivery_requests.append(original.id)
        hooks.later(original.delivery_id)
        return web.json_response({}, status=202)

    async def _user(self, request: web.Request, p: dict[str, str], body: Any) -> web.Response:
        """``GET /user``: the user a user token (OAuth) or a personal access token belongs to; a workflow
        dispatched with a personal access token has that user as its actor."""
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        root = self._root()
        if scheme.lower() in ("token", "bearer") and value == root.token:
            return web.json_response(gp.user(self.url, root.actor))
        login = self._root().user_tokens.get(value) if scheme.lower() in ("token", "bearer") else None
        if login is None:
            raise ApiError(401, "Bad credentials")
        return web.json_response(gp.user(self.url, login))
