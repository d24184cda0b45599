"""A small GitHub Deployments REST client (urllib) and the reporter the engine uses.

Shapes follow https://docs.github.com/rest/deployments: ``POST
/repos/{owner}/{repo}/deployments`` creates a deployment, ``POST
/repos/{owner}/{repo}/deployments/{id}/statuses`` adds a status.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Protocol

from .errors import GitHubError, InvalidInput

__all__ = [
    "DEPLOYMENT_STATES",
    "DeploymentsClient",
    "GitHubReporter",
    "NullReporter",
    "Reporter",
    "truncate_description",
]

log = logging.getLogger(__name__)

DEPLOYMENT_STATES = frozenset({"error", "failure", "inactive", "in_progress", "queued", "pending", "success"})
MAX_DESCRIPTION = 140
DEFAULT_API_URL = "https://api.github.com"
_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_TRANSIENT = frozenset({429, 500, 502, 503, 504})


def truncate_description(text: str) -> str:
    """GitHub rejects status descriptions over 140 characters."""
    text = " ".join(text.split())
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 1] + "…"


@dataclass(frozen=True, slots=True)
class DeploymentsClient:
    repository: str
    token: str = field(repr=False)
    api_url: str = DEFAULT_API_URL
    timeout: float = 10.0
    attempts: int = 3
    backoff: float = 1.0

    def __post_init__(self) -> None:
        if not _REPO.fullmatch(self.repository):
            raise InvalidInput(f"repository {self.repository!r} must look like owner/name")
        scheme = urllib.parse.urlsplit(self.api_url).scheme
        if scheme not in ("http", "https"):
            raise InvalidInput("GITHUB_API_URL must be an http(s) URL")
        if not self.token:
            raise InvalidInput("a GitHub token is required to report deployments")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> DeploymentsClient | None:
        """From ``GITHUB_REPOSITORY``, ``GITHUB_TOKEN`` and ``GITHUB_API_URL``; ``None`` if unset."""
        env = dict(os.environ) if env is None else env
        repository, token = env.get("GITHUB_REPOSITORY", ""), env.get("GITHUB_TOKEN", "")
        if not repository or not token:
            return None
        return cls(repository=repository, token=token, api_url=env.get("GITHUB_API_URL") or DEFAULT_API_URL)

    def create_deployment(
        self,
        *,
        ref: str,
        environment: str,
        description: str = "",
        payload: dict[str, Any] | None = None,
        production: bool | None = None,
        transient: bool = False,
    ) -> int:
        body: dict[str, Any] = {
            "ref": ref,
            "environment": environment,
            "task": "deploy",
            "auto_merge": False,
            "required_contexts": [],
            "description": truncate_description(description),
            "payload": payload or {},
            "transient_environment": transient,
            "production_environment": environment == "production" if production is None else production,
        }
        answer = self._post(f"/repos/{self.repository}/deployments", body)
        deployment_id = answer.get("id")
        if not isinstance(deployment_id, int):
            raise GitHubError(f"creating deployment: no id in answer ({answer.get('message', '')})")
        return deployment_id

    def create_status(
        self,
        deployment_id: int,
        *,
        state: str,
        description: str = "",
        log_url: str = "",
        environment_url: str = "",
        environment: str = "",
        auto_inactive: bool | None = None,
    ) -> None:
        if state not in DEPLOYMENT_STATES:
            raise InvalidInput(f"deployment state {state!r} is not one of {sorted(DEPLOYMENT_STATES)}")
        body: dict[str, Any] = {"state": state, "description": truncate_description(description)}
        if log_url:
            body["log_url"] = log_url
        if environment_url:
            body["environment_url"] = environment_url
        if environment:
            body["environment"] = environment
        if auto_inactive is not None:
            body["auto_inactive"] = auto_inactive
        self._post(f"/repos/{self.repository}/deployments/{int(deployment_id)}/statuses", body)

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        url = self.api_url.rstrip("/") + path
        data = json.dumps(body).encode()
        headers = {
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {self.token}",
            "X-GitHub-Api-Version": "2022-11-28",
            "Content-Type": "application/json",
            "User-Agent": "chatops-release",
        }
        for attempt in range(1, self.attempts + 1):
            request = urllib.request.Request(url, data=data, method="POST", headers=headers)  # noqa: S310
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                    raw = response.read()
                decoded = json.loads(raw) if raw else {}
                return decoded if isinstance(decoded, dict) else {}
            except urllib.error.HTTPError as exc:
                if exc.code in _TRANSIENT and attempt < self.attempts:
                    log.warning("github post retrying path=%s status=%d attempt=%d", path, exc.code, attempt)
                    time.sleep(_retry_after(exc) or self.backoff * 2 ** (attempt - 1))
                    continue
                raise GitHubError(f"POST {path}: HTTP {exc.code}", status=exc.code) from exc
            except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
                if attempt < self.attempts and not isinstance(exc, ValueError):
                    time.sleep(self.backoff * 2 ** (attempt - 1))
                    continue
                raise GitHubError(f"POST {path}: {type(exc).__name__}") from exc
        raise GitHubError(f"POST {path}: no attempts made")


def _retry_after(exc: urllib.error.HTTPError) -> float:
    value = exc.headers.get("Retry-After", "") if exc.headers else ""
    try:
        return min(float(value), 60.0)
    except ValueError:
        return 0.0


class Reporter(Protocol):
    """Where the engine reports each step; reporting must never break a release."""

    def report(self, state: str, description: str) -> None: ...


class NullReporter:
    def report(self, state: str, description: str) -> None:
        log.info("release step state=%s description=%s", state, description)


@dataclass(slots=True)
class GitHubReporter:
    """Posts deployment statuses; a failure to report is logged, not raised."""

    client: DeploymentsClient
    deployment_id: int
    log_url: str = ""
    environment_url: str = ""
    failures: list[str] = field(default_factory=list)

    def report(self, state: str, description: str) -> None:
        try:
            self.client.create_status(
                self.deployment_id,
                state=state,
                description=description,
                log_url=self.log_url,
                environment_url=self.environment_url,
            )
        except GitHubError as exc:
            self.failures.append(str(exc))
            log.warning("could not report deployment status deployment=%d error=%s", self.deployment_id, exc)
