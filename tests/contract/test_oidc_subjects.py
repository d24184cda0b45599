"""Every job that assumes an AWS role gets an OIDC subject that role trusts, and no role trusts more.

Reads the workflows (tests/contract/gha.py) and the github-oidc roles of each environment's account as the
example root creates them from infra/environments/<env>.tfvars (tests/contract/tfmodel.py). Subjects follow the
repository's customised template (repo, context, job_workflow_ref) that github-environments sets: the subject a job
presents names its workflow file, and each role's StringLike patterns name the workflows of its own kind
(bot/oidc_subjects.py). IAM StringLike: ``*`` matches any run of characters, ``?`` one
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_String).
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest

from bot.contract import ENVIRONMENTS, JOB_KINDS
from bot.oidc_subjects import JOB_WORKFLOWS, OIDC_CLAIM_KEYS, job_subjects
from tests.infra import tfcheck
from tests.infra.tfcheck import MODULES

from .gha import RoleUse, Tree, role_uses
from .tfmodel import Role, account_roles, module_inputs
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


def _repository(environment: str) -> str:
    return str(module_inputs(environment)["github_repository"])


def _like(value: str, pattern: str) -> bool:
    """IAM StringLike: `*` any run of characters (also none), `?` exactly one; everything else literal."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.S) is not None


def _trusts(role: Role, subject: str) -> bool:
    return any(_like(subject, p) for p in role.subjects)


