"""The GitHub fake follows GitHub's concurrency rule and its "Cancel a workflow run" endpoint (issue 23, item 5),
seen through PyGithub. The rule (docs.github.com, "Control the concurrency of workflows and jobs"): at most one
running and one pending run per group; a newer pending run cancels the older pending one; group names ignore case.
The shipped api-ci.yml uses ``group: api-${{ inputs.environment || github.ref }}`` with cancel-in-progress: false."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from github import Auth, Github, GithubException

from sandbox.github_concurrency import Concurrency, Groups, workflow_concurrency
from sandbox.github_fake import GitHubFake
from sandbox.stack import wait_for
from tests.run_gate import Gate


@pytest.fixture
async def gh() -> AsyncIterator[tuple[GitHubFake, Gate]]:
    async with GitHubFake(step_delay=0.01) as fake:
        gate = Gate()
        fake.executor = gate
        yield fake, gate


def client(fake: GitHubFake) -> Github:
    return Github(auth=Auth.Token("ghp-test"), base_url=fake.url, retry=None, seconds_between_requests=0,
                  seconds_between_writes=0)


async def dispatch(fake: GitHubFake, environment: str, request_id: str) -> int:
    def go() -> int:
        wf = client(fake).get_repo("acme/platform").get_workflow("api-ci.yml")
        run = wf.create_dispatch("main", {"environment": environment, "request_id": request_id}, throw=True,
                                 return_run_details=True)
        return int(run.id)  # type: ignore[union-attr]

    return await asyncio.to_thread(go)


async def cancel(fake: GitHubFake, run_id: int) -> int:
    def go() -> int:
        status, _, _ = client(fake).requester.requestJson("POST", f"/repos/acme/platform/actions/runs/{run_id}/cancel")
        return int(status)

    return await asyncio.to_thread(go)


async def test_three_quick_deploys_to_one_group_lose_the_middle_one(gh: tuple[GitHubFake, Gate]) -> None:
    fake, gate = gh
    first = await dispatch(fake, "production", "r-aaaaaaaa")
    await wait_for(lambda: gate.started == [first], what="the first run is running")
    second = await dispatch(fake, "production", "r-bbbbbbbb")
    assert fake.runs[second].status == "pending"
    third = await dispatch(fake, "production", "r-cccccccc")
    # the newer pending run cancels the older pending one, although the first is still running
    await wait_for(lambda: fake.runs[second].status == "completed", what="the second run is cancelled")
    assert fake.runs[second].conclusion == "cancelled" and fake.runs[third].status == "pending"
    gate.finish(first)
    await wait_for(lambda: gate.started == [first, third], what="the third run starts after the first")
    gate.finish(third)
    await fake.wait_idle()
    assert [fake.runs[r].conclusion for r in (first, second, third)] == ["success", "cancelled", "success"]
    assert second not in gate.started  # the cancelled run never ran its deploy step


async def test_other_groups_run_side_by_side(gh: tuple[GitHubFake, Gate]) -> None:
    fake, gate = gh
    prod = await dispatch(fake, "production", "r-aaaaaaaa")
    staging = await dispatch(fake, "staging", "r-bbbbbbbb")
    await wait_for(lambda: sorted(gate.started) == sorted([prod, staging]), what="both groups run")
    gate.finish(prod)
    gate.finish(staging)
    await fake.wait_idle()


async def test_cancel_a_running_and_a_pending_run_then_a_completed_one_is_409(gh: tuple[GitHubFake, Gate]) -> None:
    fake, gate = gh
    first = await dispatch(fake, "production", "r-aaaaaaaa")
    await wait_for(lambda: gate.started == [first], what="running")
    second = await dispatch(fake, "production", "r-bbbbbbbb")
    assert await cancel(fake, second) == 202  # pending: it never starts
    await wait_for(lambda: fake.runs[second].conclusion == "cancelled", what="pending run cancelled")
    assert await cancel(fake, first) == 202
    gate.finish(first)  # the deploy step returns; the run ends cancelled, not success
    await wait_for(lambda: fake.runs[first].conclusion == "cancelled", what="running run cancelled")
    with pytest.raises(GithubException) as err:
        await asyncio.to_thread(lambda: client(fake).requester.requestJsonAndCheck(
            "POST", f"/repos/acme/platform/actions/runs/{first}/cancel"))
    assert err.value.status == 409
    assert err.value.data["message"] == "Cannot cancel a workflow run that is completed."
    third = await dispatch(fake, "production", "r-cccccccc")  # the group is free again
    await wait_for(lambda: gate.started == [first, third], what="a new run starts")
    gate.finish(third)
    await fake.wait_idle()
    assert fake.runs[third].conclusion == "success"


def test_group_names_ignore_case_and_cancel_in_progress_cancels_the_running_run() -> None:
    source = "on: push\nconcurrency:\n  group: Deploy-${{ inputs.environment }}\n  cancel-in-progress: true\n"
    c = workflow_concurrency(source, {"inputs": {"environment": "PROD"}, "github": {}, "vars": {}})
    assert c == Concurrency("deploy-prod", True)
    groups = Groups()
    assert groups.admit(1, c) == (True, [])
    assert groups.admit(2, Concurrency("DEPLOY-PROD".lower(), True)) == (False, [1])
    assert groups.release(1) == 2
    assert workflow_concurrency("on: push\njobs: {}\n", {}) is None
