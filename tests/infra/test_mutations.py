"""Loosen a copy of the Terraform and prove the checks in tfcheck catch each loosening.

Each mutation edits the source text of a temporary copy of a module, re-parses it
with python-hcl2 and runs the very check function the structural tests run on
the real tree. A mutation that goes unnoticed fails the test.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.infra import tfcheck
from tests.infra.tfcheck import MODULES

AUD = """    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }
"""
APPLY_SUB = 'values   = ["repo:${var.github_repository}:environment:${var.apply_environment}"]'
DEPLOY_SUB = 'values   = ["repo:${var.github_repository}:environment:${var.deploy_environment}"]'
APPLY_ENV_VALIDATION = (
    "  validation {\n"
    '    condition     = can(regex("^[A-Za-z0-9_.-]{1,255}$", var.apply_environment))\n'
    '    error_message = "apply_environment must be a literal environment name '
    "(letters, digits, '.', '_', '-'; no wildcards).\"\n"
    "  }\n"
)


def _replace(old: str, new: str, count: int = 1) -> Callable[[str], str]:
    def mutate(text: str) -> str:
        assert old in text, f"mutation anchor not found: {old!r}"
        return text.replace(old, new, count)

    return mutate


# (id, module, file, mutation)
MUTATIONS: list[tuple[str, str, str, Callable[[str], str]]] = [
    ("sub-widened-to-org", "github-oidc", "trust.tf", _replace(APPLY_SUB, 'values   = ["repo:acme/*"]')),
    ("sub-any-ref", "github-oidc", "trust.tf", _replace(APPLY_SUB, 'values   = ["repo:${var.github_repository}:*"]')),
    (
        "sub-any-branch",
        "github-oidc",
        "trust.tf",
        _replace(":ref:refs/heads/main", ":ref:refs/heads/*"),
    ),
    (
        "sub-pull-request",
        "github-oidc",
        "trust.tf",
        _replace(APPLY_SUB, 'values   = ["repo:${var.github_repository}:pull_request"]'),
    ),
    # defect 2: a branch naming some environment must not reach the state-reading plan role
    (
        "plan-trusts-an-environment",
        "github-oidc",
        "trust.tf",
        _replace(
            '"repo:${var.github_repository}:pull_request",',
            '"repo:${var.github_repository}:pull_request",\n'
            '        "repo:${var.github_repository}:environment:infra-plan",',
        ),
    ),
    (
        "deploy-trusts-main-branch",
        "github-oidc",
        "trust.tf",
        _replace(DEPLOY_SUB, 'values   = ["repo:${var.github_repository}:ref:refs/heads/main"]'),
    ),
    (
        "build-trusts-pull-requests",
        "github-oidc",
        "trust.tf",
        _replace(DEPLOY_SUB, 'values   = ["repo:${var.github_repository}:pull_request"]'),
    ),
    (
        "security-scan-trusts-pull-requests",
        "github-oidc",
        "trust.tf",
        _replace(
            'values   = ["repo:${var.github_repository}:ref:refs/heads/main"]',
            'values   = ["repo:${var.github_repository}:pull_request"]',
        ),
    ),
    ("aud-dropped", "github-oidc", "trust.tf", _replace(AUD, "")),
    (
        "aud-other-audience",
        "github-oidc",
        "trust.tf",
        _replace('values   = ["sts.amazonaws.com"]', 'values   = ["sigstore"]'),
    ),
    (
        "sub-stringlike-wildcard",
        "github-oidc",
        "trust.tf",
        _replace(
            'test     = "StringEquals"\n      variable = "token.actions.githubusercontent.com:sub"',
            'test     = "StringLike"\n      variable = "token.actions.githubusercontent.com:sub"',
        ),
    ),
    (
        "extra-stringlike-sub-condition",
        "github-oidc",
        "trust.tf",
        _replace(
            AUD,
            AUD
            + """    condition {
      test     = "StringLike"
      variable = "token.actions.githubusercontent.com:sub"
      values   = ["repo:acme/*"]
    }
""",
        ),
    ),
    (
        "sub-condition-dropped",
        "github-oidc",
        "trust.tf",
        _replace(
            """    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values   = ["repo:${var.github_repository}:environment:${var.apply_environment}"]
    }
