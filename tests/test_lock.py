"""requirements.lock (the image's dependencies) agrees with pyproject.toml and pins every package by hash."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _lock() -> dict[str, list[str]]:
    entries: dict[str, list[str]] = {}
    current = ""
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([A-Za-z0-9_.-]+)==([^ \\]+)", line)
        if m:
            current = _norm(m.group(1))
            entries[current] = []
        elif line.startswith("--hash=sha256:"):
            entries[current].append(line.split(":", 1)[1].rstrip(" \\"))
        else:
            raise AssertionError(f"unexpected line in requirements.lock: {line!r} (no index or find-links options)")
    return entries


def test_every_runtime_dependency_is_locked_with_hashes() -> None:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {_norm(re.split(r"[<>=\[; ]", d, maxsplit=1)[0]) for d in deps}
    lock = _lock()
    assert names <= set(lock), f"not in requirements.lock (run `make lock`): {sorted(names - set(lock))}"
    unhashed = [n for n, hashes in lock.items() if not hashes or not all(re.fullmatch(r"[0-9a-f]{64}", h)
                                                                          for h in hashes)]
    assert unhashed == []


def test_the_image_installs_only_from_the_lock() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    installs = [line for line in dockerfile.splitlines() if "pip install" in line]
    assert installs and all("--require-hashes" in line and "--no-deps" in line for line in installs)
    assert "requirements.lock" in dockerfile
