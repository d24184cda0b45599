"""A loopback fake of Grafana's annotations endpoint (``POST /api/annotations``), for the demo and deploy-note tests.

Every behaviour is Grafana's published contract (grafana.com/docs/grafana/latest/developers/http_api/annotations/
#create-annotation, and the HTTP API's authentication page, grafana.com/docs/grafana/latest/developers/http_api/
#authenticating-api-requests): a service account token as ``Authorization: Bearer``, else 401
``{"message": "Unauthorized"}``; a JSON body with ``dashboardUID`` (optional), ``time`` (epoch ms), ``tags`` and
``text``; 200 ``{"message": "Annotation added", "id": <n>}``. Grafana's annotation handler refuses an empty text
with 400 ``{"message": "Failed to save annotation", ...}`` (pkg/api/annotations.go, PostAnnotation: "text field
should not be empty").
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from sandbox.base import LoopbackServer


class GrafanaFake(LoopbackServer):
    def __init__(self, token: str = "glsa_sandbox_token_0123456789") -> None:
        self.token = token
        self.annotations: list[dict[str, Any]] = []
        super().__init__()

    def _routes(self, app: web.Application) -> None:
        app.router.add_post("/api/annotations", self._create)

    def env(self) -> dict[str, str]:
        return {"GRAFANA_TOKEN": self.token}

    async def _create(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization", "") != f"Bearer {self.token}":
            return web.json_response({"message": "Unauthorized"}, status=401)
        try:
            body = json.loads(await request.read())
        except ValueError:
            return web.json_response({"message": "bad request data"}, status=400)
        if not isinstance(body, dict) or not str(body.get("text") or "").strip():
            return web.json_response({"message": "Failed to save annotation",
                                      "error": "text field should not be empty"}, status=400)
        annotation = {"id": len(self.annotations) + 1, **body}
        self.annotations.append(annotation)
        return web.json_response({"message": "Annotation added", "id": annotation["id"]})
