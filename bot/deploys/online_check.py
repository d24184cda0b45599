"""``check-config --online``: contact Slack and GitHub to check what the config and the secrets promise.
One line per check (``ok`` / ``FAIL``); any failure makes the command exit non-zero. Without ``--online``
nothing is contacted."""

from __future__ import annotations

from collections.abc import Mapping

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.actions.github import GitHubClient
from bot.config import Config
from bot.contract import DEPLOY_INPUTS, ROLLBACK_INPUTS
from bot.deploys.repos import GitHubRepos
from bot.deploys.setup_github import setup_github
from bot.deploys.workflow_check import dispatch_problems
from bot.errors import GitHubError


async def online_checks(config: Config, env: Mapping[str, str]) -> list[tuple[bool, str]]:
    results: list[tuple[bool, str]] = []
    if env.get("SLACK_BOT_TOKEN"):
        client = AsyncWebClient(token=env["SLACK_BOT_TOKEN"], base_url=env.get("SLACK_API_URL",
                                                                                 "https://slack.com/api/"))
        try:
            answer = await client.auth_test()
            results.append((True, f"slack: the bot token works (team {answer.get('team_id', '?')})"))
        except SlackApiError as exc:
            results.append((False, f"slack: the bot token was refused ({exc.response.get('error', '?')})"))
        except Exception as exc:  # any network fault is one failed check
            results.append((False, f"slack: cannot reach the API ({type(exc).__name__})"))
    repos = GitHubRepos(env=env, base_url=env.get("GITHUB_API_URL", "https://api.github.com"),
                        repositories=lambda: config.repositories)
    for name in sorted({config.repo_of(s) for s in config.services} | {config.repository}):
        try:
            gh = await repos.client(name)
            branch = await gh.default_branch()
        except GitHubError as exc:
            results.append((False, f"github {name}: {exc}"))
            continue
        results.append((True, f"github {name}: credentials work (default branch {branch})"))
        for svc in sorted((s for s in config.services.values() if config.repo_of(s.name).lower() == name.lower()),
                          key=lambda s: s.name):
            for key, wf, sent in (("workflow", svc.workflow, DEPLOY_INPUTS),
                                  ("rollback_workflow", svc.rollback_workflow, ROLLBACK_INPUTS)):
                if wf:
                    results.append(await _workflow_check(gh, f"services.{svc.name}.{key}", wf, sent, name))
    if env.get("GITHUB_APP_ID"):  # without an App there is no rule to look for (check-config warns about that)
        results.extend(await setup_github(config, env, dry_run=True))
    return results


async def _workflow_check(gh: GitHubClient, where: str, workflow: str, sent: tuple[str, ...],
                          repository: str) -> tuple[bool, str]:
    """Fetch the workflow file and check its trigger and every input the bot will send."""
    try:
        source = await gh.workflow_file(workflow)
    except GitHubError as exc:
        return False, f"{where}: {exc}"
    if source is None:
        return False, f"{where}: {workflow} is missing in {repository}/.github/workflows"
    problems = dispatch_problems(source, sent)
    if problems:
        return False, f"{where}: {workflow} " + "; ".join(problems)
    return True, f"{where}: {workflow} accepts the bot's dispatch ({', '.join(sent)})"
