"""Read ``chatops.yml`` keeping where each key was written, so every problem names its key path *and* line.

PyYAML's composer keeps a start mark on every node (https://pyyaml.org/wiki/PyYAMLDocumentation, "Nodes":
``start_mark`` / ``end_mark``); the same nodes are then constructed into Python values exactly as
``yaml.safe_load`` does. Paths are written the way the parsers name them: ``services.api.workflow``,
``routes[0].to[1]``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from bot.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Document:
    data: Any
    lines: Mapping[str, int] = field(default_factory=dict)  # key path -> 1-based line


def parse_yaml(text: str) -> Document:
    """``yaml.safe_load`` plus the line of every key path. Raises ``yaml.YAMLError`` as safe_load does."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    lines: dict[str, int] = {}
    if node is not None:
        _walk(node, "", lines)
    return Document(data, lines)


def _walk(node: yaml.Node, path: str, lines: dict[str, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            name = str(key.value) if isinstance(key, yaml.ScalarNode) else "?"
            sub = f"{path}.{name}" if path else name
            lines[sub] = key.start_mark.line + 1  # a repeated key: safe_load keeps the last value, so its line
            _walk(value, sub, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            sub = f"{path}[{i}]"
            lines[sub] = item.start_mark.line + 1
            _walk(item, sub, lines)


_LAST = re.compile(r"(\.[^.\[\]]*|\[\d+\])$")


def line_of(path: str, lines: Mapping[str, int]) -> int | None:
    """The line of ``path``, else of its nearest written parent (a missing key is reported where its parent is)."""
    while path:
        if path in lines:
            return lines[path]
        shorter = _LAST.sub("", path)
        if shorter == path:
            return None
        path = shorter
    return None


def locate(problem: str, lines: Mapping[str, int]) -> str:
    """``"services.api.workflow: msg"`` -> ``"services.api.workflow: msg (line 12)"``; a problem that is not
    about a written key (``env NAME: ...``, ``(root): ...``) stays as it is."""
    path, sep, _ = problem.partition(": ")
    line = line_of(path, lines) if sep else None
    return f"{problem} (line {line})" if line is not None else problem


def located(exc: ConfigError) -> list[str]:
    """The problems of ``exc``, each with its line when the config file said where it was."""
    return [locate(p, exc.lines) for p in exc.problems]
