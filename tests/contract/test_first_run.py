"""A rehearsal of a team's first real run, across every part as a user installs them.

install-workflows into a fresh repository; the variables Terraform sets from infra/environments/production.tfvars;
the bot from examples/chatops.yml; GitHub's side (runs, protection rule) from the GitHub fake; AWS from moto's
server. When the bot dispatches a workflow, the fake runs the installed job for real (sandbox.actions_runner):
its `run:` scripts, its composite actions, the vendored engine with its hash-pinned requirements installed by the
job, and the OIDC subject it would present checked against the role's trust policy (tests/contract/trust.py).

Checked at each step: the bot's card, `/deploy status`, and the Lambda alias in moto.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import urllib.request
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

from sandbox import rehearsal
from sandbox.stack import Stack, message_text, wait_for

pytestmark = pytest.mark.rehearsal
FUNCTION, REPOSITORY, ALARM = "payments-api", "payments-api", "payments-api-production-5xx"


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with pytest.MonkeyPatch.context() as mp:
        for key, value in rehearsal.AWS_ENV.items():
            mp.setenv(key, value)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        endpoint = f"http://127.0.0.1:{server.get_host_and_port()[1]}"
        request = urllib.request.Request(f"{endpoint}/moto-api/config", method="POST",
                                         data=json.dumps({"lambda": {"use_docker": False}}).encode(),
                                         headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=10).close()
        try:
            yield endpoint
        finally:
            server.stop()


@pytest.fixture(scope="module")
def api_health() -> Iterator[str]:
    """The deployed API's health endpoint (API_HEALTH_URL), standing in for https://api.payments.acme.example."""

    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/health"
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def job_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return rehearsal.job_python(tmp_path_factory.mktemp("runner"))


@contextlib.asynccontextmanager
async def first_run(tmp_path: Path, moto_endpoint: str, job_bin: Path, health_url: str) -> AsyncIterator[Any]:
    repo = rehearsal.install_repository(tmp_path / "repo", tags={"v1.4.1": "", "v1.4.2": ""})
    account = rehearsal.AwsAccount(moto_endpoint)
    # what the package job pushed for each tag: the image tagged with `python -m chatops_release version`
    account.seed(function=FUNCTION, repository=REPOSITORY, releases=["1.4.1", "1.4.2"], alarms=[ALARM])
    variables = rehearsal.terraform_variables("production")
    # the only values that are not Terraform's: where the API answers health checks, and a short traffic plan
    variables["production"].update({"API_HEALTH_URL": health_url, "RELEASE_TRAFFIC_STEPS": "10,100",
                                    "RELEASE_BAKE_SECONDS": "0"})
    from . import trust

    async with Stack(database_url=f"sqlite:///{tmp_path / 'bot.db'}") as stack:
        for tag in ("v1.4.1", "v1.4.2"):
            sha = rehearsal.git_sha(repo, tag)
            stack.github.add_ref(tag, sha)
        for env in rehearsal.protected_environments("production"):
            stack.github.protect(env, "custom")
        pipeline = rehearsal.Pipeline(repo=repo, python_bin=job_bin, github=stack.github,
                                      aws_endpoint=moto_endpoint, variables=variables,
                                      assume=trust.checker("production"))
        stack.github.executor = pipeline.execute
        yield stack, account, pipeline


def _rid(answer: dict[str, Any]) -> str:
    m = re.search(r"`(r-[a-z0-9]{8})`", answer.get("text", ""))
    assert m, answer
    return m.group(1)


async def _deploy(stack: Stack, pipeline: Any, ref: str) -> str:
    status, answer = await stack.command("U0DEV", f"api {ref} to production")
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


async def test_first_run_deploys_then_rolls_back_to_a_named_version(
        tmp_path: Path, moto_endpoint: str, job_bin: Path, api_health: str) -> None:
    async with first_run(tmp_path, moto_endpoint, job_bin, api_health) as (stack, account, pipeline):
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

        status, answer = await stack.command("U0DEV", "api production to v1.4.1", command="/rollback")
        assert status == 200, answer
        await _finished(stack, pipeline, _rid(answer))
        assert account.alias(FUNCTION) == {"version": "1", "release": "1.4.1", "weights": {}}
        text = await _status(stack)
        assert "v1.4.1" in text and sha["v1.4.1"][:7] in text, text

        # every job assumed the role of its kind with the subject its environment gives it, and reported to
        # GitHub's deployments API through the engine
        roles = [role for _, result in pipeline.results for role in result.roles]
        assert roles == [("arn:aws:iam::333333333333:role/chatops-production-github-api-deploy",
                          "environment:production")] * 3
        states = [s["state"] for s in stack.github.deployment_statuses]
        assert states.count("success") == 3, states
