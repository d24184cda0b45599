"""Unit tests of the example function: what api-ci's `unit tests` job runs for a service laid out like this one
(`services/<name>/tests/unit`, with `requirements-dev.txt` hash-pinned by pip-compile --generate-hashes)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the function's directory (what the image copies)

from app import handler


def test_health() -> None:
    assert handler({"rawPath": "/healthz"}, None) == {"statusCode": 200, "body": json.dumps({"ok": True})}


def test_an_order_is_totalled() -> None:
    body = json.dumps({"items": [{"quantity": 2, "price_cents": 150}, {"quantity": 1, "price_cents": 99}]})
    answer = handler({"body": body}, None)
    assert answer["statusCode"] == 201 and json.loads(answer["body"]) == {"total_cents": 399, "lines": 2}


def test_bad_bodies_are_refused() -> None:
    assert handler({"body": "{"}, None)["statusCode"] == 400
    assert handler({"body": json.dumps({"items": []})}, None)["statusCode"] == 400
