"""GitHub API timeouts (issue 24 item 6): GitHub terminates a request it could not process within 10 s and answers
a timeout ("Server Error", 502 or 504; docs.github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api#
timeouts), without saying whether the request had its effect. A dispatch that ran although its answer was the timeout
must not start a second run; the sandbox's GitHub fake injects both outcomes (``GitHubFake.time_out``)."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp

from sandbox.stack import Stack, message_text, wait_for
from tests.reliability.helpers import request_id, rows, settled


async def test_a_dispatch_that_ran_but_timed_out_starts_one_run(tmp_path: Path) -> None:
    stack = Stack(database_url=f"sqlite:///{tmp_path}/bot.db")
    async with stack:
        stack.github.time_out(r"/dispatches$", processed=True, after=0.5)
        _, answer = await stack.command("U0DEV", "api v1.4.2 to dev", key="cmd")
        rid = request_id(answer)
        await wait_for(lambda: any(r.path.endswith("/dispatches") and r.status == 504 for r in stack.github.requests),
                       what="the dispatch answered 504 late")

        def card() -> str:
            return next((message_text(m) for m in stack.card_messages("C0DEPLOYS") if rid in message_text(m)), "")

        await wait_for(lambda: "succeeded" in card(), timeout=30, what="the run's webhooks finish the request")
        await settled(stack)
        assert [d.inputs["request_id"] for d in stack.github.dispatches] == [rid]  # one run, not two
        state = await rows(stack, "SELECT state, run_id FROM requests WHERE id = ?", rid)
        assert state[0]["state"] == "succeeded" and state[0]["run_id"] == stack.github.dispatches[0].run_id


async def test_the_fake_answers_a_timeout_late_with_server_error_and_runs_nothing_when_terminated() -> None:
    stack = Stack(database_url="sqlite:///:memory:")
    await stack.start_fakes()
    try:
        stack.github.time_out(r"/dispatches$", after=0.3)
        url = f"{stack.github.url}/repos/acme/platform/actions/workflows/api-ci.yml/dispatches"
        headers = {"Authorization": f"Bearer {stack.env['GITHUB_TOKEN']}"}
        body = {"ref": "v1.4.2", "inputs": {"environment": "dev", "request_id": "r-aaaaaaaa", "requested_by": "dev"}}
        async with aiohttp.ClientSession() as session:
            started = time.monotonic()
            async with session.post(url, json=body, headers=headers) as resp:
                assert resp.status == 504 and (await resp.json()) == {"message": "Server Error"}
            assert time.monotonic() - started >= 0.3
            assert stack.github.dispatches == []  # terminated before it ran
            async with session.post(url, json=body, headers=headers) as resp:  # the fault was for one request
                assert resp.status in (200, 204), await resp.text()
        assert len(stack.github.dispatches) == 1
    finally:
        await stack.stop()
