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
R = "${var.github_repository}"
WF = f"job_workflow_ref:{R}/.github/workflows/"
APPLY_SUB = f'"repo:{R}:environment:${{var.apply_environment}}:{WF}infra-ci.yml@refs/heads/main",'
BUILD_SUB = f'"repo:{R}:environment:${{var.deploy_environment}}:{WF}api-ci.yml@refs/heads/main",'
PLAN_PR_SUB = f'"repo:{R}:pull_request:{WF}infra-ci.yml@refs/pull/*/merge",'
SCAN_SUB = f'"repo:{R}:ref:refs/heads/main:{WF}security.yml@refs/heads/main",'
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
    ("sub-widened-to-org", "github-oidc", "trust.tf", _replace(APPLY_SUB, '"repo:acme/*",')),
    ("sub-any-ref", "github-oidc", "trust.tf", _replace(APPLY_SUB, f'"repo:{R}:*",')),
    ("sub-any-branch", "github-oidc", "trust.tf", _replace(":ref:refs/heads/main:", ":ref:refs/heads/*:")),
    ("sub-pull-request", "github-oidc", "trust.tf", _replace(APPLY_SUB, PLAN_PR_SUB)),
    # defect 2: a branch naming some environment must not reach the state-reading plan role
    (
        "plan-trusts-an-environment",
        "github-oidc",
        "trust.tf",
        _replace(PLAN_PR_SUB, PLAN_PR_SUB + f'\n        "repo:{R}:environment:infra-plan:{WF}infra-ci.yml@refs/heads/main",'),
    ),
    (
        "deploy-trusts-main-branch",
        "github-oidc",
        "trust.tf",
        _replace(BUILD_SUB, f'"repo:{R}:ref:refs/heads/main:{WF}api-ci.yml@refs/heads/main",'),
    ),
    ("build-trusts-pull-requests", "github-oidc", "trust.tf", _replace(BUILD_SUB, PLAN_PR_SUB)),
    ("security-scan-trusts-pull-requests", "github-oidc", "trust.tf", _replace(SCAN_SUB, PLAN_PR_SUB)),
    # issue 22 item 13: the workflow pin must name one file of this repository, and the ref stays bounded
    ("sub-any-workflow", "github-oidc", "trust.tf", _replace(BUILD_SUB, BUILD_SUB.replace("api-ci.yml", "*"))),
    (
        "sub-workflow-of-another-repository",
        "github-oidc",
        "trust.tf",
        _replace(BUILD_SUB, BUILD_SUB.replace(f"{WF}", "job_workflow_ref:evil-org/tools/.github/workflows/")),
    ),
    ("sub-workflow-pin-dropped", "github-oidc", "trust.tf", _replace(BUILD_SUB, BUILD_SUB.split(":job_workflow_ref")[0] + '",')),
    ("sub-any-branch-ref", "github-oidc", "trust.tf", _replace(BUILD_SUB, BUILD_SUB.replace("@refs/heads/main", "@refs/heads/*"))),
    (
        "pull-request-at-main-ref",
        "github-oidc",
        "trust.tf",
        _replace(PLAN_PR_SUB, PLAN_PR_SUB.replace("@refs/pull/*/merge", "@refs/heads/*")),
    ),
    ("aud-dropped", "github-oidc", "trust.tf", _replace(AUD, "")),
    (
        "aud-other-audience",
        "github-oidc",
        "trust.tf",
        _replace('values   = ["sts.amazonaws.com"]', 'values   = ["sigstore"]'),
    ),
    (
        "sub-compared-with-string-equals-elsewhere",
        "github-oidc",
        "trust.tf",
        _replace(
            'test     = "StringEquals"\n      variable = "token.actions.githubusercontent.com:aud"',
            'test     = "StringLike"\n      variable = "token.actions.githubusercontent.com:aud"',
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
            f"""    condition {{
      test     = "StringLike"
      variable = "token.actions.githubusercontent.com:sub"
      values = [
        {APPLY_SUB}
      ]
    }}
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
