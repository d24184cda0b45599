"""Decoding untrusted bytes from the wire: one function, one failure type."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import msgspec
import orjson

# orjson reads integers wider than 64 bits as floats where json keeps them exact (ids are range-checked
# later), so a body with a run of 19 or more digits goes to json; so does anything orjson refuses (NaN,
# lone surrogates, UTF-16): what is accepted, and what it reads as, is always json.loads's answer, but for one
# refusal: a string holding a lone surrogate (``"\ud800"``) is valid JSON syntax yet not Unicode text (RFC 8259
# section 8.2; I-JSON, RFC 7493 section 2.1, forbids it): it cannot be encoded as UTF-8, so it could be neither
# stored nor sent on, and is refused at ingress like any malformed body.
_DIGITS = bytes(0x30 if 0x30 <= i <= 0x39 else 0x20 for i in range(256))  # every digit -> "0", the rest -> " "
_WIDE = b"0" * 19  # 19 digits: -9223372036854775809 is already past int64


MAX_DEPTH = 1024  # orjson's nesting limit
_DEFAULT_RECURSION = 1000  # CPython's default recursion limit (docs.python.org, sys.setrecursionlimit)


def _refuse_depth(exc: orjson.JSONDecodeError) -> None:
    """One depth limit whatever the process's recursion limit (a test runner or a library may raise it): orjson's
    1024 levels (github.com/ijl/orjson, "JSONDecodeError ... depth limit exceeded"). GitHub's payloads are shallow."""
    if str(exc).startswith("depth limit exceeded"):
        raise MalformedBody("JSON nested too deeply") from exc


def parse_json(raw: bytes | str) -> Any:
    """``json.loads`` that fails only with ``MalformedBody``: never UnicodeDecodeError or RecursionError.

    Parsed by orjson when its answer is json's (2.7x faster on a 17 KB GitHub payload; docs/benchmarks.md)."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    # a surrogate escape goes to json: orjson reads some unpaired ones (a low before a high) without refusing them
    surrogates = (b"\\u" in data or b"\xed" in data) and _MAY_HOLD_SURROGATE.search(data) is not None
    if not surrogates and _WIDE not in data.translate(_DIGITS):  # a C scan: about 11 us for 17 KB, a regex took 150 us
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            _refuse_depth(exc)  # else json decides: it accepts a few things orjson does not, or names the refusal
    else:  # json reads it, but the depth limit is orjson's on every path: json's follows sys.getrecursionlimit()
        try:
            orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            _refuse_depth(exc)
    try:
        value = json.loads(raw)
    except RecursionError as exc:
        raise MalformedBody("JSON nested too deeply") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedBody("malformed JSON") from exc
    if surrogates and has_lone_surrogate(value):
        raise MalformedBody("JSON holds a lone surrogate (\\ud800-\\udfff): not Unicode text")
    return value


# an escaped surrogate (\ud800-\udfff), or one passed through in a str argument (UTF-8 of U+D800-U+DFFF)
_MAY_HOLD_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def has_lone_surrogate(value: Any) -> bool:
    """True when a string anywhere in a parsed JSON value (keys included) holds a lone surrogate. json.loads
    joins an escaped pair (``\\ud83d\\ude00``) into one character, so what is left is never a valid pair."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def parse_json_fields(raw: bytes, decoder: msgspec.json.Decoder[Any]) -> Any:
    """The fields ``decoder``'s schema names, as plain values; the rest of the document is checked but not built.

    A schema is a ``msgspec.Struct`` whose fields default to ``msgspec.UNSET`` (absent stays absent) and whose
    leaves are ``Any``, so the values are the ones json.loads reads (msgspec keeps wide integers exact). Anything
    msgspec refuses (a field of another shape than the schema's, NaN, a lone surrogate, a BOM, deep nesting)
    goes to ``parse_json``, whose full document holds the same fields: callers read the two alike, and accept
    and refuse exactly what ``parse_json`` does (tests/unit/test_wire.py). A 17 KB GitHub ``workflow_run``:
    17 us instead of 64 (docs/benchmarks.md)."""
    if not raw.isascii():
        try:  # msgspec does not check the UTF-8 of what it skips; json refuses the whole body for it
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return parse_json(raw)
    # msgspec's own depth limit follows sys.getrecursionlimit() (about 1000 by default: deeper goes to parse_json
    # below); when something raised it (hypothesis does), check the depth here, so the limit is the same
    if sys.getrecursionlimit() > _DEFAULT_RECURSION and raw.count(b"{") + raw.count(b"[") > MAX_DEPTH:
        try:
            orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            _refuse_depth(exc)
    try:
        return msgspec.to_builtins(decoder.decode(raw))
    except (msgspec.DecodeError, RecursionError):
        return parse_json(raw)


class MalformedBody(ValueError):
    """The body is not what it claims to be (bad encoding, bad JSON, absurd nesting)."""


def decode_utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedBody("body is not UTF-8") from exc
