"""Issue 14.1: services in their own repositories. Everything that touches GitHub uses the service's repository;
webhooks are accepted from every configured repository and from nothing else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from chatops.app import STORE
from sandbox.stack import EXAMPLE_CONFIG, Stack, message_text, wait_for


def org_config(tmp_path: Path, edit: Any = None) -> Path:
    data = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    data["services"]["api"]["repository"] = "acme/api"
    data["services"]["web"]["repository"] = "acme/web"
    if edit:
        edit(data)
    path = tmp_path / "chatops.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def org_stack(tmp_path: Path, *, edit: Any = None, extra_env: dict[str, str] | None = None) -> Stack:
    stack = Stack(database_url=f"sqlite:///{tmp_path}/bot.db", config_path=org_config(tmp_path, edit),
                  extra_env=extra_env)
    stack.github.add_repository("acme/api")
    stack.github.add_repository("acme/web")
    return stack


async def _states(stack: Stack) -> dict[str, str]:
    assert stack.app is not None
    async with stack.app[STORE].unit() as u:
        return {r["id"]: r["state"] for r in await u.c.fetch("SELECT id, state FROM requests")}


async def test_each_service_dispatches_in_its_own_repository(tmp_path: Path) -> None:
    async with org_stack(tmp_path) as stack:
        api, web = stack.github.repo("acme/api"), stack.github.repo("acme/web")
        _, answer = await stack.command("U0DEV", "api v1.4.2 to staging")
        rid = answer["text"].split("`")[1]
        await wait_for(lambda: len(api.dispatches) == 1, what="dispatch in acme/api")
        await wait_for(lambda: (api.runs[api.dispatches[0].run_id].status == "completed"), what="api run done")
        await wait_for(lambda: any(rid in message_text(m) and "acme/api" in message_text(m)
                                   and "succeeded" in message_text(m) for m in stack.card_messages("C0DEPLOYS")),
                       what="api card names acme/api and shows success")
        calls = [r.path for r in stack.github.all_requests() if r.path.startswith("/repos/")]
        assert calls and all(p.startswith("/repos/acme/api/") for p in calls), calls
        assert stack.github.dispatches == [] and web.dispatches == []

        # a run in acme/web (a push, not from chat) gets the web service's card
        before = len(stack.card_messages("C0DEPLOYS"))
        run = await web.start_run("web-ci.yml", "main", inputs={"environment": "staging"}, event="push")
        await wait_for(lambda: any(f"acme/web/actions/runs/{run.id}" in message_text(m)
                                   and "Deploy web" in message_text(m) and "web-ci.yml · acme/web" in message_text(m)
                                   for m in stack.card_messages("C0DEPLOYS")), what="web card")
        assert len(stack.card_messages("C0DEPLOYS")) == before + 1
        _, status = await stack.command("U0DEV", "status api")
        assert "acme/api" in status["text"]


async def test_a_webhook_from_an_unconfigured_repository_changes_nothing(tmp_path: Path) -> None:
    async with org_stack(tmp_path) as stack:
        other = stack.github.add_repository("acme/other")  # exists on GitHub, not in the config
        before = await _states(stack)
        await other.start_run("web-ci.yml", "main", inputs={"environment": "staging"}, event="push")
        await other.wait_idle()
        answers = [d for d in stack.github.deliveries if d.status]
        assert answers and all(d.status == 202 for d in answers[-3:])
        assert await _states(stack) == before
        _, metrics = await stack.get("/metrics")
        assert 'chatops_ignored_total{reason="other_repository",source="github"}' in metrics


async def test_rollback_runs_at_the_service_repositorys_default_branch(tmp_path: Path) -> None:
    async with org_stack(tmp_path) as stack:
        api = stack.github.repo("acme/api")
        api.default_branch = "trunk"
        api.add_ref("trunk", kind="branch")
        await stack.command("U0DEV", "api staging", command="/rollback")
        await wait_for(lambda: len(api.dispatches) == 1, what="rollback dispatch in acme/api")
        assert api.dispatches[0].workflow == "rollback.yml" and api.dispatches[0].ref == "trunk"
        assert any(r.path == "/repos/acme/api" for r in api.requests), "default branch read from the API"


def test_check_config_validates_repositories_and_reports_duplicates(tmp_path: Path) -> None:
    from bot.config import parse_config
    from bot.errors import ConfigError

    data = yaml.safe_load(org_config(tmp_path).read_text())
    data["services"]["web"]["repository"] = "not a repo"
    data["services"]["worker"]["repository"] = "acme/api"
    data["services"]["worker"]["workflow"] = "api-ci.yml"
    try:
        parse_config(data, env={"TEAMS_OPS_WEBHOOK_URL": "https://x"})
    except ConfigError as exc:
        text = "\n".join(exc.problems)
    else:
        raise AssertionError("config accepted")
    assert "services.web.repository: 'not a repo' is not valid: expected owner/name" in text
    assert "services.worker.workflow: api-ci.yml in acme/api is already services.api's workflow" in text


def test_the_callback_guard_accepts_exactly_the_configured_repositories() -> None:
    from bot.deploys.repos import GitHubRepos

    repos = GitHubRepos(env={"GITHUB_TOKEN": "t"}, base_url="http://127.0.0.1:9/",
                        repositories=lambda: ("acme/platform", "acme/api"))
    ok = "http://127.0.0.1:9/repos/acme/api/actions/runs/12/deployment_protection_rule"
    assert repos.callback_repository(ok) == "acme/api"
    assert repos.callback_repository(ok.replace("acme/api", "ACME/Platform")) == "ACME/Platform"
    for bad in (ok.replace("acme/api", "acme/other"), ok.replace("127.0.0.1:9", "evil.example"),
                ok.replace("/12/", "/12/../"), ok + "/x", ok.replace("runs/12", "runs/abc")):
        assert repos.callback_repository(bad) == "", bad
