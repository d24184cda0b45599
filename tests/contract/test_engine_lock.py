"""The vendored engine's lock: every dependency of boto3 (and nothing else), each pinned with ``==`` and hashes."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.contract.conftest import ROOT

ENGINE_SRC = ROOT / "bot" / "actions" / "release"
_ENTRY = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)(?P<rest>.*)$")
_HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}\b")


def lock_entries(path: Path) -> dict[str, tuple[str, str]]:
    """Canonical name -> (version, the rest of the logical line), from a pip-compile'd requirements file."""
    logical = re.sub(r"\\\n\s*", " ", path.read_text())
    entries: dict[str, tuple[str, str]] = {}
    for line in logical.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        match = _ENTRY.match(line)
        assert match, f"{path.name}: not a name==version entry: {line!r}"
        entries[canonicalize_name(match["name"])] = (match["version"], match["rest"])
    return entries


def top_level_requirements(path: Path) -> list[Requirement]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [Requirement(line) for line in lines if line]


def closure(roots: list[Requirement]) -> set[str]:
    """Transitive requirements per the installed distributions' metadata, markers evaluated here, no extras."""
    env = {**default_environment(), "extra": ""}
    seen: set[str] = set()
    todo = [r.name for r in roots]
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        for text in metadata.requires(name) or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate(env):
                todo.append(req.name)
    return seen


def test_the_lock_is_the_closure_of_the_engine_requirements() -> None:
    roots = top_level_requirements(ENGINE_SRC / "requirements.in")
    assert [r.name for r in roots] == ["boto3"]
    entries = lock_entries(ENGINE_SRC / "requirements.txt")
    assert set(entries) == closure(roots)
    assert {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "urllib3", "six"} <= set(entries)
    for root in roots:
        assert entries[canonicalize_name(root.name)][0] in root.specifier, root


def test_every_entry_is_pinned_with_hashes() -> None:
    for name, (version, rest) in lock_entries(ENGINE_SRC / "requirements.txt").items():
        assert re.fullmatch(r"[0-9A-Za-z.+!-]+", version), name
        assert _HASH.search(rest), f"{name}=={version} has no --hash=sha256:"
        assert "--hash=" not in _HASH.sub("", rest), f"{name}: a hash that is not sha256"


def test_the_lock_parser_rejects_what_it_must(tmp_path: Path) -> None:
    bad = tmp_path / "requirements.txt"
    bad.write_text("boto3>=1.34 \\\n    --hash=sha256:" + "0" * 64 + "\n")
    try:
        lock_entries(bad)
    except AssertionError as exc:
        assert "not a name==version" in str(exc)
    else:
        raise AssertionError("a ranged requirement passed as pinned")
