"""Stand-ins for the repository's own composite actions that cannot run on this machine, for the local runner.

Each replaces what the action does outside (a download, a container) and keeps the check the job relies on:

- ``setup-trivy``: downloads Trivy from its GitHub release and ``sudo install``s it (no network here); the
  ``trivy`` stand-in (sandbox.standin_tools) is already on PATH. ``download-db: "true"`` marks the database as
  fetched, so a later ``trivy image --skip-db-update`` is accepted, as on a runner.
- ``python-tools``: ``pip install --require-hashes`` of a scanner set from PyPI; the set name is checked like the
  action checks it and the set's stand-ins become usable (a scanner whose set was not installed is refused).
- ``accessibility``: axe-core in Chrome against the served site; the site directory must hold an index.html.
- ``lambda-test``: ``docker run`` of the built image with the Runtime Interface Emulator; here the handler named
  by the image's Dockerfile ``CMD`` answers the emulator's invocation endpoint on a loopback port (each invocation
  in a fresh interpreter, cwd the build context), and the action's own ``invoke.py`` runs for real against it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

StandIn = Callable[[Any, dict[str, Any], dict[str, str], Path], tuple[str, dict[str, str]]]


class StandInFailed(RuntimeError):
    pass


def _state(temp: Path) -> Path:
    path = temp / "standin-state"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _fail(message: str) -> StandInFailed:
    return StandInFailed(message)


def setup_trivy(runner: Any, with_: dict[str, Any], env: dict[str, str], temp: Path) -> tuple[str, dict[str, str]]:
    if str(with_.get("download-db", "false")) == "true":
        (_state(temp) / "trivy-db").write_text("1")
        return "Trivy not downloaded (the trivy stand-in is on PATH); its database marked as fetched", {}
    return "Trivy not downloaded (the trivy stand-in is on PATH)", {}


def python_tools(runner: Any, with_: dict[str, Any], env: dict[str, str], temp: Path) -> tuple[str, dict[str, str]]:
    tools = str(with_.get("tools") or "")
    if tools not in ("checkov", "pip-audit", "lint", "semgrep"):
        raise _fail("python-tools: tools must be checkov, pip-audit, lint or semgrep")
    marker = _state(temp) / "python-tools"
    marker.write_text(" ".join({*(marker.read_text().split() if marker.exists() else []), tools}))
    return f"the {tools} set is not pip-installed (its scanners are stand-ins)", {}


def accessibility(runner: Any, with_: dict[str, Any], env: dict[str, str], temp: Path) -> tuple[str, dict[str, str]]:
    site = runner.repo / str(with_.get("site") or "")
    if not (site / "index.html").is_file():
        raise _fail(f"accessibility: no site at {with_.get('site')} (build it first)")
    return f"axe-core does not run (no browser for jobs here); {with_.get('site')}/index.html exists", {}


class _Emulator:
    """The Lambda Runtime Interface Emulator's invocation endpoint, answered by the handler in a subprocess."""

    def __init__(self, context: Path, handler: str) -> None:
        module, _, function = handler.rpartition(".")
        code = ("import importlib, json, sys\n"
                f"fn = getattr(importlib.import_module({module!r}), {function!r})\n"
                "try:\n    out = fn(json.load(sys.stdin), None)\n"
                "except Exception as exc:\n"
                "    out = {'errorType': type(exc).__name__, 'errorMessage': str(exc)}\n"
                "print(json.dumps(out))\n")

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                done = subprocess.run([sys.executable, "-c", code], input=body, cwd=context, capture_output=True,
                                      timeout=60)
                raw = done.stdout if done.returncode == 0 else json.dumps(
                    {"errorType": "Runtime.ExitError", "errorMessage": done.stderr.decode()[-300:]}).encode()
                self.send_response(200)  # the emulator answers 200 with errorType for a function error
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/2015-03-31/functions/function/invocations"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def lambda_test(runner: Any, with_: dict[str, Any], env: dict[str, str], temp: Path) -> tuple[str, dict[str, str]]:
    function, image = str(with_.get("function") or ""), str(with_.get("image") or "")
    events = runner.repo / ".github" / "lambda-tests" / function
    if not events.is_dir():
        raise _fail(f"lambda-test: no test events for {function}: add .github/lambda-tests/{function}/*.json")
    images_file = _state(temp) / "docker-images.json"
    images = json.loads(images_file.read_text()) if images_file.exists() else {}
    if image not in images:
        raise _fail(f"lambda-test: Unable to find image '{image}' locally (build it first)")
    record = images[image]
    dockerfile = Path(record["dockerfile"]).read_text()
    cmd = re.search(r'^CMD\s*\[\s*"([^"]+)"', dockerfile, re.M)
    if cmd is None:
        raise _fail("lambda-test stand-in: the Dockerfile names no CMD [\"module.handler\"]")
    emulator = _Emulator(Path(record["context"]), cmd.group(1))
    try:
        done = subprocess.run([sys.executable, str(runner.repo / ".github" / "actions" / "lambda-test" / "invoke.py"),
                               emulator.url, str(events)], capture_output=True, text=True, timeout=300)
    finally:
        emulator.stop()
    if done.returncode != 0:
        raise _fail(f"lambda-test: {done.stdout[-800:]}{done.stderr[-400:]}")
    return (f"the image is not run (no container daemon for jobs): {cmd.group(1)} from its build context answered "
            f"{len(list(events.glob('*.json')))} events through invoke.py"), {}


ACTION_STAND_INS: dict[str, StandIn] = {
    "./.github/actions/setup-trivy": setup_trivy,
    "./.github/actions/python-tools": python_tools,
    "./.github/actions/accessibility": accessibility,
    "./.github/actions/lambda-test": lambda_test,
}
