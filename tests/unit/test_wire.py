"""parse_json reads with orjson where that gives json's answer and falls back to json elsewhere: whatever the
input, it accepts exactly what json.loads accepts and reads it as the same value (types included), except a
document with a lone surrogate in a string (issue 22 item 4: not Unicode text, it could not be stored), which it
refuses."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.wire import MalformedBody, has_lone_surrogate, parse_json, parse_json_fields
from handlers.github_parse import ENVELOPE

EDGES: list[bytes | str] = [
    b'{"id": 123456789012345678901234567890}',  # wider than 64 bits: orjson would read a float
    b'{"id": -9999999999999999999}', b'{"id": 18446744073709551615}', b"[1e400, -0, -0.0, 1.0]",
    b"NaN", b"[Infinity]", b'"\\ud800"', b"\xef\xbb\xbf{}", '{"a": 1, "a": 2}'.encode("utf-16"),
    b'{"a": 1, "a": 2}', b"\xff", b"{not json", b"[" * 3000 + b"]" * 3000, b"", "{\"é\": \"ü\"}",
    b'{"a": "\\u0000"}', b'"raw\x01control"', b'{"\\udfff": 1}', b'["\\ud83d\\ude00", "\\ud83d"]',
    b'"\\ud83d\\ude00"', '"\ud800"', b'{"id": 12345678901234567890, "x": "\\udc00"}',
]


def reference(raw: bytes | str) -> Any:
    """What parse_json must answer: json.loads's answer, refusing lone surrogates."""
    value = json.loads(raw)
    if has_lone_surrogate(value):
        raise ValueError("lone surrogate")
    return value


def _outcome(fn: Any, raw: bytes | str) -> tuple[str, Any]:
    try:
        value = fn(raw)
    except (MalformedBody, ValueError, RecursionError):
        return "refused", None
    return "ok", (value, json.dumps(value, sort_keys=True) if value == value else "nan")


@pytest.mark.parametrize("raw", EDGES)
def test_parse_json_answers_like_json_loads(raw: bytes | str) -> None:
    got, want = _outcome(parse_json, raw), _outcome(reference, raw)
    assert got[0] == want[0]
    if got[0] == "ok":
        assert got[1][1] == want[1][1]
        assert repr(got[1][0]) == repr(want[1][0])  # same types: int stays int, float stays float


def test_refusals_are_malformed_body_only() -> None:
    for raw in (b"\xff", b"{not json", b"[" * 3000 + b"]" * 3000, b'{"id": "\\ud800"}', b'["\\udfff"]'):
        with pytest.raises(MalformedBody):
            parse_json(raw)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**25), max_value=10**25)
    | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=12,
)


@given(json_values)
def test_any_json_document_reads_as_json_reads_it(value: Any) -> None:
    raw = json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
    assert repr(_outcome(parse_json, raw)) == repr(_outcome(reference, raw))


def test_the_depth_limit_does_not_follow_the_recursion_limit() -> None:
    """A signed 2,000-level `ping` got 200 while hypothesis had raised the recursion limit, 400 otherwise: the limit
    is orjson's 1024 levels on every path (a lone surrogate escape takes the json path)."""
    import sys


    deep = b'{"a":' * 2000 + b"1" + b"}" * 2000
    with_escape = b'{"s":"\\ud83d\\ude00",' + b'"a":' + b"[" * 2000 + b"]" * 2000 + b"}"  # json's path
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(50_000)
    try:
        for raw in (deep, with_escape):
            with pytest.raises(MalformedBody, match="nested too deeply"):
                parse_json(raw)
            with pytest.raises(MalformedBody, match="nested too deeply"):  # the fields reader (GitHub ingest)
                parse_json_fields(raw, ENVELOPE)
        assert parse_json(b"[" * 1000 + b"]" * 1000) is not None
    finally:
        sys.setrecursionlimit(old)