def test_every_role_variable_names_a_job_kind(uses: list[RoleUse]) -> None:
    # defect 1: workflows read AWS_DEPLOY_ROLE_ARN / AWS_WEB_ROLE_ARN, which nothing sets
    unknown = sorted({f"{u.where}: {u.variable}" for u in uses if u.kind is None})
    assert unknown == [], ("jobs assume roles from variables that are not in bot/contract.py:\n"
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
        elif not _trusts(role, use.full_subject(_repository(account))):
            refused.add(
                f"{use.where} ({use.context.describe()}): subject {use.full_subject(_repository(account))} not "
                f"trusted by {role.name} (trusts {sorted(role.subjects)})"
            )
    assert not refused, "\n".join(sorted(refused))


def test_no_role_trusts_a_subject_its_jobs_never_get(uses: list[RoleUse]) -> None:
    # defect 2: any branch naming the `infra-plan` environment could read the Terraform state
    produced: dict[tuple[str, str], set[str]] = defaultdict(set)
    for use in uses:
        if use.kind and use.account:
            produced[(use.account, use.kind)].add(use.full_subject(_repository(use.account)))
    excess = []
    for env in ENVIRONMENTS:
        for kind, role in account_roles(env).items():
            extra = {p for p in role.subjects if not any(_like(s, p) for s in produced[(env, kind)])}
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
        tails = {tfcheck.SUBJECT_RE.fullmatch(s)["context"] for s in role.subjects}  # type: ignore[index]
        assert all(s.startswith(repo) for s in role.subjects), role
        if kind in ENVIRONMENT_KINDS:
            assert tails == {f"environment:{environment}"}, f"{role.name} trusts {sorted(tails)}"
        elif kind == "plan":
            assert tails == {"pull_request", "ref:refs/heads/main"}, f"{role.name} trusts {sorted(tails)}"
        else:
            assert tails == {"ref:refs/heads/main"}, f"{role.name} trusts {sorted(tails)}"
        # one source: the Terraform trusts exactly what bot/oidc_subjects.py says (which the security rules allow)
        assert role.subjects == set(job_subjects(kind, repository=_repository(environment), environment=environment))
    assert {k for k in roles if k in ENVIRONMENT_KINDS} == ENVIRONMENT_KINDS, "a deploy role is missing"


def test_a_job_cannot_assume_another_kinds_role(uses: list[RoleUse]) -> None:
    # issue 22 item 13: every deploy role of one environment accepted environment:<env>, so any job in that
    # environment (a build, a web deploy) could assume any of them. Now the subject names the job's workflow file and
    # each role trusts only its kind's workflows. Kinds whose jobs live in one file cannot be told apart by
    # job_workflow_ref: lambda-release.yml (Lambda and API releases) and rollback.yml (one job per kind).
    crossings = set()
    for use in uses:
        if not (use.kind and use.account in ENVIRONMENTS):
            continue
        subject = use.full_subject(_repository(use.account))
        for kind, role in account_roles(use.account).items():
            if kind != use.kind and _trusts(role, subject):
                crossings.add((use.workflow, use.kind, kind))
    # a role trusts another kind's job only where both kinds' jobs live in one file, and that is only these two
    assert all(w in JOB_WORKFLOWS[other] for w, _, other in crossings), crossings
    assert {w for w, _, _ in crossings} == {"lambda-release.yml", "rollback.yml"}, crossings
    assert not any(kind == "build" or other == "build" for _, kind, other in crossings), crossings


def test_a_build_job_cannot_assume_the_web_deploy_role(uses: list[RoleUse]) -> None:
    # the example, spelled out: the production build job's own subject against production's roles
    (build,) = {
        u.full_subject(_repository("production"))
        for u in uses
        if u.kind == "build" and u.where == "api-ci.yml:package" and u.environment == "production"
        and u.context.ref == "refs/heads/main"
    }
    assert build == (
        "repo:acme/payments:environment:production:job_workflow_ref:"
        "acme/payments/.github/workflows/api-ci.yml@refs/heads/main"
    )
    roles = account_roles("production")
    assert _trusts(roles["build"], build)
    assert not _trusts(roles["web-deploy"], build)
    assert not _trusts(roles["lambda-deploy"], build)
    assert not _trusts(roles["apply"], build)
    # and the same job in a branch that edits the workflow file name, or runs at another branch, is refused
    assert not _trusts(roles["build"], build.replace("api-ci.yml", "api-ci-copy.yml"))
    assert not _trusts(roles["build"], build.replace("@refs/heads/main", "@refs/heads/feature/x"))


def test_the_repository_subject_template_is_the_one_the_roles_expect() -> None:
    # github-environments sets the template the subjects above assume (provider arguments checked against the
    # real schema by tests/infra/test_provider_schema.py: repository, use_default, include_claim_keys)
    files = tfcheck.load_dir(MODULES / "github-environments")
    (template,) = [
        body for t, _, body in tfcheck.typed(files, "resource")
        if t == "github_actions_repository_oidc_subject_claim_customization_template"
    ]
    assert template["use_default"] is False
    assert tuple(template["include_claim_keys"]) == OIDC_CLAIM_KEYS == ("repo", "context", "job_workflow_ref")


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
    found = list(role_uses(Tree.load(tmp_path)))
    got = {(u.where, u.context.event, u.kind, u.subject) for u in found}
    # job_workflow_ref: a called workflow's job names the callee's file, at the caller's ref
    subjects = {u.full_subject("o/r") for u in found}
    assert "repo:o/r:environment:dev:job_workflow_ref:o/r/.github/workflows/callee.yml@refs/heads/main" in subjects
    assert "repo:o/r:pull_request:job_workflow_ref:o/r/.github/workflows/caller.yml@refs/pull/1/merge" in subjects
    assert ("caller.yml:build", "pull_request", "build", "pull_request") not in got  # `if:` skips it
    assert ("caller.yml:build", "push", "build", "ref:refs/tags/v1.4.2") in got
    assert ("caller.yml:plan", "pull_request", "plan", "pull_request") in got
    assert ("caller.yml:deploy:release", "push", "lambda-deploy", "environment:dev") in got
    assert ("caller.yml:deploy:release", "workflow_dispatch", "lambda-deploy", "environment:production") in got
    assert not any(w == "caller.yml:deploy:release" and e == "pull_request" for w, e, _, _ in got)  # needs skipped
