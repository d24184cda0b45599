"""Promotion order (issue 25 item 1): ``environments.<env>.promote_from: <source>`` lets into ``env`` only a commit
that succeeded in ``source``: by the bot's own deployment records, else by GitHub's Deployments API for ``source``.
Judged by the worker once the ref is resolved to a commit (bot.runtime.worker ``_resolve``); a refusal names the rule
and offers the last good version of ``source``."""

from __future__ import annotations

from bot.actions.changes import deployed_sha, succeeded_in
from bot.actions.github import GitHubClient
from bot.config import Config
from bot.domain import Deployment, DeployRequest, RequestKind
from bot.store.store import Store

HISTORY = 50  # the bot's own records looked at per (service, source environment)


def _offer(service: str, source: str, target: str, last: Deployment | None, github_sha: str | None) -> str:
    if last is not None:
        return (f"The last good {source} version of {service} is {last.version} ({last.sha[:7]}): "
                f"`/deploy promote {service} {source} to {target}` requests it.")
    if github_sha:
        return f"GitHub's last successful {source} deployment is {github_sha[:7]}."
    return f"Nothing of {service} has succeeded in {source} yet: deploy it there first."


async def promotion_refusal(store: Store, github: GitHubClient, config: Config, r: DeployRequest, sha: str) -> str:
    """Why ``r`` (its ref resolved to ``sha``) may not go to its environment under the promotion order, or "".
    Rollbacks and emergency deploys are not judged. Raises GitHubError when GitHub could not say."""
    env = config.environments.get(r.environment)
    if env is None or r.kind is not RequestKind.DEPLOY:
        return ""
    if r.promoted_from and r.sha and sha != r.sha:  # a promotion is for one commit: the ref must still name it
        return (f"`{r.ref}` now points at {sha[:7]}, not at {r.sha[:7]} that succeeded in {r.promoted_from}; "
                "promote a tag, or request the new commit through the promotion order")
    if r.auto_deploy and r.sha and sha != r.sha:  # auto-deploy is for one green commit (bot.deploys.auto)
        return (f"`{r.ref}` moved on to {sha[:7]} before {r.sha[:7]} started: auto-deploy takes the newer commit "
                "once its checks are green")
    if not env.promote_from or r.emergency:
        return ""
    source = env.promote_from
    async with store.unit() as u:
        history = await u.deployments(r.service, source, limit=HISTORY)
    if any(d.sha == sha for d in history) or await succeeded_in(github, source, sha):
        return ""
    last = history[0] if history else None
    github_sha = None if last is not None else await deployed_sha(github, source)
    return (f"{r.environment} takes only a commit that succeeded in {source} (rule: environments."
            f"{r.environment}.promote_from), and {r.ref} ({sha[:7]}) has not. "
            + _offer(r.service, source, r.environment, last, github_sha))
