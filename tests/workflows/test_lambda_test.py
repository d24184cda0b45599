"""The lambda-test action's invocation script against a local stand-in of the Runtime Interface Emulator.

The stand-in speaks the emulator's invocation API (POST /2015-03-31/functions/function/invocations, the event
as the body, the handler's return value as JSON, ``{"errorMessage", "errorType"}`` when it raises) and runs the
example function in examples/lambda in-process.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "workflows" / "actions" / "lambda-test" / "invoke.py"
EXAMPLE = ROOT / "examples" / "lambda"
PATH = "/2015-03-31/functions/function/invocations"


def _handler():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("orders_app", EXAMPLE / "orders" / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler


@pytest.fixture
def emulator() -> Iterator[str]:
    handler = _handler()

    class Invocations(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path != PATH:
                self.send_response(404)
                self.end_headers()
                return
            event = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            try:
                body = handler(event, None)
            except Exception as exc:
                body = {"errorMessage": str(exc), "errorType": type(exc).__name__}
            raw = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Invocations)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{PATH}"
    finally:
        server.shutdown()


def _run(url: str, events: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), url, str(events)], capture_output=True, text=True,
                          timeout=60)


def test_the_shipped_example_events_pass(emulator: str) -> None:
    done = _run(emulator, EXAMPLE / ".github" / "lambda-tests" / "orders")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3/3 events passed" in done.stdout


def test_a_wrong_expectation_fails_the_leg_and_says_why(emulator: str, tmp_path: Path) -> None:
    shutil.copytree(EXAMPLE / ".github" / "lambda-tests" / "orders", tmp_path, dirs_exist_ok=True)
    case = json.loads((tmp_path / "create-order.json").read_text())
    case["expect"]["body"]["total_cents"] = 9999
    (tmp_path / "create-order.json").write_text(json.dumps(case))
    done = _run(emulator, tmp_path)
    assert done.returncode == 1
    assert "FAIL create-order.json" in done.stdout and "expected 9999" in done.stdout


def test_a_function_that_raises_fails_unless_expected(emulator: str, tmp_path: Path) -> None:
    # items that are not objects make the example raise AttributeError inside the handler
    event = {"rawPath": "/orders", "body": json.dumps({"items": ["not-an-object"]})}
    (tmp_path / "raises.json").write_text(json.dumps({"event": event, "expect": {}}))
    done = _run(emulator, tmp_path)
    assert done.returncode == 1 and "function raised (AttributeError" in done.stdout
    (tmp_path / "raises.json").write_text(json.dumps({"event": event, "expect": {"error": True}}))
    assert _run(emulator, tmp_path).returncode == 0


def test_no_events_is_an_error_not_a_pass(emulator: str, tmp_path: Path) -> None:
    done = _run(emulator, tmp_path)
    assert done.returncode == 2 and "no test events" in done.stderr
