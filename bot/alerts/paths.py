"""A document's scalar values at one dotted path, read without flattening the document (issue 27 item 5).

``values_at(doc, path)`` holds the same values as ``[v for k, v in flatten(doc) if k == path]``
(``bot/alerts/normalize.py``): the same depth limit (5 levels), the first 50 items of a list, values of at most
2,000 characters, list items sharing their list's path. A key may itself hold dots (``{"a.b": {"c": 1}}`` is at
``a.b.c`` like ``{"a": {"b.c": 1}}``), so at each level every key the rest of the path can start with is looked up:
``a``, ``a.b`` and ``a.b.c`` for ``a.b.c``. When two such keys both hold values, they come key by key rather than in
document order; rules ask only whether any value matches (tests/security/test_rules_fast_path.py compares the two).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.alerts.normalize import _MAX_FIELD, _s, flatten

_MAX_DEPTH = 5
_MAX_ITEMS = 50
_PLANS: dict[str, tuple[tuple[tuple[str, ...], ...], bool]] = {}


def _keys(path: str) -> tuple[tuple[tuple[str, ...], ...], bool]:
    """For each part of the path, the keys the rest of the path can start with (``a``, ``a.b``, ``a.b.c``); and
    whether the path can be walked key by key (no empty part, not deeper than the depth limit)."""
    plan = _PLANS.get(path)
    if plan is None:
        parts = path.split(".")
        keys = tuple(tuple(".".join(parts[i:j]) for j in range(i + 1, len(parts) + 1)) for i in range(len(parts)))
        plan = (keys, all(parts) and len(parts) <= _MAX_DEPTH)
        if len(_PLANS) < 4096:  # paths come from the rules: few; the bound is for anything else
            _PLANS[path] = plan
    return plan


def values_at(doc: Any, path: str) -> list[str]:
    """The scalar values of ``doc`` (a dict, as flatten is called on a record) at ``path``, as text."""
    if not isinstance(doc, dict):
        return []
    keys, simple = _keys(path)
    if simple:
        got = _walk(doc, keys)
        if got is not None:
            return got
    out: list[str] = []
    _from_dict(doc, keys, 0, 0, out, path == "")
    return out


Reader = Callable[[Any], list[str]]


def reader(path: str) -> Reader:
    """``partial(values_at, path=path)`` in one call (the rules build one per condition, once per rule set; issue 27
    item 5: the layers of calls per path read were a fifth of the time per record). The same values as
    ``values_at`` (tests/security/test_rules_by_path.py compares them)."""
    keys, simple = _keys(path)
    whole = path == ""
    if simple and len(keys) == 1:
        key = keys[0][0]  # one part, no dot, not empty: the only key it can be at

        def read_key(doc: Any) -> list[str]:
            if not isinstance(doc, dict):
                return []
            if "" not in doc:  # _walk's first step, inline
                v = doc.get(key)
                if type(v) is str:
                    return [v] if len(v) <= _MAX_FIELD else []
                if v is None or isinstance(v, dict):
                    return []
            out: list[str] = []
            _from_dict(doc, keys, 0, 0, out, whole)
            return out

        return read_key

    if simple and len(keys) == 2:
        first, dotted = keys[0]  # "a" and "a.b" for a.b
        second = keys[1][0]

        def read_pair(doc: Any) -> list[str]:
            if not isinstance(doc, dict):
                return []
            if "" not in doc and dotted not in doc:  # _walk's two steps, inline
                v = doc.get(first)
                if not isinstance(v, dict):
                    if not isinstance(v, list):
                        return []  # a value or nothing here: nothing deeper
                elif "" not in v:
                    w = v.get(second)
                    if type(w) is str:
                        return [w] if len(w) <= _MAX_FIELD else []
                    if w is None or isinstance(w, dict):
                        return []
            out: list[str] = []
            _from_dict(doc, keys, 0, 0, out, whole)
            return out

        return read_pair

    def read(doc: Any) -> list[str]:
        if not isinstance(doc, dict):
            return []
        if simple:
            got = _walk(doc, keys)
            if got is not None:
                return got
        out: list[str] = []
        _from_dict(doc, keys, 0, 0, out, whole)
        return out

    return read


def _walk(doc: dict[Any, Any], keys: tuple[tuple[str, ...], ...]) -> list[str] | None:
    """The common case: a chain of objects, one key per part, no key holding a dot or empty. None: not that case
    (a list on the way, a key with a dot, an empty key, a non-text value at the end), read by ``_from_dict``."""
    node = doc
    last = len(keys) - 1
    for i, alternatives in enumerate(keys):
        if "" in node:
            return None
        for key in alternatives[1:]:
            if key in node:
                return None
        v = node.get(alternatives[0])
        if i == last:
            if type(v) is str:
                return [v] if len(v) <= _MAX_FIELD else []
            return [] if v is None or isinstance(v, dict) else None
        if not isinstance(v, dict):
            return None if isinstance(v, list) else []  # a value or nothing here: nothing deeper
        node = v
    return []  # not reached: keys has at least one part


# ``i`` counts the parts of the path the keys above have taken. While every key above is "" the prefix is still
# empty (flatten writes ``k``, not ``.k``, after an empty prefix): ``blank``, and key "" takes no part.


def _from_dict(node: dict[Any, Any], keys: tuple[tuple[str, ...], ...], i: int, depth: int, out: list[str],
               whole: bool, blank: bool = True) -> None:
    deeper = depth + 1
    if deeper > _MAX_DEPTH:
        return
    n = len(keys)
    if blank and "" in node:
        v = node[""]
        if isinstance(v, dict):
            _from_dict(v, keys, i, deeper, out, whole)
        elif isinstance(v, list):
            _from_list(v, keys, i, deeper, out, whole, blank=True)
        elif whole and v is not None:  # the path is "" and this value is at ""
            _leaf(v, out)
    for j, key in enumerate(keys[i], i + 1):
        if blank and not key:
            continue  # taken above
        v = node.get(key)
        if v is None:
            continue
        if j == n:  # the path ends at this key
            if type(v) is str:
                if len(v) <= _MAX_FIELD:
                    out.append(v)
            elif isinstance(v, list):
                _from_list(v, keys, j, deeper, out, whole, blank=False)
            elif not isinstance(v, dict):
                _leaf(v, out)
        elif isinstance(v, dict):
            _from_dict(v, keys, j, deeper, out, whole, blank=False)
        elif isinstance(v, list):
            _from_list(v, keys, j, deeper, out, whole, blank=False)


def _from_list(node: list[Any], keys: tuple[tuple[str, ...], ...], i: int, depth: int, out: list[str],
               whole: bool, *, blank: bool) -> None:
    # the list is at ``depth``; its items one level deeper share its path
    deeper = depth + 1
    if deeper > _MAX_DEPTH:
        return
    ends = whole if blank else i == len(keys)
    for item in node[:_MAX_ITEMS]:
        if isinstance(item, dict):
            if not ends or blank:
                _from_dict(item, keys, i, deeper, out, whole, blank)
        elif isinstance(item, list):
            _from_list(item, keys, i, deeper, out, whole, blank=blank)
        elif ends and item is not None:
            _leaf(item, out)


def _leaf(value: Any, out: list[str]) -> None:
    text = _s(value)
    if len(text) <= _MAX_FIELD:
        out.append(text)


def values_under(doc: Any, head: str) -> list[str]:
    """The values of ``doc`` whose path starts with ``head.`` (``head`` one key, no dot): the same values as
    ``[v for k, v in flatten(doc) if k.startswith(head + ".")]``, from the top-level keys that can hold them."""
    if "." in head:
        raise ValueError("values_under takes one key")
    out: list[str] = []
    if not isinstance(doc, dict):
        return out
    prefix = head + "."
    for k, v in doc.items():
        if k == head or k == "" or (type(k) is str and k.startswith(prefix)):  # "" : flatten writes no prefix
            out.extend(text for path, text in flatten({k: v}) if path.startswith(prefix))
    return out
