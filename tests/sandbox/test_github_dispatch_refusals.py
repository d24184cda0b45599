"""The GitHub fake refuses the dispatches GitHub refuses (issue 23, item 4), seen through the real clients:
PyGithub (what the bot uses) and a plain HTTP client. Messages are GitHub's (sandbox/github_workflows.py cites them).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator

import aiohttp
import pytest
from github import Auth, Github, GithubException

from sandbox.github_fake import GitHubFake
from sandbox.github_workflows import MAX_INPUTS

INPUTS = {"environment": "staging", "request_id": "req-42", "requested_by": "dev-gh"}
REQUIRED_ONLY = """\
on:
  workflow_dispatch:
    inputs:
      environment: {type: string, required: true}
      ticket: {type: string, required: true}
      note: {type: string, required: true, default: "-"}
jobs: {}
"""


@pytest.fixture
async def gh() -> AsyncIterator[GitHubFake]:
    async with GitHubFake(step_delay=0.01) as fake:
        yield fake


def client(fake: GitHubFake) -> Github:
    return Github(auth=Auth.Token("ghp-test"), base_url=fake.url, retry=None, seconds_between_requests=0,
                  seconds_between_writes=0)


async def dispatch(fake: GitHubFake, workflow: str, ref: str, inputs: dict[str, str]) -> object:
    def go() -> object:
        wf = client(fake).get_repo("acme/platform").get_workflow(workflow)
        return wf.create_dispatch(ref, inputs, throw=True)

    return await asyncio.to_thread(go)


async def refused(fake: GitHubFake, workflow: str, ref: str, inputs: dict[str, str]) -> str:
    with pytest.raises(GithubException) as err:
        await dispatch(fake, workflow, ref, inputs)
    assert err.value.status == 422, err.value.data
    assert fake.dispatches == [] and fake.runs == {}
    return str(err.value.data["message"])


async def test_a_workflow_without_workflow_dispatch(gh: GitHubFake) -> None:
    # infra-ci.yml (as shipped) runs on pull_request and push only
    message = await refused(gh, "infra-ci.yml", "main", INPUTS)
    assert message == "Workflow does not have 'workflow_dispatch' trigger"


async def test_undeclared_inputs(gh: GitHubFake) -> None:
    message = await refused(gh, "web-ci.yml", "main", {**INPUTS, "service": "web", "force": "yes"})
    assert message == 'Unexpected inputs provided: ["service", "force"]'


async def test_missing_required_input(gh: GitHubFake) -> None:
    gh.add_workflow("ticketed.yml", source=REQUIRED_ONLY)
    message = await refused(gh, "ticketed.yml", "main", {"environment": "dev"})
    assert message == "Required input 'ticket' not provided"
    # a required input with a default may be left out: GitHub uses the default
    await dispatch(gh, "ticketed.yml", "main", {"environment": "dev", "ticket": "OPS-1"})
    assert len(gh.dispatches) == 1


async def test_more_inputs_than_github_allows(gh: GitHubFake) -> None:
    declared = "".join(f"      k{i}: {{type: string}}\n" for i in range(MAX_INPUTS + 1))
    gh.add_workflow("wide.yml", source=f"on:\n  workflow_dispatch:\n    inputs:\n{declared}jobs: {{}}\n")
    message = await refused(gh, "wide.yml", "main", {f"k{i}": "v" for i in range(MAX_INPUTS + 1)})
    assert message.startswith("Invalid request.") and f"maximum of {MAX_INPUTS}" in message
    await dispatch(gh, "wide.yml", "main", {f"k{i}": "v" for i in range(MAX_INPUTS)})  # exactly 25 pass
    assert len(gh.dispatches) == 1


async def test_an_unknown_ref_over_plain_http(gh: GitHubFake) -> None:
    url = f"{gh.url}/repos/acme/platform/actions/workflows/api-ci.yml/dispatches"
    async with aiohttp.ClientSession() as http, http.post(
        url, json={"ref": "no-such-branch", "inputs": INPUTS}, headers={"Authorization": "Bearer ghp-test"}
    ) as resp:
        body = await resp.json()
    assert resp.status == 422 and body["message"] == "No ref found for: no-such-branch"
    assert gh.dispatches == []


async def test_what_the_bot_sends_to_the_shipped_workflows_is_accepted(gh: GitHubFake) -> None:
    for workflow in ("api-ci.yml", "web-ci.yml", "build-and-deploy-lambda.yml"):
        await dispatch(gh, workflow, "main", INPUTS)
    rollback = {"service": "api", "environment": "production", "target_version": "", "request_id": "r-1"}
    await dispatch(gh, "rollback.yml", "main", rollback)
    assert [d.workflow for d in gh.dispatches] == ["api-ci.yml", "web-ci.yml", "build-and-deploy-lambda.yml",
                                                  "rollback.yml"]


async def test_contents_serves_the_workflow_file(gh: GitHubFake) -> None:
    def go() -> tuple[bytes, str]:
        content = client(gh).get_repo("acme/platform").get_contents(".github/workflows/infra-ci.yml")
        assert not isinstance(content, list)
        return content.decoded_content, content.encoding

    text, encoding = await asyncio.to_thread(go)
    assert encoding == "base64" and text.decode() == gh.workflow_sources["infra-ci.yml"]
    assert base64.b64encode(text)  # a real file body
    with pytest.raises(GithubException) as err:
        await asyncio.to_thread(lambda: client(gh).get_repo("acme/platform").get_contents(".github/workflows/x.yml"))
    assert err.value.status == 404
