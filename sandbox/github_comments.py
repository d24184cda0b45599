"""GitHub fake: issue (and pull request) comments, for infra-ci's plan comment (``gh api``).

REST docs, "Issue comments" (https://docs.github.com/en/rest/issues/comments):
``GET /repos/{o}/{r}/issues/{n}/comments`` lists them (oldest first), ``POST`` the same path creates one (201; a
pull request is an issue for comments: "Every pull request is an issue, but not every issue is a pull request"),
``PATCH /repos/{o}/{r}/issues/comments/{id}`` updates one (200). ``body`` is required: GitHub refuses a request
without it with 422; an issue or comment that does not exist is 404 "Not Found".
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from aiohttp import web

from sandbox.github_rest import ApiError


class IssueComments:
    def __init__(self) -> None:
        self.issues: set[int] = set()  # issue / pull request numbers that exist
        self.comments: dict[int, dict[str, Any]] = {}  # id -> comment
        self._ids = itertools.count(1_700_000_001)

    def routes(self, prefix: str) -> list[tuple[str, str, Any]]:
        async def listing(request: web.Request, p: dict[str, str], body: Any) -> web.Response:
            number = self._issue(p["number"])
            return web.json_response([c for c in self.comments.values() if c["issue"] == number])

        async def create(request: web.Request, p: dict[str, str], body: Any) -> web.Response:
            number = self._issue(p["number"])
            comment = {"id": next(self._ids), "issue": number, "body": _body(body), "created_at": time.time()}
            self.comments[comment["id"]] = comment
            return web.json_response(comment, status=201)

        async def update(request: web.Request, p: dict[str, str], body: Any) -> web.Response:
            comment = self.comments.get(int(p["id"]))
            if comment is None:
                raise ApiError(404, "Not Found")
            comment["body"] = _body(body)
            return web.json_response(comment)

        return [("GET", prefix + r"/issues/(?P<number>\d+)/comments$", listing),
                ("POST", prefix + r"/issues/(?P<number>\d+)/comments$", create),
                ("PATCH", prefix + r"/issues/comments/(?P<id>\d+)$", update)]

    def _issue(self, number: str) -> int:
        if int(number) not in self.issues:
            raise ApiError(404, "Not Found")
        return int(number)


def _body(body: Any) -> str:
    if not isinstance(body, dict) or not isinstance(body.get("body"), str):
        raise ApiError(422, 'Invalid request.\n\n"body" wasn\'t supplied.')
    return str(body["body"])
