"""The docs describe the code as it is: links resolve, retired names are gone, every variable and workflow is
documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
_LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")
# names that no longer exist: a doc may only mention them to say they are gone
RETIRED = ("AWS_DEPLOY_ROLE_ARN", "AWS_WEB_ROLE_ARN", "TF_WORKING_DIR", "RELEASE_ENGINE_SPEC",
           "pip install chatops-bot", "oidc-assume-failure")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_relative_links_resolve(doc: Path) -> None:
    broken = [target for target in _LINK.findall(doc.read_text())
              if "://" not in target and not target.startswith("mailto:")
              and not (doc.parent / target).exists()]
    assert broken == [], f"{doc.name}: broken links {broken}"


def test_retired_names_are_gone_from_the_docs() -> None:
    found = [(doc.name, name) for doc in DOCS for name in RETIRED if name in doc.read_text()]
    assert found == []


def test_every_variable_a_workflow_reads_is_in_the_variables_reference() -> None:
    reference = (ROOT / "docs" / "secrets-and-variables.md").read_text()
    names = set()
    for path in [*(ROOT / "workflows").glob("*.yml"), *(ROOT / "workflows" / "actions").glob("*/action.yml")]:
        names |= set(re.findall(r"\bvars\.([A-Z][A-Z0-9_]*)", path.read_text()))
    missing = sorted(n for n in names if n not in reference)
    assert missing == []


def test_every_workflow_and_action_is_described_in_the_workflows_guide() -> None:
    guide = (ROOT / "docs" / "workflows.md").read_text()
    shipped = [p.name for p in (ROOT / "workflows").glob("*.yml")]
    shipped += [p.name for p in (ROOT / "workflows" / "actions").iterdir() if (p / "action.yml").is_file()]
    assert [name for name in shipped if f"`{name}`" not in guide] == []
