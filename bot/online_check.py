"""``check-config --online``: contact Slack and GitHub to check what the config and the secrets promise.
One line per check (``ok`` / ``FAIL``); any failure makes the command exit non-zero. Without ``--online``
nothing is contacted."""

from __future__ import annotations

from collections.abc import Mapping

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Config
from bot.errors import GitHubError
from bot.repos import GitHubRepos


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
            for key, wf in (("workflow", svc.workflow), ("rollback_workflow", svc.rollback_workflow)):
                if not wf:
                    continue
                try:
                    found = await gh.workflow_exists(wf)
                except GitHubError as exc:
                    results.append((False, f"services.{svc.name}.{key}: {exc}"))
                    continue
                results.append((found, f"services.{svc.name}.{key}: {wf} "
                                       + ("exists" if found else f"is missing in {name}/.github/workflows")))
    return results
