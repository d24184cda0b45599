"""Every job that assumes an AWS role gets an OIDC subject that role trusts, and no role trusts more.

Reads the workflows (tests/contract/gha.py) and the github-oidc roles of each environment's account as the
example root creates them from infra/environments/<env>.tfvars (tests/contract/tfmodel.py).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from bot.deploys.contract import ENVIRONMENTS, JOB_KINDS

from .gha import RoleUse, Tree, role_uses
from .tfmodel import account_roles, module_inputs
from .workflow_tree import load_tree

ENVIRONMENT_KINDS = {k.name for k in JOB_KINDS.values() if k.scope == "environment"}


@pytest.fixture(scope="module")
def tree(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Tree:
    return load_tree(request, tmp_path_factory)


@pytest.fixture(scope="module")
def uses(tree: Tree) -> list[RoleUse]:
    found = list(role_uses(tree))
    assert found, "no job assumes an AWS role: the workflows were not found or not parsed"
    return found


def _repo(environment: str) -> str:
    return f"repo:{module_inputs(environment)['github_repository']}:"


def test_every_role_variable_names_a_job_kind(uses: list[RoleUse]) -> None:
    # defect 1: workflows read AWS_DEPLOY_ROLE_ARN / AWS_WEB_ROLE_ARN, which nothing sets
    unknown = sorted({f"{u.where}: {u.variable}" for u in uses if u.kind is None})
    assert unknown == [], ("jobs assume roles from variables that are not in bot/deploys/contract.py:\n"
                           + "\n".join(unknown))


def test_every_job_gets_a_subject_its_role_trusts(uses: list[RoleUse]) -> None:
    # defect 2: builds and pull-request plans name no environment, so their ref/pull_request subject was refused;
    # a tag dispatch of a job without environment gets ref:refs/tags/..., which no role trusts
    refused = set()
    for use in uses:
        if use.kind is None:
            continue
        account = use.account
        roles = account_roles(account) if account in ENVIRONMENTS else {}
        role = roles.get(use.kind)
        if account is None:
            refused.add(
                f"{use.where} ({use.context.describe()}): a {use.kind} job must name its environment; "
                f"it gets {use.subject}, which no {use.kind} role trusts"
            )
        elif role is None:
            refused.add(f"{use.where} ({use.context.describe()}): no {use.kind} role in account {account!r}")
        elif _repo(account) + use.subject not in role.subjects:
            refused.add(
                f"{use.where} ({use.context.describe()}): subject {use.subject} not trusted by {role.name} "
                f"(trusts {sorted(role.subjects)})"
            )
    assert not refused, "\n".join(sorted(refused))


def test_no_role_trusts_a_subject_its_jobs_never_get(uses: list[RoleUse]) -> None:
    # defect 2: any branch naming the `infra-plan` environment could read the Terraform state
    produced: dict[tuple[str, str], set[str]] = defaultdict(set)
    for use in uses:
        if use.kind and use.account:
            produced[(use.account, use.kind)].add(_repo(use.account) + use.subject)
    excess = []
    for env in ENVIRONMENTS:
        for kind, role in account_roles(env).items():
            extra = role.subjects - produced[(env, kind)]
            if extra:
                excess.append(f"{role.name} trusts {sorted(extra)}, which no {kind} job gets")
    assert excess == [], "\n".join(excess)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_role_boundaries(environment: str) -> None:
    # defect 2: pull requests and branches reach only the plan role; the plan role trusts no environment;
    # every environment-scoped role trusts exactly this account's environment
    roles = account_roles(environment)
    repo = _repo(environment)
    for kind, role in roles.items():
        tails = {s.removeprefix(repo) for s in role.subjects}
        assert all(s.startswith(repo) for s in role.subjects), role
        if kind in ENVIRONMENT_KINDS:
            assert tails == {f"environment:{environment}"}, f"{role.name} trusts {sorted(tails)}"
        elif kind == "plan":
            assert tails == {"pull_request", "ref:refs/heads/main"}, f"{role.name} trusts {sorted(tails)}"
        else:
            assert tails == {"ref:refs/heads/main"}, f"{role.name} trusts {sorted(tails)}"
    assert {k for k in roles if k in ENVIRONMENT_KINDS} == ENVIRONMENT_KINDS, "a deploy role is missing"


def _write(root: Path, name: str, text: str) -> None:
    path = root / ".github" / "workflows" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_the_subject_model_follows_github(tmp_path: Path) -> None:
    # The model itself: pull_request vs ref vs environment, dispatch inputs, reusable workflows, skipped needs.
    _write(
        tmp_path,
        "caller.yml",
        """
on:
  pull_request:
  push: {branches: [main], tags: ["v*"]}
  workflow_dispatch:
    inputs:
      environment: {type: choice, options: [dev, production]}
jobs:
  build:
    if: github.event_name != 'pull_request'
    runs-on: ubuntu-latest
    steps:
      - uses: aws-actions/configure-aws-credentials@0000000000000000000000000000000000000000
        with: {role-to-assume: "${{ vars.AWS_BUILD_ROLE_ARN }}"}
  plan:
    runs-on: ubuntu-latest
    steps:
      - uses: aws-actions/configure-aws-credentials@0000000000000000000000000000000000000000
        with: {role-to-assume: "${{ vars.AWS_PLAN_ROLE_ARN_DEV }}"}
  deploy:
    needs: build
    uses: ./.github/workflows/callee.yml
    with: {environment: "${{ inputs.environment || 'dev' }}"}
""",
    )
    _write(
        tmp_path,
        "callee.yml",
        """
on:
  workflow_call:
    inputs: {environment: {type: string, required: true}}
jobs:
  release:
    environment: {name: "${{ inputs.environment }}"}
    runs-on: ubuntu-latest
    steps:
      - uses: aws-actions/configure-aws-credentials@0000000000000000000000000000000000000000
        with: {role-to-assume: "${{ vars.AWS_LAMBDA_DEPLOY_ROLE_ARN }}"}
""",
    )
    got = {(u.where, u.context.event, u.kind, u.subject) for u in role_uses(Tree.load(tmp_path))}
    assert ("caller.yml:build", "pull_request", "build", "pull_request") not in got  # `if:` skips it
    assert ("caller.yml:build", "push", "build", "ref:refs/tags/v1.4.2") in got
    assert ("caller.yml:plan", "pull_request", "plan", "pull_request") in got
    assert ("caller.yml:deploy:release", "push", "lambda-deploy", "environment:dev") in got
    assert ("caller.yml:deploy:release", "workflow_dispatch", "lambda-deploy", "environment:production") in got
    assert not any(w == "caller.yml:deploy:release" and e == "pull_request" for w, e, _, _ in got)  # needs skipped
