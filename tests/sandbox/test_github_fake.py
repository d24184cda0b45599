from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from github import Auth, Github, GithubException

from sandbox.github_fake import GitHubFake
from sandbox.schemas import validate_github_payload
from tests.sandbox.conftest import Receiver

SECRET = "hook-secret"


@pytest.fixture
async def gh(receiver: Receiver) -> AsyncIterator[GitHubFake]:
    async with GitHubFake(webhook_url=receiver.url, webhook_secret=SECRET, step_delay=0.01) as fake:
        yield fake


def client(fake: GitHubFake, token: str = "ghp-test") -> Github:
    # PyGithub throttles itself (0.25 s between requests, 1 s between writes); not needed on loopback
    return Github(
        auth=Auth.Token(token),
        base_url=fake.url,
        retry=None,
        seconds_between_requests=0,
        seconds_between_writes=0,
    )


async def dispatch(fake: GitHubFake, ref: str, inputs: dict, **kw: object) -> object:
    def go() -> object:
        wf = client(fake).get_repo("acme/platform").get_workflow("api-ci.yml")
        return wf.create_dispatch(ref, inputs, throw=True, **kw)

    return await asyncio.to_thread(go)


INPUTS = {"environment": "staging", "request_id": "req-42", "requested_by": "dev-gh"}


async def test_dispatch_returns_run_details_and_run_completes(gh: GitHubFake, receiver: Receiver) -> None:
    run = await dispatch(gh, "v1.4.2", INPUTS, return_run_details=True)
    assert run.id == gh.dispatches[0].run_id and run.html_url.endswith(f"/actions/runs/{run.id}")
    assert gh.dispatches[0].workflow == "api-ci.yml" and gh.dispatches[0].inputs == INPUTS
    await gh.wait_idle()
    full = await asyncio.to_thread(lambda: client(gh).get_repo("acme/platform").get_workflow_run(run.id))
    assert (full.status, full.conclusion, full.event) == ("completed", "success", "workflow_dispatch")
    assert "[req-42]" in full.display_title and full.head_sha == gh.tags["v1.4.2"]
    events = [(e, p["action"]) for e, p in receiver.events()]
    assert events == [
        ("workflow_run", "requested"),
        ("workflow_job", "queued"),
        ("workflow_run", "in_progress"),
        ("workflow_job", "in_progress"),
        ("workflow_job", "completed"),
        ("workflow_run", "completed"),
    ]
    assert receiver.signature_ok(SECRET)
    for headers, _ in receiver.received:
        assert headers["User-Agent"] == "GitHub-Hookshot/fake" and len(headers["X-GitHub-Delivery"]) == 36
    for event, payload in receiver.events():
        assert validate_github_payload(event, payload) == [], (event, payload["action"])


async def test_failure_conclusion_and_jobs(gh: GitHubFake, receiver: Receiver) -> None:
    gh.next_conclusion = "failure"
    run = await dispatch(gh, "main", INPUTS, return_run_details=True)
    await gh.wait_idle()
    jobs = await asyncio.to_thread(
        lambda: list(client(gh).get_repo("acme/platform").get_workflow_run(run.id).jobs())
    )
    assert jobs[0].conclusion == "failure"
    assert [s.conclusion for s in jobs[0].steps] == ["success", "failure", "success"]
    completed = [p for e, p in receiver.events() if e == "workflow_run" and p["action"] == "completed"]
    assert completed[0]["workflow_run"]["conclusion"] == "failure"


async def test_legacy_server_ignores_return_run_details(gh: GitHubFake) -> None:
    gh.legacy_dispatch = True
    assert await dispatch(gh, "v1.4.1", INPUTS, return_run_details=True) is True
    runs = await asyncio.to_thread(
        lambda: list(client(gh).get_repo("acme/platform").get_workflow_runs(event="workflow_dispatch"))
    )
    assert "[req-42]" in runs[0].display_title


async def test_dispatch_contract_errors(gh: GitHubFake) -> None:
    with pytest.raises(GithubException) as err:
        await dispatch(gh, "v9.9.9", INPUTS)
    assert err.value.status == 422 and err.value.data["message"] == "No ref found for: v9.9.9"
    with pytest.raises(GithubException) as err:
        await dispatch(gh, "main", {"environment": True})
    assert err.value.status == 422
    with pytest.raises(GithubException) as err:
        await dispatch(gh, "main", {f"k{i}": "v" for i in range(26)})
    assert err.value.status == 422
    with pytest.raises(GithubException) as err:
        await asyncio.to_thread(lambda: client(gh).get_repo("acme/platform").get_workflow("nope.yml"))
    assert err.value.status == 404
    with pytest.raises(GithubException) as err:
        await asyncio.to_thread(lambda: client(gh, "wrong").get_repo("acme/platform"))
    assert err.value.status == 401 and err.value.data["message"] == "Bad credentials"
    with pytest.raises(GithubException) as err:
        await asyncio.to_thread(lambda: client(gh).get_repo("acme/other"))
    assert err.value.status == 404
    assert gh.dispatches == []


async def test_fault_injection(gh: GitHubFake) -> None:
    gh.fail(r"/dispatches$", status=502, times=1)
    with pytest.raises(GithubException) as err:
        await dispatch(gh, "main", INPUTS)
    assert err.value.status == 502 and gh.dispatches == []
    await dispatch(gh, "main", INPUTS)
    assert len(gh.dispatches) == 1


