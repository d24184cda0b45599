"""python-hcl2, parsed once per text: the tests and the rehearsal read the same ~80 Terraform files many times
(1,668 parses in tests/infra alone, 190 s of lark). A parse is a pure function of the text and the library's
version, so the result is kept by the sha256 of both: in this process, and as JSON in a cache outside the
repository (``$XDG_CACHE_HOME/chatops/hcl2-<version>``) that later processes and fresh clones reuse. Every caller
gets a fresh copy (json.loads of the stored text), so mutating a result cannot change what the next one sees.
Results are exactly what ``hcl2.loads`` gives (checked to survive the JSON round trip, tests/infra)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from sandbox.cache import cache_dir

_MEMO: dict[str, str] = {}


def _cache_dir() -> Path:
    import hcl2

    return cache_dir() / f"hcl2-{getattr(hcl2, '__version__', 'unknown')}"


def loads(text: str) -> dict[str, Any]:
    import hcl2

    key = hashlib.sha256(f"{getattr(hcl2, '__version__', '')}\0{text}".encode()).hexdigest()
    stored = _MEMO.get(key)
    if stored is None:
        path = _cache_dir() / f"{key}.json"
        try:
            stored = path.read_text(encoding="utf-8")
            json.loads(stored)  # a torn or foreign file is parsed again
        except (OSError, ValueError):
            stored = json.dumps(hcl2.loads(text))
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                scratch = path.with_name(f"{key}.{os.getpid()}.tmp")
                scratch.write_text(stored, encoding="utf-8")
                scratch.replace(path)  # atomic: a reader sees the whole file or none
            except OSError:
                pass  # no cache directory: still correct, only slower
        _MEMO[key] = stored
    out: dict[str, Any] = json.loads(stored)
    return out


def load(path: Path) -> dict[str, Any]:
    return loads(path.read_text(encoding="utf-8"))
