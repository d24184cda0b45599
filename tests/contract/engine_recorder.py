"""pytest plugin: record every AWS call the release engine makes while its own moto tests run.

Used by test_aws_permissions.py, which runs ``pytest -p tests.contract.engine_recorder tests/release`` in a
subprocess with ``CHATOPS_AWS_CALL_LOG`` naming a JSON-lines file. The hook is botocore's own event system: a
``before-call`` handler appended to ``botocore.handlers.BUILTIN_HANDLERS``, which every botocore session
(hence every boto3 session the engine creates in ``make_clients``) registers when it is built. Only calls with
an engine frame on the stack are written, so the tests' own set-up calls (creating functions, buckets) are not.
Each line: ``{"service": "lambda", "operation": "CreateAlias", "frames": ["lambda_release.LambdaReleaser.deploy",
...]}`` with the engine frames outermost first.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import botocore.handlers

LOG_ENV = "CHATOPS_AWS_CALL_LOG"
# Where the engine's code lives: the package in this repository, or the copy install-workflows vendors.
ENGINE_PACKAGES = ("bot.actions.release", "chatops_release")

_lock = threading.Lock()


def _engine_frames(frame: FrameType | None) -> list[str]:
    found: list[str] = []
    while frame is not None:
        module = str(frame.f_globals.get("__name__", ""))
        if any(module == p or module.startswith(p + ".") for p in ENGINE_PACKAGES):
            found.append(f"{module.rsplit('.', 1)[-1]}.{frame.f_code.co_qualname}")
        frame = frame.f_back
    return list(reversed(found))


def _record(model: Any = None, **_: Any) -> None:
    target = os.environ.get(LOG_ENV)
    if not target or model is None:
        return
    frames = _engine_frames(sys._getframe(1))
    if not frames:
        return
    line = json.dumps({"service": model.service_model.service_name, "operation": model.name, "frames": frames})
    with _lock, Path(target).open("a", encoding="utf-8") as fh:
        fh.write(line + "\n")


def pytest_configure(config: Any) -> None:
    if ("before-call", _record) not in botocore.handlers.BUILTIN_HANDLERS:
        botocore.handlers.BUILTIN_HANDLERS.append(("before-call", _record))
