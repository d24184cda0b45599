from __future__ import annotations

import pytest

from bot.actions.release import DeploymentsClient, GitHubError, GitHubReporter, InvalidInput

from .fakes import FakeGitHub


def client(github: FakeGitHub, token: str | None = None) -> DeploymentsClient:
    return DeploymentsClient(
        repository=github.repository, token=token or github.token, api_url=github.url, backoff=0
    )


def test_deployment_then_statuses(github: FakeGitHub) -> None:
    api = client(github)
    deployment_id = api.create_deployment(
        ref="v1.2.0", environment="production", description="api", payload={"request_id": "r-1"}
    )
    body = github.deployments[deployment_id]
    assert body["ref"] == "v1.2.0" and body["production_environment"] is True
    assert body["required_contexts"] == [] and body["auto_merge"] is False
    for state in ("in_progress", "success", "inactive"):
        api.create_status(
            deployment_id,
            state=state,
            description="x" * 300,
            log_url="https://github.com/acme/shop/actions/runs/1",
            environment_url="https://shop.example.com",
        )
    assert github.states(deployment_id) == ["in_progress", "success", "inactive"]
    assert all(len(s["description"]) <= 140 for s in github.statuses[deployment_id])
    assert github.errors == []


def test_invalid_state_is_rejected_before_sending(github: FakeGitHub) -> None:
    with pytest.raises(InvalidInput):
        client(github).create_status(1000, state="done")


def test_transient_errors_are_retried_client_errors_are_not(github: FakeGitHub) -> None:
    github.fail_next = [502, 503]
    assert client(github).create_deployment(ref="main", environment="dev") == 1000
    with pytest.raises(GitHubError) as caught:
        client(github, token="wrong").create_deployment(ref="main", environment="dev")
    assert caught.value.status == 401
    with pytest.raises(GitHubError, match="404"):
        client(github).create_status(99, state="success")


def test_reporter_never_raises(github: FakeGitHub) -> None:
    reporter = GitHubReporter(client=client(github), deployment_id=12345)
    reporter.report("success", "done")
    assert reporter.failures and "404" in reporter.failures[0]


def test_from_env_requires_token_and_repo() -> None:
    assert DeploymentsClient.from_env({"GITHUB_REPOSITORY": "a/b"}) is None
    made = DeploymentsClient.from_env({"GITHUB_REPOSITORY": "a/b", "GITHUB_TOKEN": "t"})
    assert made is not None and made.api_url == "https://api.github.com"
    with pytest.raises(InvalidInput):
        DeploymentsClient(repository="not a repo", token="t")
