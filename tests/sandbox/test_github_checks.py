"""The GitHub fake's check suites endpoint and its push / check_suite / status webhooks (sandbox/github_checks.py),
through PyGithub (the client the bot uses) and against GitHub's published payload examples."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from github import Auth, Github, GithubException

from sandbox.github_fake import GitHubFake
from sandbox.paths import PUBLISHED_FIXTURES
from tests.sandbox.conftest import Receiver

SECRET = "hook-secret"


@pytest.fixture
async def gh(receiver: Receiver) -> AsyncIterator[GitHubFake]:
    async with GitHubFake(webhook_url=receiver.url, webhook_secret=SECRET, step_delay=0.01) as fake:
        yield fake


async def get(fake: GitHubFake, path: str, **params: Any) -> Any:
    def go() -> Any:
        g = Github(auth=Auth.Token("ghp-test"), base_url=fake.url, retry=None, seconds_between_requests=0,
                   seconds_between_writes=0)
        return g.requester.requestJsonAndCheck("GET", f"/repos/acme/platform{path}", parameters=params or None)[1]

    return await asyncio.to_thread(go)


def published(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PUBLISHED_FIXTURES / "github" / "events" / name).read_text())
    return data


async def test_check_suites_list_by_sha_or_branch_and_filter_by_app(gh: GitHubFake) -> None:
    sha = await gh.push("main", send=False)
    gh.suite(sha, "github-actions", status="completed", conclusion="success")
    gh.suite(sha, "codecov", status="queued", runs=0)
    by_sha = await get(gh, f"/commits/{sha}/check-suites")
    assert by_sha["total_count"] == 2
    suite = by_sha["check_suites"][0]
    assert (suite["head_sha"], suite["status"], suite["conclusion"], suite["latest_check_runs_count"],
            suite["app"]["slug"]) == (sha, "completed", "success", 1, "github-actions")
    by_branch = await get(gh, "/commits/main/check-suites")  # a branch name names its head commit
    assert by_branch["check_suites"] == by_sha["check_suites"]
    only = await get(gh, f"/commits/{sha}/check-suites", app_id=str(suite["app"]["id"]))
    assert [s["app"]["slug"] for s in only["check_suites"]] == ["github-actions"]
    page = await get(gh, f"/commits/{sha}/check-suites", per_page="1", page="2")
    assert page["total_count"] == 2 and [s["app"]["slug"] for s in page["check_suites"]] == ["codecov"]


async def test_an_unknown_ref_is_refused_422(gh: GitHubFake) -> None:
    with pytest.raises(GithubException) as exc:
        await get(gh, "/commits/no-such-branch/check-suites")
    assert exc.value.status == 422 and "No commit found for SHA" in str(exc.value.data)


async def test_webhooks_carry_the_published_fields(gh: GitHubFake, receiver: Receiver) -> None:
    sha = await gh.push("main", author="dev-gh")
    await gh.finish_suite(sha)
    await gh.post_status(sha, "ci/circleci", "success")
    events = dict(receiver.events())
    for event, example in (("push", "push.1.octokit.json"), ("check_suite", "check_suite.completed.1.octokit.json"),
                           ("status", "status.octokit.json")):
        want = published(example)
        got = events[event]
        assert set(want) - {"organization"} <= set(got), (event, set(want) - set(got))
    assert set(published("check_suite.completed.1.octokit.json")["check_suite"]) <= set(events["check_suite"]
                                                                                       ["check_suite"])
    assert events["push"]["after"] == sha and events["push"]["sender"]["login"] == "dev-gh"
    assert events["check_suite"]["check_suite"]["conclusion"] == "success"
    assert receiver.signature_ok(SECRET)
