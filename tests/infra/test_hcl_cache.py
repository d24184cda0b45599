"""sandbox/hcl.py keeps python-hcl2's parses by text: what it hands back must be what hcl2 itself gives."""

from __future__ import annotations

import hcl2

from sandbox import hcl
from tests.infra.tfcheck import INFRA


def test_a_cached_parse_is_hcl2s_parse_and_a_fresh_copy_each_time() -> None:
    files = sorted(INFRA.rglob("*.tf"), key=lambda p: p.stat().st_size)[-3:]  # the largest: the most shapes
    for path in files:
        text = path.read_text(encoding="utf-8")
        first = hcl.loads(text)
        assert first == hcl2.loads(text), path  # the JSON round trip changes nothing
        first["mutated"] = True
        again = hcl.loads(text)
        assert "mutated" not in again and again == hcl2.loads(text), path


def test_a_changed_text_is_parsed_again() -> None:
    text = 'variable "a" {\n  default = 1\n}\n'
    assert hcl.loads(text)["variable"][0]['"a"']["default"] == 1
    assert hcl.loads(text.replace("1", "2"))["variable"][0]['"a"']["default"] == 2
