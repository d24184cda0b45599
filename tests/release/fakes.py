"""Loopback HTTP fakes: a health endpoint and GitHub's Deployments REST API."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

STATES = {"error", "failure", "inactive", "in_progress", "queued", "pending", "success"}
_DEPLOYMENTS = re.compile(r"^/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/deployments$")
_STATUSES = re.compile(r"^/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/deployments/(?P<id>\d+)/statuses$")


@contextmanager
def serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class HealthEndpoint:
    """Answers GET with ``status``; records the paths asked for."""

    status: int = 200
    paths: list[str] = field(default_factory=list)
    url: str = ""

    @contextmanager
    def running(self) -> Iterator[HealthEndpoint]:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                endpoint.paths.append(self.path)
                body = b'{"ok": true}' if endpoint.status < 300 else b'{"ok": false}'
                self.send_response(endpoint.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        with serve(Handler) as url:
            self.url = url
            yield self


@dataclass
class FakeGitHub:
    """GitHub Deployments API: validates paths, headers and bodies as documented.

    https://docs.github.com/en/rest/deployments/deployments#create-a-deployment
    https://docs.github.com/en/rest/deployments/statuses#create-a-deployment-status
    """

    token: str = "ghs_test_token"
    repository: str = "acme/shop"
    deployments: dict[int, dict[str, Any]] = field(default_factory=dict)
    statuses: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)
    url: str = ""

    def states(self, deployment_id: int) -> list[str]:
        return [s["state"] for s in self.statuses.get(deployment_id, [])]

    @contextmanager
    def running(self) -> Iterator[FakeGitHub]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status: int, body: dict[str, Any]) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _reject(self, status: int, message: str) -> None:
                fake.errors.append(message)
                self._answer(status, {"message": message})

            def do_POST(self) -> None:
                if fake.fail_next:
                    self._answer(fake.fail_next.pop(0), {"message": "injected"})
                    return
                if self.headers.get("Authorization") != f"Bearer {fake.token}":
                    self._reject(401, "Bad credentials")
                    return
                if self.headers.get("Accept") != "application/vnd.github+json":
                    self._reject(415, "wrong Accept header")
                    return
                length = int(self.headers.get("Content-Length", "0"))
                try:
                    body = json.loads(self.rfile.read(length))
                except ValueError:
                    self._reject(400, "Problems parsing JSON")
                    return
                owner, repo = fake.repository.split("/")
                if (m := _DEPLOYMENTS.match(self.path)) and (m["owner"], m["repo"]) == (owner, repo):
                    self._create_deployment(body)
                elif (m := _STATUSES.match(self.path)) and (m["owner"], m["repo"]) == (owner, repo):
                    self._create_status(int(m["id"]), body)
                else:
                    self._reject(404, f"Not Found: {self.path}")

            def _create_deployment(self, body: dict[str, Any]) -> None:
                if not isinstance(body.get("ref"), str) or not body["ref"]:
                    self._reject(422, "ref is required")
                    return
                if not isinstance(body.get("required_contexts", []), list):
                    self._reject(422, "required_contexts must be a list")
                    return
                deployment_id = 1000 + len(fake.deployments)
                fake.deployments[deployment_id] = body
                self._answer(
                    201, {"id": deployment_id, "ref": body["ref"], "environment": body.get("environment")}
                )

            def _create_status(self, deployment_id: int, body: dict[str, Any]) -> None:
                if deployment_id not in fake.deployments:
                    self._reject(404, "Not Found")
                    return
                if body.get("state") not in STATES:
                    self._reject(422, f"invalid state {body.get('state')!r}")
                    return
                if len(body.get("description", "")) > 140:
                    self._reject(422, "description is too long (maximum is 140 characters)")
                    return
                for key in ("log_url", "environment_url"):
                    if key in body and not str(body[key]).startswith(("http://", "https://")):
                        self._reject(422, f"{key} must be a URL")
                        return
                fake.statuses.setdefault(deployment_id, []).append(body)
                self._answer(201, {"id": len(fake.statuses[deployment_id]), "state": body["state"]})

            def log_message(self, format: str, *args: Any) -> None:
                pass

        with serve(Handler) as url:
            self.url = url
            yield self
