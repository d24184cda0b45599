"""Issue 11 defect 11: a detection rule the docs name (``the `x` alert``, ``the `x` rule``) exists in rules.yml."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.alerts.rule_config import default_rules

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([*(ROOT / "docs").glob("*.md"), ROOT / "README.md", *(ROOT / "infra" / "modules").glob("*/README.md")])
_ID = r"`([a-z0-9]+(?:-[a-z0-9]+)+)`"
# a backticked kebab-case name right before "alert"/"rule"/"detection", or right after "rule"/"alert"
_NAMED = re.compile(rf"{_ID}\s+(?:bot\s+)?(?:alert|rule|detection)s?\b|\b(?:rule|alert|detection)\s+{_ID}", re.I)


def named_rule_ids(text: str) -> set[str]:
    return {a or b for a, b in _NAMED.findall(text)}


def test_the_pattern_finds_what_it_is_for() -> None:
    assert named_rule_ids("The bot's `oidc-assume-failure` alert shows") == {"oidc-assume-failure"}
    assert named_rule_ids("the module's `iam-persistence` rule, and rule `root-activity`") == {
        "iam-persistence", "root-activity"}
    assert named_rule_ids("header `x-api-key` compared") == set()


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_rule_id_a_doc_names_exists(doc: Path) -> None:
    known = {r.id for r in default_rules()}
    unknown = named_rule_ids(doc.read_text(encoding="utf-8")) - known
    assert not unknown, f"{doc.name} names rules that bot/alerts/rules.yml does not have: {sorted(unknown)}"
