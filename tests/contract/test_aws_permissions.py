"""Every AWS action the workflow scripts and the release engine call is allowed by the role their job assumes.

Workflow side: `aws <service> <command>` in `run:` scripts (kebab-case -> PascalCase; waiters -> the operation
they poll), `amazon-ecr-login` and `docker push`. Engine side: the engine's real calls, recorded through a
botocore `before-call` hook (tests/contract/engine_recorder.py) while its own moto tests (tests/release) run,
mapped to the engine command that makes them and checked against the role of every job running that command.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bot.contract import ENVIRONMENTS

from .aws_actions import cli_actions, engine_calls, engine_commands, iam_actions, missing, step_actions
from .engine_recorder import LOG_ENV
from .gha import RoleUse, Tree, role_uses
from .tfmodel import account_roles
from .workflow_tree import ROOT, load_tree

# Engine commands that call AWS; a job running one of them must have recorded calls to check.
AWS_ENGINE_COMMANDS = {"lambda-deploy", "lambda-rollback", "lambda-status", "web-publish", "web-rollback"}


@pytest.fixture(scope="module")
def uses(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> list[RoleUse]:
    tree: Tree = load_tree(request, tmp_path_factory)
    unique: dict[tuple[str, str | None, str | None], RoleUse] = {}
    for use in role_uses(tree):
        unique.setdefault((use.where, use.kind, use.account), use)
    assert unique, "no job assumes a role"
    return list(unique.values())


def _role_problem(use: RoleUse) -> str | None:
    """Why the role of this job cannot be known (then its permissions cannot be checked either)."""
    if use.kind is None:
        return f"{use.where}: assumes {use.variable}, which names no job kind: nothing sets it, nothing to check"
    if use.account not in ENVIRONMENTS:
        return f"{use.where}: a {use.kind} job names no environment, so no account's role can be checked"
    if use.kind not in account_roles(str(use.account)):
        return f"{use.where}: no {use.kind} role in the {use.account} account"
    return None


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, set[str]], set[str]]:
    """Run the engine's moto tests once with the recorder and read what the engine called."""
    log = tmp_path_factory.mktemp("calls") / "calls.jsonl"
    log.touch()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.contract.engine_recorder",
         "tests/release", "tests/contract/engine_scenarios.py"],
        cwd=ROOT,
        env={**os.environ, LOG_ENV: str(log)},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"the engine's tests failed under the recorder:\n{result.stdout[-4000:]}"
    return engine_calls(log)


def test_workflow_scripts_call_only_what_their_role_allows(uses: list[RoleUse]) -> None:
    # defect 1/3: describe-repositories and describe-images ran under a deploy role that lacked them; image pushes
    # ran under a role nothing created; the scan's `aws ecr wait image-scan-complete` needs DescribeImageScanFindings
    problems = []
    for use in uses:
        needed = [a for step in use.steps for a in step_actions(step)]
        problem = _role_problem(use)
        if problem is not None:
            problems.extend([problem] if needed else [])
            continue
        role = account_roles(str(use.account))[str(use.kind)]
        for gap in missing(needed, role.actions):
            problems.append(f"{use.where} ({use.account}) as {role.name}: {gap}")
    assert problems == [], "\n".join(sorted(set(problems)))


def test_engine_entry_points_are_known(recorded: tuple[dict[str, set[str]], set[str]]) -> None:
    by_command, unmapped = recorded
    assert unmapped == set(), "engine AWS calls from entry points missing in aws_actions.ENGINE_ENTRIES:\n" + (
        "\n".join(sorted(unmapped))
    )
    assert by_command["lambda-deploy"] and by_command["web-publish"], "the recorder saw no engine calls"


def test_engine_calls_are_allowed_by_the_role_of_the_job_running_them(
    uses: list[RoleUse], recorded: tuple[dict[str, set[str]], set[str]]
) -> None:
    # defect 3: a first deploy calls lambda:CreateAlias, which the Lambda deploy role lacked;
    # defect 1: web rollback ran under the Lambda deploy role, without S3 or CloudFront
    by_command, _ = recorded
    problems = []
    for use in uses:
        problem = _role_problem(use)
        for command in {c for step in use.steps for c in engine_commands(step)}:
            actions = by_command.get(command, set())
            if command in AWS_ENGINE_COMMANDS and not actions:
                problems.append(f"{use.where}: runs `{command}`, but no engine test recorded its AWS calls")
            if problem is not None:
                problems.extend([f"{problem} (runs `{command}`)"] if actions else [])
                continue
            role = account_roles(str(use.account))[str(use.kind)]
            for gap in missing(((a, command) for a in actions), role.actions):
                problems.append(f"{use.where} ({use.account}) as {role.name}: {gap}")
    assert problems == [], "\n".join(sorted(set(problems)))


def test_cli_and_operation_mapping() -> None:
    script = """uri="$(aws ecr describe-repositories --repository-names "$R" --query x)"
aws ecr wait image-scan-complete --repository-name "$R" \\
  --image-id imageDigest=x
aws s3 sync out/ "s3://$B/releases/$V/"
echo "aws-oidc: set AWS_X"; aws cloudfront create-invalidation --distribution-id "$D" --paths '/*'"""
    assert cli_actions(script) == [
        ("ecr:DescribeRepositories", "aws ecr describe-repositories"),
        ("ecr:DescribeImageScanFindings", "aws ecr wait image-scan-complete"),
        ("s3:ListBucket", "aws s3 sync"),
        ("s3:GetObject", "aws s3 sync"),
        ("s3:PutObject", "aws s3 sync"),
        ("s3:DeleteObject", "aws s3 sync"),
        ("cloudfront:CreateInvalidation", "aws cloudfront create-invalidation"),
    ]
    assert iam_actions("s3", "ListObjectsV2") == ("s3:ListBucket",)
    assert iam_actions("cloudfront", "GetDistributionConfig2020_05_31") == ("cloudfront:GetDistributionConfig",)
    assert iam_actions("lambda", "CreateAlias") == ("lambda:CreateAlias",)
    assert engine_commands({"run": "python -m chatops_release lambda-deploy --function f"}) == ["lambda-deploy"]
