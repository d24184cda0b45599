"""Every shipped workflow, rehearsed: each job of ``workflows/*.yml`` runs on the local runner against moto and
the GitHub fake, triggered the way a team's repository triggers it.

``TRIGGERS`` says which events run each workflow (a job whose ``if:`` holds for one event only needs that
event: infra-ci's plan comment runs on a pull request, its applies on a push to main). ``rehearse`` runs them in
order (the images job of security.yml reads what build-and-deploy-lambda pushed) and returns every job that ran
with its outcome; the rehearsal test (tests/contract/test_rehearsal_every.py) fails naming any shipped
workflow or job that did not run, or did not succeed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from sandbox.actions_runner import JobResult
from sandbox.rehearsal import FirstRun, git_sha

PULL_REQUEST = 7
_RUN_IDS = itertools.count(9_001)  # each run its own artifacts and release names, as on GitHub


@dataclass(frozen=True)
class Trigger:
    workflow: str
    event: str
    inputs: dict[str, str] = field(default_factory=dict)
    ref: str = "refs/heads/main"
    payload: dict[str, Any] = field(default_factory=dict)


def _dispatch(**inputs: str) -> dict[str, str]:
    return {"environment": "production", "request_id": "r-rehearse", **inputs}


TRIGGERS: tuple[Trigger, ...] = (
    Trigger("build-and-deploy-lambda.yml", "workflow_dispatch", _dispatch(), ref="refs/tags/v1.4.2"),
    Trigger("web-ci.yml", "workflow_dispatch", _dispatch(), ref="refs/tags/v1.4.2"),
    Trigger("rollback.yml", "workflow_dispatch", {**_dispatch(), "service": "web"}),
    Trigger("rollback.yml", "workflow_dispatch", {**_dispatch(), "service": "worker"}),
    Trigger("api-ci.yml", "workflow_dispatch", _dispatch(), ref="refs/tags/v1.4.2"),
    Trigger("rollback.yml", "workflow_dispatch", {**_dispatch(), "service": "api"}),
    Trigger("security.yml", "workflow_dispatch", _dispatch()),
    Trigger("infra-ci.yml", "pull_request", ref=f"refs/pull/{PULL_REQUEST}/merge",
            payload={"pull_request": {"number": PULL_REQUEST, "head": {"sha": "0" * 40}}}),
    Trigger("infra-ci.yml", "push"),
)


def rehearse(first_run: FirstRun, triggers: tuple[Trigger, ...] = TRIGGERS) -> list[tuple[Trigger, str,
                                                                                           JobResult]]:
    """Run each trigger's workflow on the first run's runner; (trigger, job id, result) for every job that ran
    (a reusable workflow's job is reported under the caller's job and also recorded by the runner)."""
    assert first_run.pipeline is not None
    pipeline = first_run.pipeline
    runner = pipeline.runner
    pipeline.github.issue_comments.issues.add(PULL_REQUEST)
    sha = git_sha(first_run.repo, "HEAD")  # the checkout the jobs run in: main, tagged with the newest release
    pipeline.github.branches["main"] = sha
    out: list[tuple[Trigger, str, JobResult]] = []
    for trigger in triggers:
        runner.github.update({"run_id": str(next(_RUN_IDS)), "sha": sha, "actor": "rehearsal"})
        # every job in `needs` order, each only when its `if:` holds with the real results before it (api-ci's
        # integration job: its PostgreSQL service container is stood in for by sandbox.service_containers)
        jobs = runner.run_workflow(trigger.workflow, inputs=trigger.inputs, event=trigger.event, ref=trigger.ref,
                                   event_payload=trigger.payload)
        out.extend((trigger, job, result) for job, result in jobs.items())
    return out


# Jobs the rehearsal does not run, and why; the rehearsal test fails on any other job that does not run (and
# on one of these that starts to run: shrink this list then).
NOT_REHEARSED: dict[tuple[str, str], str] = {}
# Jobs that run and are expected to fail here, and why (the test checks the reason in the job's log).
EXPECTED_FAILURES: dict[tuple[str, str], str] = {
    # moto's ECR answers every image scan with one HIGH finding (moto ecr models: findingSeverityCounts
    # {"HIGH": 1}), and the job fails on any HIGH or CRITICAL finding: it does what it should with that answer
    ("security.yml", "images"): '"HIGH": 1',
}
