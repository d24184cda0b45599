"""``chatops-bot setup-github``: enable the bot's custom deployment protection rule on every gated environment.

No released Terraform provider manages custom protection rules, so this does it through the REST API
(``GET``/``POST /repos/{owner}/{repo}/environments/{env}/deployment_protection_rules`` with the App's integration
id, https://docs.github.com/en/rest/deployments/protection-rules). Idempotent: an environment whose rule is already
enabled is left alone. Run by infra-ci's production apply or by an admin (docs/environments.md).
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.config import Config
from bot.deploys.repos import GitHubRepos
from bot.errors import GitHubError


def gated_targets(config: Config) -> list[tuple[str, str]]:
    """(repository, environment) for every environment with ``gate: bot`` that some service deploys to."""
    gated = {name for name, env in config.environments.items() if env.gate == "bot"}
    return sorted({(config.repo_of(s.name), e) for s in config.services.values() for e in s.environments
                   if e in gated})


def _repos(config: Config, env: Mapping[str, str]) -> GitHubRepos:
    # An admin's or infra-ci's token (GITHUB_TOKEN, Administration: write) when given: the App's own installation
    # token may lack that permission. GITHUB_APP_ID then only names the rule's integration id.
    if env.get("GITHUB_TOKEN"):
        env = {k: v for k, v in env.items() if not k.startswith("GITHUB_APP_")}
    return GitHubRepos(env=env, base_url=env.get("GITHUB_API_URL", "https://api.github.com"),
                       repositories=lambda: config.repositories)


async def setup_github(config: Config, env: Mapping[str, str], *, dry_run: bool = False) -> list[tuple[bool, str]]:
    """Enable the rule where it is missing; one (ok, line) per gated environment saying what changed."""
    app_id = env.get("GITHUB_APP_ID", "")
    if not app_id.isdigit():
        return [(False, "GITHUB_APP_ID is not set: only a GitHub App can be a deployment protection rule")]
    repos = _repos(config, env)
    results: list[tuple[bool, str]] = []
    for repository, environment in gated_targets(config):
        where = f"{repository} environment {environment}"
        try:
            gh = await repos.client(repository)
            if int(app_id) in await gh.protection_rule_app_ids(environment):
                results.append((True, f"{where}: the bot's protection rule is already enabled (unchanged)"))
                continue
            if dry_run:
                results.append((False, f"{where}: the bot's protection rule (App {app_id}) is missing: run "
                                       "`chatops-bot setup-github`"))
                continue
            await gh.enable_protection_rule(environment, int(app_id))
        except GitHubError as exc:
            results.append((False, f"{where}: {exc}"))
            continue
        results.append((True, f"{where}: enabled the bot's protection rule (App {app_id})"))
    return results
