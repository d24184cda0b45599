"""The repository layout the contract tests read: ``installed_repo`` (install-workflows output) when the
conftest provides it, else a copy of ``workflows/`` laid out as ``.github/`` (the shipped files themselves)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .gha import Tree

ROOT = Path(__file__).resolve().parents[2]


def load_tree(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Tree:
    try:
        installed = request.getfixturevalue("installed_repo")
    except pytest.FixtureLookupError:
        installed = None
    if installed is not None:
        return Tree.load(Path(installed))
    root = tmp_path_factory.mktemp("repo")
    source = ROOT / "workflows"
    (root / ".github" / "workflows").mkdir(parents=True)
    for path in source.glob("*.y*ml"):
        shutil.copy(path, root / ".github" / "workflows" / path.name)
    if (source / "actions").is_dir():
        shutil.copytree(source / "actions", root / ".github" / "actions")
    return Tree.load(root)
