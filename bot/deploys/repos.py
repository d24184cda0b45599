"""GitHub access for many repositories: one ``GitHubClient`` per configured repository.

Authentication is a personal token (one client for all) or a GitHub App. With an App, the installation of each
repository is looked up once per owner (``GET /repos/{owner}/{repo}/installation``) unless
``GITHUB_APP_INSTALLATION_ID`` pins one; each installation has one PyGithub client whose installation token is
cached and refreshed by PyGithub before it expires (never logged). A repository the App is not installed on
gives a ``GitHubError`` that says so, shown to the user.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

import requests
from github import Auth, Github, GithubException, GithubIntegration

from bot.actions.github import GitHubClient, make_github, translate
from bot.errors import GitHubError

log = logging.getLogger(__name__)
_CALLBACK = re.compile(r"^/repos/(?P<owner>[A-Za-z0-9_.-]+)/(?P<repo>[A-Za-z0-9_.-]+)/actions/runs/\d+/"
                       r"deployment_protection_rule$")


def _app_key(env: Mapping[str, str]) -> str:
    key = env.get("GITHUB_APP_PRIVATE_KEY", "")
    if not key and env.get("GITHUB_APP_PRIVATE_KEY_FILE"):
        with open(env["GITHUB_APP_PRIVATE_KEY_FILE"], encoding="utf-8") as fh:
            key = fh.read()
    return key


class GitHubRepos:
    """``client(repository)`` for every configured repository (``repositories()`` is read at each call, so a
    reloaded config takes effect at once); anything else is refused."""

    def __init__(self, *, env: Mapping[str, str], base_url: str, repositories: Callable[[], tuple[str, ...]],
                 throttle: bool = True) -> None:
        self.base_url = base_url.rstrip("/")
        self.repositories = repositories
        self._throttle = throttle
        self._clients: dict[str, GitHubClient] = {}
        self._by_installation: dict[int, Github] = {}
        self._installation_of_owner: dict[str, int] = {}
        self._lock = asyncio.Lock()
        app_id = env.get("GITHUB_APP_ID", "")
        self._app: Auth.AppAuth | None = None
        self._pinned = 0
        self._token_gh: Github | None = None
        self._dispatch_actor = ""
        self.dispatch_actor_refused = False  # the last read was refused for good (401, 403, 404): not a passing fault
        if app_id:
            key = _app_key(env)
            if not key:
                raise GitHubError("GitHub App auth needs GITHUB_APP_PRIVATE_KEY (or _FILE)", transient=False)
            self._app = Auth.AppAuth(int(app_id), key)
            self._pinned = int(env.get("GITHUB_APP_INSTALLATION_ID", "0") or 0)
        else:
            self._token_gh = make_github(auth=Auth.Token(env["GITHUB_TOKEN"]), base_url=base_url, throttle=throttle)

    @property
    def uses_app(self) -> bool:
        return self._app is not None

    def configured(self, repository: str) -> bool:
        return repository.lower() in self.repositories()

    async def client(self, repository: str) -> GitHubClient:
        """The client for a configured repository. Raises GitHubError (not transient) for an unconfigured one
        or one the App is not installed on."""
        key = repository.lower()
        if key not in self.repositories():
            raise GitHubError(f"{repository} is not a configured repository", transient=False)
        found = self._clients.get(key)
        if found is not None:
            return found
        async with self._lock:
            if key not in self._clients:
                gh = self._token_gh if self._token_gh is not None else await self._installation_gh(repository)
                self._clients[key] = GitHubClient(repository=repository, base_url=self.base_url, gh=gh)
            return self._clients[key]

    async def org_client(self, org: str) -> GitHubClient:
        """A client authenticated for ``org`` (team membership reads): its installation, or the token."""
        if self._token_gh is not None:
            return GitHubClient(repository=f"{org}/-", base_url=self.base_url, gh=self._token_gh)
        async with self._lock:
            inst = self._pinned or await self._lookup(org.lower(), f"/orgs/{org}/installation", org)
            return GitHubClient(repository=f"{org}/-", base_url=self.base_url, gh=self._gh_for(inst))

    def forget_installation(self, installation: int) -> bool:
        """Drop an installation's client (and with it its cached token), e.g. after GitHub said the installation
        was deleted or suspended; the next call looks the installation up again. True when one was held."""
        held = self._by_installation.pop(installation, None) is not None
        for owner in [o for o, i in self._installation_of_owner.items() if i == installation]:
            del self._installation_of_owner[owner]
        if held:
            self._clients.clear()  # repository clients share the dropped one; the others rebuild from the cache
        return held

    async def _installation_gh(self, repository: str) -> Github:
        owner, _, name = repository.partition("/")
        inst = self._pinned or await self._lookup(owner.lower(), f"/repos/{owner}/{name}/installation", repository)
        return self._gh_for(inst)

    def _gh_for(self, installation: int) -> Github:
        assert self._app is not None
        gh = self._by_installation.get(installation)
        if gh is None:
            auth = self._app.get_installation_auth(installation)
            gh = self._by_installation[installation] = make_github(auth=auth, base_url=self.base_url,
                                                                   throttle=self._throttle)
        return gh

    async def _lookup(self, owner: str, path: str, what: str) -> int:
        """The App's installation id for an owner (cached per owner)."""
        cached = self._installation_of_owner.get(owner)
        if cached:
            return cached
        assert self._app is not None
        integration = GithubIntegration(auth=self._app, base_url=self.base_url, retry=None, timeout=15, lazy=True)

        def go() -> int:
            _, data = integration.requester.requestJsonAndCheck("GET", path)
            return int(data["id"])

        try:
            inst = await asyncio.to_thread(go)
        except GithubException as exc:
            if exc.status == 404:
                raise GitHubError(f"the GitHub App is not installed on {what}; install it there (docs/github-app.md)",
                                  transient=False, status=404) from exc
            raise GitHubError(f"finding the GitHub App installation of {what}: GitHub answered {exc.status}",
                              transient=exc.status >= 500 or exc.status == 429, status=exc.status) from exc
        except (requests.RequestException, OSError) as exc:
            raise GitHubError(f"finding the GitHub App installation of {what}: {type(exc).__name__}",
                              transient=True) from exc
        log.info("github app installation %s serves %s", inst, owner)
        self._installation_of_owner[owner] = inst
        return inst

    @property
    def known_dispatch_actor(self) -> str:
        """``dispatch_actor()`` once it has been read, else "" (never asks GitHub)."""
        return self._dispatch_actor

    async def dispatch_actor(self) -> str:
        """The login GitHub records as the actor of the runs this bot dispatches: ``<app slug>[bot]`` with an App
        (``GET /app`` with the App's JWT; an installation token attributes its activity to the App's bot account,
        docs.github.com/apps/creating-github-apps/authenticating-with-a-github-app/about-authentication-with-a-
        github-app), else the token's user (``GET /user``). Read once; "" while GitHub cannot be asked, and then
        no run binds to a request by its title (fail closed: it is tracked as a run started outside chat)."""
        if self._dispatch_actor:
            return self._dispatch_actor
        app, token_gh = self._app, self._token_gh

        def go() -> str:
            if app is not None:
                integration = GithubIntegration(auth=app, base_url=self.base_url, retry=None, timeout=15, lazy=True)
                _, data = integration.requester.requestJsonAndCheck("GET", "/app")
                return f"{data['slug']}[bot]"
            assert token_gh is not None
            _, data = token_gh.requester.requestJsonAndCheck("GET", "/user")
            return str(data["login"])

        try:
            self._dispatch_actor = (await asyncio.to_thread(go)).lower()
        except (GithubException, requests.RequestException, OSError, KeyError, TypeError) as exc:
            log.warning("could not read the bot's own GitHub identity (%s); no run binds by its title",
                        type(exc).__name__)
            self.dispatch_actor_refused = isinstance(exc, GithubException) and not translate(exc, "").transient
        else:
            self.dispatch_actor_refused = False
        return self._dispatch_actor

    async def app_call(self, method: str, path: str, *, what: str,
                       params: dict[str, Any] | None = None) -> tuple[dict[str, Any], Any]:
        """One call to the App's own endpoints (``/app/...``), authenticated by the App's JWT (PyGithub makes and
        renews it; never logged): (response headers, parsed JSON). GitHubError without App auth."""
        app = self._app
        if app is None:
            raise GitHubError(f"{what}: needs GitHub App auth", transient=False)
        integration = GithubIntegration(auth=app, base_url=self.base_url, retry=None, timeout=15, lazy=True)

        def go() -> tuple[dict[str, Any], Any]:
            return integration.requester.requestJsonAndCheck(method, path, parameters=params)

        try:
            return await asyncio.to_thread(go)
        except (GithubException, requests.RequestException, OSError) as exc:
            raise translate(exc, what) from exc

    def callback_repository(self, url: str) -> str:
        """The repository of a protection-rule callback URL on our API host, if it is a configured one; else ""."""
        if not url.startswith(self.base_url + "/"):
            return ""
        m = _CALLBACK.match(url[len(self.base_url):])
        if m is None:
            return ""
        repo = f"{m['owner']}/{m['repo']}"
        return repo if self.configured(repo) else ""