async def test_refs_commits_compare(gh: GitHubFake) -> None:
    sha = gh.add_ref("v1.5.0")
    repo = await asyncio.to_thread(lambda: client(gh).get_repo("acme/platform"))
    assert (await asyncio.to_thread(repo.get_commit, "v1.5.0")).sha == sha
    assert (await asyncio.to_thread(repo.get_branch, "main")).commit.sha == gh.branches["main"]
    assert (await asyncio.to_thread(repo.get_git_ref, "tags/v1.5.0")).object.sha == sha
    cmp = await asyncio.to_thread(repo.compare, "v1.4.2", "v1.5.0")
    assert cmp.ahead_by == 1 and cmp.status == "ahead"
    with pytest.raises(GithubException) as err:
        await asyncio.to_thread(repo.get_commit, "nope")
    assert err.value.status == 422


async def test_runs_filters(gh: GitHubFake) -> None:
    await dispatch(gh, "main", INPUTS)
    await gh.start_run("web-ci.yml", "main", event="push")
    await gh.wait_idle()
    repo = await asyncio.to_thread(lambda: client(gh).get_repo("acme/platform"))
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert (await asyncio.to_thread(lambda: repo.get_workflow_runs(event="push").totalCount)) == 1
    assert (await asyncio.to_thread(lambda: repo.get_workflow_runs(created=f">={today}").totalCount)) == 2
    assert (await asyncio.to_thread(lambda: repo.get_workflow_runs(created="<2000-01-01").totalCount)) == 0
    assert (await asyncio.to_thread(lambda: repo.get_workflow_runs(status="queued").totalCount)) == 0


async def test_protection_rule_round_trip(gh: GitHubFake, receiver: Receiver) -> None:
    gh.protect("production")
    run = await dispatch(gh, "v1.4.2", {**INPUTS, "environment": "production"}, return_run_details=True)
    for _ in range(100):
        if any(e == "deployment_protection_rule" for e, _ in receiver.events()):
            break
        await asyncio.sleep(0.01)
    event = next(p for e, p in receiver.events() if e == "deployment_protection_rule")
    assert validate_github_payload("deployment_protection_rule", event) == []
    assert gh.runs[run.id].status == "waiting"
    callback = event["deployment_callback_url"]
    headers = {"Authorization": "token ghp-test"}
    async with aiohttp.ClientSession() as http:
        async with http.post(
            callback, json={"environment_name": "staging", "state": "approved"}, headers=headers
        ) as r:
            assert r.status == 422
        async with http.post(
            callback,
            json={"environment_name": "production", "state": "approved", "comment": "approved by lead"},
            headers=headers,
        ) as r:
            assert r.status == 204
    await gh.wait_idle()
    assert gh.runs[run.id].conclusion == "success"
    assert gh.reviews[0].body["state"] == "approved"
    for event_name, payload in receiver.events():
        assert validate_github_payload(event_name, payload) == [], (event_name, payload["action"])


async def test_pending_deployments_reject(gh: GitHubFake) -> None:
    gh.protect("production", kind="reviewers")
    run = await dispatch(gh, "main", {**INPUTS, "environment": "production"}, return_run_details=True)
    url = f"{gh.url}/repos/acme/platform/actions/runs/{run.id}/pending_deployments"
    headers = {"Authorization": "Bearer ghp-test"}
    async with aiohttp.ClientSession() as http:
        pending: list = []
        for _ in range(100):
            async with http.get(url, headers=headers) as r:
                pending = await r.json()
            if pending:
                break
            await asyncio.sleep(0.01)
        env_id = pending[0]["environment"]["id"]
        async with http.post(
            url, json={"environment_ids": [env_id], "state": "rejected"}, headers=headers
        ) as r:
            assert r.status == 422  # comment is required
        async with http.post(
            url, json={"environment_ids": [env_id], "state": "rejected", "comment": "no"}, headers=headers
        ) as r:
            assert r.status == 200
    await gh.wait_idle()
    assert gh.runs[run.id].conclusion == "failure"


async def test_send_webhook_and_redeliver(gh: GitHubFake, receiver: Receiver) -> None:
    delivery = await gh.send_webhook("ping", {"zen": "Keep it logically awesome.", "hook_id": 1})
    again = await gh.redeliver(delivery.delivery_id)
    assert delivery.status == 202 and again.delivery_id == delivery.delivery_id
    ids = [h["X-GitHub-Delivery"] for h, _ in receiver.received]
    assert ids == [delivery.delivery_id] * 2 and receiver.signature_ok(SECRET)


async def test_app_installation_token() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    async with GitHubFake(app_id=4242, app_public_key=public, installation_id=77) as fake:
        auth = Auth.AppAuth(4242, private).get_installation_auth(77)
        g = Github(auth=auth, base_url=fake.url, retry=None, seconds_between_requests=0)
        repo = await asyncio.to_thread(g.get_repo, "acme/platform")
        assert repo.full_name == "acme/platform" and fake.installation_tokens
        now = int(time.time())
        too_long = jwt.encode({"iat": now, "exp": now + 3600, "iss": "4242"}, private, algorithm="RS256")
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{fake.url}/app/installations/77/access_tokens",
                headers={"Authorization": f"Bearer {too_long}"},
            ) as r,
        ):
            assert r.status == 401


def test_slow_answers_only_within_githubs_timeout_window() -> None:
    """GitHub terminates a request it takes more than 10 s to process (a timeout): the fake's slow success stays
    inside that window; longer is ``time_out``."""
    fake = GitHubFake()
    fake.slow(r"/runs$", 1.5)
    with pytest.raises(ValueError, match="time_out"):
        fake.slow(r"/runs$", 10.0)
