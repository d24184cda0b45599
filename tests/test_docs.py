"""The docs describe the code as it is: links (and their anchors) resolve, retired names are gone, every variable,
secret, workflow, composite action, pinned action and required check is documented, and the README indexes every
doc."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS_DIR = ROOT / "docs"
WORKFLOWS = ROOT / "workflows"
DOCS = sorted([ROOT / "README.md", *DOCS_DIR.glob("*.md"), *(ROOT / "infra" / "modules").glob("*/README.md")])
GUIDE = DOCS_DIR / "workflows.md"

_LINK = re.compile(r"\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)

# Names that no longer exist (issues 11, 13, 15). A doc may mention one only in a sentence that says it is gone:
# ALLOWED lists those sentences, as (doc name, a fragment of the sentence).
RETIRED: dict[str, re.Pattern[str]] = {
    "AWS_DEPLOY_ROLE_ARN": re.compile(r"\bAWS_DEPLOY_ROLE_ARN\b"),
    "AWS_WEB_ROLE_ARN": re.compile(r"\bAWS_WEB_ROLE_ARN\b"),
    "AWS_PLAN_ROLE_ARN without _<ENV>": re.compile(r"\bAWS_PLAN_ROLE_ARN\b(?!_)"),
    "TF_WORKING_DIR": re.compile(r"\bTF_WORKING_DIR\b"),
    "RELEASE_ENGINE_SPEC": re.compile(r"\bRELEASE_ENGINE_SPEC\b"),
    "infra-plan environment": re.compile(
        r"infra-plan`?\s+environment|environment[`:\s]+(name:\s*)?`?infra-plan`?(?!-)|environments?\s+\(?`?infra-plan"
    ),
    "python -m bot.actions.release": re.compile(r"python -m bot\.actions\.release"),
    "pip install chatops-bot": re.compile(r"pip install\s+['\"]?chatops-bot"),
    "health-check action": re.compile(r"`health-check`|actions/health-check"),
    "oidc-assume-failure": re.compile(r"oidc-assume-failure"),
    "version-ranged scanners": re.compile(r"version-ranged|npx\s+@axe-core|@axe-core/cli@4"),
}
ALLOWED: tuple[tuple[str, str], ...] = (
    ("environments.md", "There is no `infra-plan` environment any more"),
    ("oidc.md", "It used to trust an `infra-plan` environment"),
    ("workflow-tests.md", "The `health-check` composite action is removed"),
)


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+|\n\s*\n", text) if s.strip()]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, markup and punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(doc: Path) -> set[str]:
    text = _FENCE.sub("", doc.read_text())
    out: set[str] = set()
    for heading in _HEADING.findall(text):
        base, n = slug(heading), 0
        while (candidate := base if n == 0 else f"{base}-{n}") in out:
            n += 1
        out.add(candidate)
    return out


def broken_links(doc: Path) -> list[str]:
    text = _FENCE.sub("", doc.read_text())
    broken = []
    for target in _LINK.findall(text):
        if "://" in target or target.startswith("mailto:"):
            continue
        path, _, anchor = target.partition("#")
        dest = (doc.parent / path) if path else doc
        if not dest.exists():
            broken.append(target)
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(target)
    return broken


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_and_anchors_resolve(doc: Path) -> None:
    assert broken_links(doc) == [], f"{doc.relative_to(ROOT)}: broken links"


def retired_mentions(docs: list[Path]) -> list[tuple[str, str, str]]:
    found = []
    for doc in docs:
        for raw in _sentences(doc.read_text()):
            sentence = " ".join(raw.split())
            for name, pattern in RETIRED.items():
                if pattern.search(sentence) and not any(
                    doc.name == allowed_doc and fragment in sentence for allowed_doc, fragment in ALLOWED
                ):
                    found.append((doc.name, name, sentence[:160]))
    return found


def test_retired_names_are_gone_from_the_docs() -> None:
    assert retired_mentions(DOCS) == []


def test_the_retired_name_check_catches_a_stale_sentence(tmp_path: Path) -> None:
    stale = tmp_path / "stale.md"
    stale.write_text("Set `AWS_PLAN_ROLE_ARN` and name the `infra-plan` environment; "
                     "run `python -m bot.actions.release lambda-deploy`.\n")
    assert {name for _, name, _ in retired_mentions([stale])} == {
        "AWS_PLAN_ROLE_ARN without _<ENV>", "infra-plan environment", "python -m bot.actions.release"}
    fine = tmp_path / "fine.md"
    fine.write_text("Plan jobs read `AWS_PLAN_ROLE_ARN_DEV`; the role is `chatops-dev-github-infra-plan`.\n")
    assert retired_mentions([fine]) == []


def _shipped_files() -> list[Path]:
    return [*WORKFLOWS.glob("*.yml"), *(WORKFLOWS / "actions").glob("*/action.yml")]


def _names_read(kind: str) -> set[str]:
    """Every vars.X / secrets.X a shipped workflow or action reads, including vars['X'] and matrix-chosen names."""
    names: set[str] = set()
    for path in _shipped_files():
        text = path.read_text()
        names |= set(re.findall(rf"\b{kind}\.([A-Z][A-Z0-9_]*)", text))
        for index in re.findall(rf"\b{kind}\[([^\]]+)\]", text):
            names |= set(re.findall(r"'([A-Z][A-Z0-9_]*)'", index))
            if index.strip().startswith("matrix."):
                key = index.strip().removeprefix("matrix.")
                names |= set(re.findall(rf"\b{re.escape(key)}:\s*([A-Z][A-Z0-9_]*)", text))
    return names


def test_every_variable_and_secret_a_workflow_reads_is_in_the_variables_reference() -> None:
    reference = (DOCS_DIR / "secrets-and-variables.md").read_text()
    names = _names_read("vars") | _names_read("secrets")
    assert {"AWS_PLAN_ROLE_ARN_DEV", "AWS_LAMBDA_DEPLOY_ROLE_ARN", "TF_PLAN_KEY"} <= names  # the scan sees them
    assert sorted(n for n in names if not re.search(rf"`{n}`", reference)) == []


def test_every_workflow_and_action_is_described_in_the_workflows_guide() -> None:
    guide = GUIDE.read_text()
    shipped = [p.name for p in WORKFLOWS.glob("*.yml")]
    shipped += [p.parent.name for p in (WORKFLOWS / "actions").glob("*/action.yml")]
    assert [name for name in shipped if f"`{name}`" not in guide] == []


def _section(text: str, title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, f"no '## {title}' section"
    return match.group(1)


def test_pinned_actions_table_lists_exactly_the_pins_in_use() -> None:
    used = set()
    for path in WORKFLOWS.rglob("*.yml"):
        used |= set(re.findall(r"uses:\s*([\w.-]+/[\w./-]+)@([0-9a-f]{40})\s*#\s*(v[\w.]+)", path.read_text()))
    table = set(re.findall(r"^\|\s*([\w.-]+/[\w./-]+)\s*\|\s*`([0-9a-f]{40})`\s*\|\s*(v[\w.]+)\s*\|",
                           _section(GUIDE.read_text(), "Pinned actions"), re.MULTILINE))
    assert used, "no pinned actions found in workflows/"
    assert table == used


def test_every_job_name_is_in_the_workflows_guide() -> None:
    """Job names are what GitHub shows (and what required checks name); `${{ matrix.x }}` reads as `<x>`."""
    guide = GUIDE.read_text()
    missing = []
    for path in WORKFLOWS.glob("*.yml"):
        for job_id, job in (yaml.safe_load(path.read_text()).get("jobs") or {}).items():
            name = str(job.get("name", job_id))
            shown = re.sub(r"\$\{\{\s*(?:matrix|inputs)\.([\w-]+)(?:\s*\|\|[^}]*)?\s*\}\}", r"<\1>", name)
            if f"`{shown}`" not in guide:
                missing.append(f"{path.name}: {shown}")
    assert missing == []


def test_every_required_status_check_is_named_in_the_workflows_guide() -> None:
    tfvars = (ROOT / "infra" / "environments" / "production.tfvars").read_text()
    block = re.search(r"required_status_checks\s*=\s*\[(.*?)\]", tfvars, re.DOTALL)
    assert block
    checks = re.findall(r'"([^"]+)"', block.group(1))
    guide = GUIDE.read_text()
    assert checks and [c for c in checks if f"`{c}`" not in guide] == []


def test_the_readme_indexes_every_doc() -> None:
    readme = (ROOT / "README.md").read_text()
    linked = {(ROOT / target.partition("#")[0]).resolve() for target in _LINK.findall(readme) if "://" not in target}
    docs = [p for p in DOCS_DIR.rglob("*") if p.is_file()]
    assert sorted(str(p.relative_to(ROOT)) for p in docs if p.resolve() not in linked) == []


def test_the_link_check_catches_a_missing_file_and_a_missing_anchor(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other\n\n## The `vendored` engine (v2)\n\n```sh\n# not a heading\n```\n")
    doc = tmp_path / "doc.md"
    doc.write_text("[a](other.md#the-vendored-engine-v2) [b](other.md#not-a-heading) [c](gone.md) "
                   "[d](#here) [e](https://example.com/x.md)\n\n## Here\n")
    assert broken_links(doc) == ["other.md#not-a-heading", "gone.md"]


def test_the_variable_scan_reads_every_form_a_workflow_uses() -> None:
    # vars.X, vars['X'] inside an expression, and vars[matrix.key] with the names listed in the matrix
    assert {"AWS_REGION", "AWS_API_DEPLOY_ROLE_ARN", "AWS_PLAN_ROLE_ARN_PRODUCTION"} <= _names_read("vars")
    assert {"TF_PLAN_KEY", "TF_GITHUB_READ_TOKEN", "TF_GITHUB_TOKEN"} <= _names_read("secrets")
