"""The OIDC subjects the shipped workflows present to AWS, per job kind: one source for the roles' trust
policies (infra/modules/github-oidc, checked by tests/contract) and the security rules' allow-list.

The github-environments module customises the repository's subject template to ``OIDC_CLAIM_KEYS``, so GitHub
issues (https://docs.github.com/en/actions/reference/security/oidc, "Customizing the subject claims for an
organization or repository", and its example with ``job_workflow_ref``)::

    repo:<owner>/<repo>:<context>:job_workflow_ref:<owner>/<repo>/.github/workflows/<file>@<ref>

where ``<context>`` is what the default template puts after the repository (``environment:<name>`` for a job
that names an environment, else ``pull_request`` or ``ref:<ref>``), and ``job_workflow_ref`` is the workflow file
the job is defined in (a reusable workflow's own file) at the run's ref. A role then trusts only the jobs of its
own workflows: a build job cannot assume the web deploy role of the same environment.

Subjects are patterns for IAM ``StringLike`` (and ``fnmatch``): ``*`` only in the ref, after a literal
``.../.github/workflows/<file>@refs/...`` prefix.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.contract import ENVIRONMENTS, JOB_KINDS

__all__ = ["JOB_GRANTS", "JOB_WORKFLOWS", "OIDC_CLAIM_KEYS", "allowed_subjects", "job_subjects"]

OIDC_CLAIM_KEYS: tuple[str, ...] = ("repo", "context", "job_workflow_ref")

MAIN = "refs/heads/main"
RELEASE_TAGS = "refs/tags/v*"  # the environments' tag deployment policy (infra/environments/*.tfvars)
PULL_REQUEST = "refs/pull/*/merge"  # the ref of a pull_request run

# Job kind -> the workflow files (under .github/workflows/) whose jobs assume that kind's role.
# lambda-release.yml holds the one release job of both Lambda and API releases (its deploy-role input picks the
# role), so those two kinds share it; rollback.yml has one job per kind.
JOB_WORKFLOWS: dict[str, tuple[str, ...]] = {
    "build": ("api-ci.yml", "build-and-deploy-lambda.yml"),
    "lambda-deploy": ("lambda-release.yml", "rollback.yml"),
    "api-deploy": ("lambda-release.yml", "rollback.yml"),
    "web-deploy": ("web-ci.yml", "rollback.yml"),
    "apply": ("infra-ci.yml",),
    "plan": ("infra-ci.yml",),
    "security-scan": ("security.yml",),
}

# Job kind -> (context, ref) pairs its jobs run in; ``{env}`` is the account's environment.
_DEPLOY = (("environment:{env}", MAIN), ("environment:{env}", RELEASE_TAGS))
JOB_GRANTS: dict[str, tuple[tuple[str, str], ...]] = {
    "build": _DEPLOY,
    "lambda-deploy": _DEPLOY,
    "api-deploy": _DEPLOY,
    "web-deploy": _DEPLOY,
    "apply": (("environment:{env}", MAIN),),  # infra-ci applies on pushes to main only
    "plan": (("pull_request", PULL_REQUEST), (f"ref:{MAIN}", MAIN)),
    "security-scan": ((f"ref:{MAIN}", MAIN),),
}

def job_subjects(kind: str, *, repository: str, environment: str) -> tuple[str, ...]:
    """The subject patterns one job kind's role in ``environment``'s account trusts."""
    return tuple(
        f"repo:{repository}:{context.format(env=environment)}:job_workflow_ref:"
        f"{repository}/.github/workflows/{workflow}@{ref}"
        for workflow in JOB_WORKFLOWS[kind]
        for context, ref in JOB_GRANTS[kind]
    )


def allowed_subjects(repositories: Iterable[str], environments: Iterable[str] = ()) -> tuple[str, ...]:
    """Every subject the shipped workflows present, for each repository and environment (``ENVIRONMENTS`` plus
    the given ones): what a successful ``AssumeRoleWithWebIdentity`` from our own pipeline looks like."""
    envs = list(dict.fromkeys([*ENVIRONMENTS, *environments]))
    out: dict[str, None] = {}
    for repo in dict.fromkeys(r for r in repositories if r):
        for kind in JOB_KINDS:
            for env in envs:
                out.update(dict.fromkeys(job_subjects(kind, repository=repo, environment=env)))
    return tuple(out)
