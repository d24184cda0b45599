"""Shell-style glob lists (``fnmatchcase``) compiled once into one regex (issue 27 item 5: the security worker
tests every GitHub OIDC subject against every allowed pattern, and values against ``own_resources``, per record)."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from functools import lru_cache

Matcher = Callable[[str], bool]


def _never(_value: str) -> bool:
    return False


@lru_cache(maxsize=256)
def glob_matcher(patterns: tuple[str, ...]) -> Matcher:
    """``lambda v: any(fnmatchcase(v, p) for p in patterns)`` as one compiled regex (``fnmatch.translate`` of each
    pattern, anchored at both ends, joined by ``|``). No pattern matches nothing."""
    if not patterns:
        return _never
    rx = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))
    return lambda value: rx.match(value) is not None
