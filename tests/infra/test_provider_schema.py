"""infra/ against the real providers' schemas (issue 23, item 1), not only against python-hcl2's idea of HCL.

The schemas come from the jsii manifests of @cdktf/provider-aws and @cdktf/provider-github at the exact versions of
tools/provider-schemas/package-lock.json (``make install`` runs ``npm ci`` there). Terraform checks every resource
type and argument at validate, even under ``count = 0``, so one unknown name fails every environment.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.infra import provider_schema, schemacheck
from tests.infra.provider_schema import Provider
from tests.infra.tfcheck import INFRA


def schemas(name: str) -> Provider:
    if name not in provider_schema.PACKAGES:
        raise KeyError(name)
    return provider_schema.load(name)


@pytest.fixture(scope="module", autouse=True)
def _installed() -> None:
    # No skip: `make install` installs the packages; a missing install must fail, not pass quietly.
    for name in provider_schema.PACKAGES:
        schemas(name)


def test_every_block_is_in_the_provider_schema() -> None:
    assert schemacheck.check_tree(INFRA, schemas) == []


def test_versions_pin_the_checked_provider_versions() -> None:
    assert schemacheck.check_pins(INFRA, schemas) == []


def test_the_schema_packages_are_pinned_exactly() -> None:
    package = json.loads((provider_schema.SCHEMA_PACKAGES / "package.json").read_text())
    lock = json.loads((provider_schema.SCHEMA_PACKAGES / "package-lock.json").read_text())
    for name, package_name in provider_schema.PACKAGES.items():
        wanted = package["dependencies"][package_name]
        assert re.fullmatch(r"\d+\.\d+\.\d+", wanted), f"{package_name} is not pinned exactly: {wanted!r}"
        assert lock["packages"][f"node_modules/{package_name}"]["version"] == wanted
        assert schemas(name).package_version == wanted, f"installed {package_name} differs: run make install"


def test_the_schema_reader_sees_what_terraform_sees() -> None:
    # Spot checks of the reader against the providers' documented schemas, so an empty or misread schema cannot
    # make the tree check pass: github_repository_environment has the argument wait_timer and the blocks
    # reviewers and deployment_branch_policy (registry docs of integrations/github 6.9.0).
    github = schemas("github")
    env = github.resources["github_repository_environment"]
    assert {"repository", "environment", "wait_timer", "can_admins_bypass"} <= env.arguments
    assert {"repository", "environment"} <= env.required
    assert set(env.blocks) >= {"reviewers", "deployment_branch_policy"}
    reviewers = env.blocks["reviewers"]
    assert reviewers is not None and {"users", "teams"} <= reviewers.arguments
    assert "github_repository_environment_deployment_policy" in github.resources
    aws = schemas("aws")
    doc = aws.data_sources["aws_iam_policy_document"].blocks["statement"]
    assert doc is not None and set(doc.blocks) >= {"principals", "condition"}
    assert "tags" in aws.resources["aws_iam_role"].arguments and "tags" not in aws.resources["aws_iam_role"].blocks
    assert "default_tags" in aws.config.blocks and "owner" in github.config.arguments
    assert len(aws.resources) > 1000 and len(github.resources) > 50


# The defect this test exists for, and the other ways a block can miss the schema. Each mutates a copy of infra/.
CUSTOM_RULE = """
resource "github_repository_environment_custom_protection_rule" "chatops" {
  repository     = "r"
  environment    = "production"
  integration_id = 1
}
"""
MUTATIONS = [
    ("unknown-resource", "modules/github-environments/main.tf", None, CUSTOM_RULE,
     "has no resource type 'github_repository_environment_custom_protection_rule'"),
    ("unknown-data-source", "modules/github-oidc/main.tf", None, 'data "aws_no_such_thing" "x" {}\n',
     "has no data source type 'aws_no_such_thing'"),
    ("unknown-argument", "modules/github-environments/main.tf",
     ("  wait_timer          = each.value.wait_timer\n",
      "  wait_timer          = each.value.wait_timer\n  wait_minutes = 1\n"),
     None, "no argument named 'wait_minutes'"),
    ("unknown-nested-block", "modules/github-environments/main.tf",
     ("  deployment_branch_policy {\n", "  deployment_branch_policy {\n    extra {\n    }\n"),
     None, "deployment_branch_policy[0]: no block type named 'extra'"),
    ("unknown-nested-argument", "modules/github-environments/main.tf",
     ("    protected_branches     = false\n", "    protected_branches     = false\n    all_branches = true\n"),
     None, "no argument named 'all_branches'"),
    ("argument-as-block", "modules/github-environments/main.tf",
     ("  wait_timer          = each.value.wait_timer\n", "  wait_timer {\n  }\n"),
     None, "no block type named 'wait_timer' (it is an argument"),
    ("unknown-dynamic-block", "modules/github-environments/main.tf",
     ('  dynamic "reviewers" {\n', '  dynamic "approvers" {\n'), None, "dynamic 'approvers'"),
    ("unknown-argument-in-dynamic-content", "modules/github-environments/main.tf",
     ("      users = each.value.reviewer_user_ids\n", "      logins = each.value.reviewer_user_ids\n"),
     None, "dynamic[reviewers].content: no argument named 'logins'"),
    ("missing-required-argument", "modules/github-environments/main.tf",
     ("  repository          = var.repository\n  environment         = each.key\n", "  environment = each.key\n"),
     None, "missing required argument(s) repository"),
    ("unknown-provider-argument", "examples/complete/versions.tf",
     ("  owner = var.github_owner\n", "  owner = var.github_owner\n  organization_slug = \"x\"\n"),
     None, "provider github: no argument named 'organization_slug'"),
]


@pytest.mark.parametrize(("name", "file", "replace", "append", "expected"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_the_check_fails_on(tmp_path: Path, name: str, file: str, replace: tuple[str, str] | None,
                            append: str | None, expected: str) -> None:
    copy = tmp_path / "infra"
    shutil.copytree(INFRA, copy, ignore=shutil.ignore_patterns(".terraform", ".venv-checkov"))
    target = copy / file
    text = target.read_text()
    if replace is not None:
        assert replace[0] in text, f"{name}: the mutation no longer applies"
        text = text.replace(replace[0], replace[1], 1)
    target.write_text(text + (append or ""))
    errors = schemacheck.check_tree(copy, schemas)
    assert any(expected in e for e in errors), errors


def test_a_loose_pin_fails(tmp_path: Path) -> None:
    copy = tmp_path / "infra"
    shutil.copytree(INFRA / "modules", copy / "modules")
    versions = copy / "modules" / "github-environments" / "versions.tf"
    versions.write_text(versions.read_text().replace('version = "6.9.0"', 'version = "~> 6.6"'))
    errors = schemacheck.check_pins(copy, schemas)
    assert errors and "is not the checked schema's exact version '6.9.0'" in errors[0]
