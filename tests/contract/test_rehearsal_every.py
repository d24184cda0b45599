"""The rehearsal runs every shipped workflow (issue 23 item 8).

Each workflow in workflows/*.yml is installed by install-workflows into a repository holding the example parts
(web/, services/worker/, infra/), and every one of its jobs runs on the local runner (sandbox.actions_runner):
`run:` scripts execute with bash, the tools a runner has and this machine cannot use are named stand-ins
(sandbox.standin_tools), AWS is moto's server (one per environment account, every role's OIDC subject checked
against the trust policy github-oidc gives it), GitHub is the GitHub fake. The test fails naming any shipped
workflow or job that did not run, or did not succeed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox import rehearsal
from sandbox.rehearsal_every import EXPECTED_FAILURES, NOT_REHEARSED, TRIGGERS, rehearse
from sandbox.rehearsal_parts import publish_web_before
from sandbox.stack import Stack

pytestmark = pytest.mark.rehearsal
ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENTS = ("dev", "staging", "production")


def shipped_jobs() -> set[tuple[str, str]]:
    out = set()
    for path in sorted((ROOT / "workflows").glob("*.yml")):
        doc = yaml.safe_load(path.read_text())
        out |= {(path.name, job) for job in doc["jobs"]}
    return out


def trust_checker() -> Any:
    """STS refuses the job when the role's trust policy (github-oidc, per environment account) lacks its subject."""
    from sandbox.actions_runner import JobFailed

    from . import tfmodel

    roles = {role.name: (env, role) for env in ENVIRONMENTS for role in tfmodel.account_roles(env).values()}

    def assume(role_arn: str, subject: str) -> None:
        env, role = roles.get(role_arn.rsplit("/", 1)[-1], (None, None))
        repository = tfmodel.module_inputs(env)["github_repository"] if env else ""
        if role is None or not tfmodel.role_trusts(role.subjects, repository, subject):
            raise JobFailed(f"AssumeRoleWithWebIdentity refused: {role_arn} does not trust {subject}")

    return assume


@pytest.fixture(scope="module")
def every(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[rehearsal.FirstRun, list[Any]]]:
    import asyncio

    tmp = tmp_path_factory.mktemp("every")
    loop = asyncio.new_event_loop()
    stack = Stack(database_url=f"sqlite:///{tmp / 'bot.db'}")
    loop.run_until_complete(stack.start())
    wiring = rehearsal.FirstRun(stack, tmp, environments=ENVIRONMENTS, assume=trust_checker(),
                                python_bin=rehearsal.job_python(tmp))
    try:
        wiring.start()
        # what production ran before the pipeline was installed: something for the rollbacks to go back to
        wiring.released_before("production", "v1.4.1")
        assert wiring.variables is not None
        publish_web_before(wiring.accounts["production"], wiring.variables["production"]["WEB_BUCKET"],
                           wiring.variables["production"]["WEB_DISTRIBUTION_ID"], tmp)
        # the fakes answer on this loop while the jobs run in a thread (as the GitHub fake's executor does)
        yield wiring, loop.run_until_complete(asyncio.to_thread(rehearse, wiring))
    finally:
        wiring.stop()
        loop.run_until_complete(stack.stop())
        loop.close()


def _report(ran: list[Any]) -> str:
    return "\n".join(f"{t.workflow} [{t.event}] {job}: {r.outcome}\n  {r.steps}\n{r.log[-1500:]}"
                     for t, job, r in ran if r.outcome != "success")


def test_every_shipped_workflow_and_job_runs(every: tuple[rehearsal.FirstRun, list[Any]]) -> None:
    wiring, ran = every
    assert wiring.pipeline is not None
    outcomes: dict[tuple[str, str], set[str]] = {}
    for wf, job, outcome in wiring.pipeline.runner.executed:
        outcomes.setdefault((wf, job), set()).add(outcome)
    missing = sorted(shipped_jobs() - set(outcomes) - set(NOT_REHEARSED))
    assert not missing, f"the rehearsal does not run these shipped workflow jobs: {missing}\n{_report(ran)}"
    assert not set(NOT_REHEARSED) & set(outcomes), "a job listed in NOT_REHEARSED runs now: take it off the list"
    assert set(NOT_REHEARSED) <= shipped_jobs(), "NOT_REHEARSED names a job that is not shipped"
    failed = sorted(k for k, v in outcomes.items() if v != {"success"} and k not in EXPECTED_FAILURES)
    assert not failed, f"these rehearsed jobs failed: {failed}\n{_report(ran)}"
    for (wf, job), reason in EXPECTED_FAILURES.items():
        logs = [r.log for t, j, r in ran if t.workflow == wf and j == job]
        assert logs and all(reason in log for log in logs), (wf, job, logs)
    assert {t.workflow for t in TRIGGERS} | {"lambda-release.yml"} == {
        p.name for p in (ROOT / "workflows").glob("*.yml")}


def test_no_step_ran_nothing(every: tuple[rehearsal.FirstRun, list[Any]]) -> None:
    """Every step either executed or was stood in by something that names what it replaces; none is left out."""
    _, ran = every
    for trigger, job, result in ran:
        assert result.steps, f"{trigger.workflow} {job} ran no step"
        for name, what in result.stand_ins:
            assert what.strip() and name, (trigger.workflow, job, name)
        stood_in = {name for name, _ in result.stand_ins}
        # a third-party action always runs as a stand-in (none can run here); it says what it does instead
        for name, outcome in result.steps:
            if "@" in name and outcome == "success":
                assert name in stood_in, (trigger.workflow, job, name)


def test_the_web_deploy_puts_the_site_in_s3_and_invalidates_cloudfront(
        every: tuple[rehearsal.FirstRun, list[Any]]) -> None:
    wiring, _ = every
    site = wiring.web("production")
    # the release from before, web-ci's deploy, then web's rollback: the origin points at the first one again
    assert site["origin_path"] == "/releases/0.9.0", site
    assert site["objects"] >= 5, site  # both releases' files and the ledger stay in the bucket
    assert site["invalidations"] == 3, site  # one per switch of the origin


def test_the_lambda_images_were_pushed_to_ecr_and_released(every: tuple[rehearsal.FirstRun, list[Any]]) -> None:
    wiring, _ = every
    ecr = wiring.accounts["production"].client("ecr")
    tags = {t for i in ecr.describe_images(repositoryName="payments-worker")["imageDetails"]
            for t in i.get("imageTags", [])}
    assert "1.4.2" in tags, tags
    assert wiring.accounts["production"].alias("payments-worker")["version"] is not None


def test_the_api_integration_tests_ran_against_a_postgres_service(
        every: tuple[rehearsal.FirstRun, list[Any]]) -> None:
    """api-ci's integration job: its postgres service container is a fresh database on this machine's server
    (sandbox.service_containers), the example's integration tests store and read orders through DATABASE_URL,
    and the package job starts on that real result."""
    _, ran = every
    jobs = {job: result for t, job, result in ran if t.workflow == "api-ci.yml"}
    integration = jobs["integration"]
    assert integration.steps[0] == ("Initialize containers", "success"), integration.steps
    assert any("services.postgres (postgres:16)" in what for _, what in integration.stand_ins)
    assert "3 passed" in integration.log and "orders_store.py" in integration.log, integration.log[-2000:]
    assert list(jobs) == ["unit", "integration", "package", "deploy"]
    assert all(result.outcome == "success" for result in jobs.values())