""",
            "",
        ),
    ),
    (
        "wildcard-principal",
        "github-oidc",
        "trust.tf",
        _replace("identifiers = [local.oidc_provider_arn]", 'identifiers = ["*"]'),
    ),
    (
        "aws-principal-instead-of-oidc",
        "github-oidc",
        "trust.tf",
        _replace('type        = "Federated"', 'type        = "AWS"'),
    ),
    (
        "action-star",
        "github-oidc",
        "roles.tf",
        _replace('actions   = ["s3:GetObject"]', 'actions   = ["*"]'),
    ),
    (
        "service-wildcard-action",
        "github-oidc",
        "roles_deploy.tf",
        _replace('"lambda:UpdateFunctionCode",', '"lambda:*",'),
    ),
    (
        "trust-allows-more-actions",
        "github-oidc",
        "trust.tf",
        _replace(
            'actions = ["sts:AssumeRoleWithWebIdentity"]',
            'actions = ["sts:AssumeRoleWithWebIdentity", "sts:AssumeRole"]',
        ),
    ),
    (
        "resource-star-on-lambda",
        "github-oidc",
        "roles_deploy.tf",
        _replace("resources = local.lambda_function_arns", 'resources = ["*"]'),
    ),
    (
        "not-actions",
        "chatops-bot",
        "main.tf",
        _replace('actions   = ["kms:Decrypt"]', 'not_actions = ["iam:CreateUser"]'),
    ),
    (
        "repository-validation-accepts-wildcards",
        "github-oidc",
        "variables.tf",
        _replace('"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"', '"^.+/.+$"'),
    ),
    (
        "environment-validation-dropped",
        "github-oidc",
        "variables.tf",
        _replace(
            APPLY_ENV_VALIDATION,
            "",
        ),
    ),
    (
        "inline-json-policy-bypasses-documents",
        "github-oidc",
        "roles.tf",
        _replace(
            "policy = data.aws_iam_policy_document.state_write.json",
            'policy = jsonencode({ Statement = [{ Effect = "Allow", Action = "*", Resource = "*" }] })',
        ),
    ),
    (
        "queue-policy-any-principal",
        "security-events",
        "targets.tf",
        _replace('identifiers = ["events.amazonaws.com"]', 'identifiers = ["*"]'),
    ),
    ("aws-provider-unpinned", "github-oidc", "versions.tf", _replace('version = "5.99.1"', 'version = ">= 5.0"')),
    (
        "github-provider-unpinned",
        "github-environments",
        "versions.tf",
        _replace('version = "6.9.0"', 'version = ">= 6.0"'),
    ),
    (
        "variable-without-description",
        "chatops-bot",
        "variables.tf",
        _replace('  description = "Tags applied to every resource."\n', ""),
    ),
    (
        "variable-without-type",
        "security-events",
        "variables.tf",
        _replace("  type        = map(string)\n  default     = {}\n", "  default     = {}\n"),
    ),
]


@pytest.mark.parametrize(("module", "filename", "mutate"), [m[1:] for m in MUTATIONS], ids=[m[0] for m in MUTATIONS])
def test_mutation_is_caught(tmp_path: Path, module: str, filename: str, mutate: Callable[[str], str]) -> None:
    copy = tmp_path / module
    shutil.copytree(MODULES / module, copy)
    assert tfcheck.check_module(copy) == [], "the unmutated copy must pass"

    target = copy / filename
    target.write_text(mutate(target.read_text()))

    errors = tfcheck.check_module(copy)
    assert errors, f"loosening {filename} of {module} went unnoticed"


def test_missing_readme_is_caught(tmp_path: Path) -> None:
    copy = tmp_path / "chatops-bot"
    shutil.copytree(MODULES / "chatops-bot", copy)
    (copy / "README.md").unlink()
    assert any("missing README.md" in e for e in tfcheck.check_module(copy))


def test_star_resource_is_allowed_only_where_aws_requires_it() -> None:
    ok = {"sid": "EcrGetAuthorizationToken", "actions": ["ecr:GetAuthorizationToken"], "resources": ["*"]}
    assert tfcheck.check_statement("t", ok) == []
    widened = {**ok, "actions": ["ecr:GetAuthorizationToken", "ecr:PutImage"]}
    assert tfcheck.check_statement("t", widened)
    renamed = {**ok, "sid": "Anything"}
    assert tfcheck.check_statement("t", renamed)
    key_policy = {"sid": "KeyPolicyX", "actions": ["kms:Decrypt", "iam:PassRole"], "resources": ["*"]}
    assert tfcheck.check_statement("t", key_policy)
