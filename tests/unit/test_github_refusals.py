"""Which GitHub answers are passing (retried) and which are refusals (said to the user): a rate limit answers 403 or
429, the primary one with ``x-ratelimit-remaining: 0``, a secondary one with a message saying so and maybe
``retry-after`` (docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api#exceeding-the-rate-limit;
older GHES: "abuse detection mechanism"); any other 403 is a refusal. Through the real client against the GitHub
fake where the fake can say it, else PyGithub's own exception as the client raises it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from github import Auth, GithubException

from bot.actions.github import GitHubClient, translate
from bot.errors import GitHubError
from sandbox.github_fake import GitHubFake


@pytest.fixture
async def fake() -> AsyncIterator[GitHubFake]:
    async with GitHubFake(step_delay=0.01) as f:
        yield f


async def _refusal(fake: GitHubFake) -> GitHubError:
    gh = GitHubClient(repository="acme/platform", auth=Auth.Token("ghp-test"), base_url=fake.url, throttle=False)
    with pytest.raises(GitHubError) as caught:
        await gh.resolve_sha("v1.4.2")
    return caught.value


async def test_a_403_with_retry_after_is_passing_and_a_bare_403_is_a_refusal(fake: GitHubFake) -> None:
    fake.fail(r"/commits/", 403, retry_after=60)
    assert (await _refusal(fake)).transient
    fake.fail(r"/commits/", 403)
    refused = await _refusal(fake)
    assert not refused.transient and refused.status == 403


@pytest.mark.parametrize(("message", "headers", "transient"), [
    ("You have exceeded a secondary rate limit. Please wait a few minutes before you try again.", {}, True),
    ("API rate limit exceeded for installation ID 1.", {"X-RateLimit-Remaining": "0"}, True),
    ("Forbidden", {"x-ratelimit-remaining": "0"}, True),
    ("You have triggered an abuse detection mechanism. Please wait a few minutes before you try again.", {}, True),
    ("Resource not accessible by integration", {"X-RateLimit-Remaining": "4999"}, False),
    ("Must have admin rights to Repository.", {}, False),
])
def test_403s(message: str, headers: dict[str, str], transient: bool) -> None:
    exc = GithubException(403, {"message": message}, headers)
    assert translate(exc, "reading").transient is transient
