"""A rehearsal of a team's first real run, across every part as a user installs them.

install-workflows into a fresh repository; the variables Terraform sets from infra/environments/production.tfvars;
the bot from examples/chatops.yml; GitHub's side (runs, protection rule) from the GitHub fake; AWS from moto's
server. When the bot dispatches a workflow, the fake runs the installed job for real (sandbox.actions_runner):
its `run:` scripts, its composite actions, the vendored engine with its hash-pinned requirements installed by the
job, and the OIDC subject it would present checked against the role's trust policy (the subjects that
tests/contract/tfmodel.py evaluates from github-oidc).

Checked at each step: the bot's card, `/deploy status`, and the Lambda alias in moto.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sandbox import rehearsal
from sandbox.stack import Stack, message_text, wait_for

pytestmark = pytest.mark.rehearsal
FUNCTION, REPOSITORY, ALARM = "payments-api", "payments-api", "payments-api-production-5xx"


@pytest.fixture(scope="module")
def job_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return rehearsal.job_python(tmp_path_factory.mktemp("runner"))


@contextlib.asynccontextmanager
async def first_run(tmp_path: Path, job_bin: Path) -> AsyncIterator[Any]:
    async with Stack(database_url=f"sqlite:///{tmp_path / 'bot.db'}") as stack:
        wiring = rehearsal.FirstRun(stack, tmp_path, environments=("production",), python_bin=job_bin,
                                    assume=trust_checker("production"))
        pipeline = wiring.start()
        try:
            yield stack, wiring.accounts["production"], pipeline
        finally:
            wiring.stop()


def trust_checker(environment: str) -> Any:
    """For sandbox.actions_runner: STS refuses the job when the role's trust policy does not list its subject."""
    from sandbox.actions_runner import JobFailed

    from . import tfmodel

    roles = {role.name: role for role in tfmodel.account_roles(environment).values()}
    repository = tfmodel.module_inputs(environment)["github_repository"]

    def assume(role_arn: str, subject: str) -> None:
        role = roles.get(role_arn.rsplit("/", 1)[-1])
        if role is None or not tfmodel.role_trusts(role.subjects, repository, subject):
            raise JobFailed(f"AssumeRoleWithWebIdentity refused: {role_arn} does not trust {subject}")

    return assume


def _rid(answer: dict[str, Any]) -> str:
    m = re.search(r"`(r-[a-z0-9]{8})`", answer.get("text", ""))
    assert m, answer
    return m.group(1)


async def _deploy(stack: Stack, pipeline: Any, ref: str, *, command: str = "/deploy") -> str:
    text = f"api {ref} to production" if command == "/deploy" else f"api production to {ref}"
    status, answer = await stack.command("U0DEV", text, command=command)
    assert status == 200
    rid = _rid(answer)
    await wait_for(lambda: any(rid in message_text(m) and "Approve" in message_text(m)
                               for m in stack.card_messages("C0APPROVALS")), what="approval card")
    card = next(m for m in stack.card_messages("C0APPROVALS") if rid in message_text(m))
    await stack.click("U0LEAD", "approve", rid, message_ts=card.ts, key=f"approve-{rid}")
    await _finished(stack, pipeline, rid)
    return rid


async def _finished(stack: Stack, pipeline: Any, rid: str) -> None:
    def done() -> bool:
        return any(rid in message_text(m) and re.search(r"succeeded|failed|rejected|cancelled", message_text(m))
                   for m in stack.card_messages("C0DEPLOYS"))

    await wait_for(done, timeout=180, what=f"{rid} finished")
    card = next(m for m in stack.card_messages("C0DEPLOYS") if rid in message_text(m))
    logs = "\n".join(f"{wf}: {r.outcome} {r.steps}\n{r.log[-3000:]}" for wf, r in pipeline.results)
    assert "succeeded" in message_text(card), message_text(card) + "\n" + logs


async def _status(stack: Stack) -> str:
    status, answer = await stack.command("U0DEV", "status api", key=None)
    assert status == 200
    return str(answer.get("text", ""))


async def test_first_run_deploys_then_rolls_back_to_a_named_version(tmp_path: Path, job_bin: Path) -> None:
    async with first_run(tmp_path, job_bin) as (stack, account, pipeline):
        repo = tmp_path / "repo"
        sha = {tag: rehearsal.git_sha(repo, tag) for tag in ("v1.4.1", "v1.4.2")}

        await _deploy(stack, pipeline, "v1.4.1")
        assert account.alias(FUNCTION) == {"version": "1", "release": "1.4.1", "weights": {}}
        text = await _status(stack)
        assert "v1.4.1" in text and sha["v1.4.1"][:7] in text, text

        await _deploy(stack, pipeline, "v1.4.2")
        assert account.alias(FUNCTION) == {"version": "2", "release": "1.4.2", "weights": {}}
        text = await _status(stack)
        assert "v1.4.2" in text and sha["v1.4.2"][:7] in text, text

        await _deploy(stack, pipeline, "v1.4.1", command="/rollback")  # approved like a deploy (issue 21.8)
        assert account.alias(FUNCTION) == {"version": "1", "release": "1.4.1", "weights": {}}
        text = await _status(stack)
        assert "v1.4.1" in text and sha["v1.4.1"][:7] in text, text

        # every job assumed the role of its kind with the subject its environment gives it, and reported to
        # GitHub's deployments API through the engine
        roles = [role for _, result in pipeline.results for role in result.roles]
        assert [r for r, _ in roles] == ["arn:aws:iam::333333333333:role/chatops-production-github-api-deploy"] * 3
        # job_workflow_ref names the file the job is defined in: lambda-release.yml (called by api-ci.yml) for the
        # deploys, rollback.yml for the rollback (dispatched at main), at the ref each run was dispatched at
        assert [s.split(":job_workflow_ref:")[0] for _, s in roles] == ["environment:production"] * 3
        assert [s.split("/.github/workflows/", 1)[1].split("@")[0] for _, s in roles] == [
            "lambda-release.yml", "lambda-release.yml", "rollback.yml"], roles
        states = [s["state"] for s in stack.github.deployment_statuses]
        assert states.count("success") == 3, states


def test_the_rehearsal_sets_the_variables_terraform_sets() -> None:
    """The rehearsal's values come from the same module maps the contract tests read (one reading of Terraform)."""
    from . import workflow_model as wm

    values = rehearsal.terraform_variables("production")
    names = wm.terraform_variables()
    for env in ("dev", "staging", "production"):
        assert set(values[env]) == names["environment"], env
        assert values[env]["AWS_API_DEPLOY_ROLE_ARN"].endswith(f":role/chatops-{env}-github-api-deploy")
    # AWS_SECURITY_ROLE_ARN is an output of the production state (github-oidc), known only after apply
    assert set(values[None]) == names["repository"] - {"AWS_SECURITY_ROLE_ARN"}
