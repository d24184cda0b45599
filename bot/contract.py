"""Names that cross the boundary between Terraform, the workflows, the release engine and the bot.

One place for them: Terraform (``infra/``) sets these variables, the workflows (``workflows/``) read them,
``chatops-bot install-workflows`` prints them, and ``tests/contract`` checks that all sides agree.

Model: one AWS account per environment (dev, staging, production), each with its own Terraform state.
Every job that touches AWS assumes exactly one role of one *job kind*. A role's trust policy accepts the
OIDC subject GitHub issues for the jobs of that kind and nothing else (see docs/oidc.md).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DEPLOY_INPUTS",
    "ENGINE_DIR",
    "ENGINE_MODULE",
    "ENVIRONMENTS",
    "JOB_KINDS",
    "ROLLBACK_INPUTS",
    "JobKind",
    "plan_role_variable",
]

ENVIRONMENTS: tuple[str, ...] = ("dev", "staging", "production")

# The workflow_dispatch inputs the bot sends (bot/runtime/worker.py), in that order; every service's workflow must
# declare them (GitHub answers 422 to an undeclared input) and `check-config --online` checks that it does.
DEPLOY_INPUTS: tuple[str, ...] = ("environment", "request_id", "requested_by")
ROLLBACK_INPUTS: tuple[str, ...] = ("service", "environment", "target_version", "request_id")

# Where install-workflows vendors the release engine inside a repository, and how the workflows call it.
ENGINE_DIR = ".github/chatops-release"
ENGINE_MODULE = "chatops_release"  # python -m chatops_release <command>, with ENGINE_DIR on PYTHONPATH


@dataclass(frozen=True, slots=True)
class JobKind:
    """One kind of job that assumes an AWS role.

    ``variable``: the GitHub Actions variable holding the role ARN.
    ``scope``: ``environment`` (an environment variable of each deployment environment; the job names that
    environment, so its OIDC subject is ``repo:<o>/<r>:environment:<env>``), or ``repository`` (a
    repository variable; the job names no environment).
    ``role_suffix``: the IAM role is named ``chatops-<env>-github-<role_suffix>`` by infra/examples/complete.
    """

    name: str
    variable: str
    scope: str
    role_suffix: str


JOB_KINDS: dict[str, JobKind] = {
    k.name: k
    for k in (
        # image builds push to the target environment's ECR: the build job names the target environment
        JobKind("build", "AWS_BUILD_ROLE_ARN", "environment", "build"),
        JobKind("lambda-deploy", "AWS_LAMBDA_DEPLOY_ROLE_ARN", "environment", "lambda-deploy"),
        JobKind("api-deploy", "AWS_API_DEPLOY_ROLE_ARN", "environment", "api-deploy"),
        JobKind("web-deploy", "AWS_WEB_DEPLOY_ROLE_ARN", "environment", "web-deploy"),
        # terraform apply of the plan reviewed in the same run: names the environment (approval gate)
        JobKind("apply", "AWS_APPLY_ROLE_ARN", "environment", "infra-apply"),
        # terraform plan, per environment, on pull requests and on main: no environment (see plan_role_variable)
        JobKind("plan", "AWS_PLAN_ROLE_ARN_<ENV>", "repository", "infra-plan"),
        # read-only ECR scan findings, on main and on the schedule (production's account)
        JobKind("security-scan", "AWS_SECURITY_ROLE_ARN", "repository", "security-scan"),
    )
}


def plan_role_variable(environment: str) -> str:
    """Repository variable with the plan role of one environment's account, e.g. ``AWS_PLAN_ROLE_ARN_DEV``."""
    return "AWS_PLAN_ROLE_ARN_" + environment.upper().replace("-", "_")
