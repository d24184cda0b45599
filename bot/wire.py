"""Decoding untrusted bytes from the wire: one function, one failure type."""

from __future__ import annotations

import json
from typing import Any


class MalformedBody(ValueError):
    """The body is not what it claims to be (bad encoding, bad JSON, absurd nesting)."""


def parse_json(raw: bytes | str) -> Any:
    """``json.loads`` that fails only with ``MalformedBody``: never UnicodeDecodeError or RecursionError."""
    try:
        return json.loads(raw)
    except RecursionError as exc:
        raise MalformedBody("JSON nested too deeply") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedBody("malformed JSON") from exc


def decode_utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedBody("body is not UTF-8") from exc
