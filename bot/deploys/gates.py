"""The one rule for GitHub's custom deployment protection rule (docs/configuration.md, "Gates"), as a pure function.

When GitHub asks the bot whether a run may deploy into an environment, the bot answers for every gate:

- a run the bot dispatched after a chat decision is approved (its approvals were collected in chat, or it needed none);
- a run started elsewhere (push, Actions UI, another tool) gets the chat policy of the environment asked for: it waits
  for approval in chat when the environment needs approvals, whatever the gate; otherwise it is approved unless a
  lock or a freeze blocks it;
- the environment judged and answered is the one in the protection-rule request: a run whose request is for another
  environment (or another commit) is refused.

``gate`` decides only *when* a chat request is dispatched: ``bot`` holds it until approved, ``github`` dispatches at
once and collects the approvals when the run asks at the protection rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.config import Config
from bot.domain import DeployRequest, Platform, RequestState

__all__ = ["Verdict", "gate_warnings", "judge"]


@dataclass(frozen=True, slots=True)
class Verdict:
    answer: str  # "approve" | "wait" (for approvals in chat) | "refuse"
    reason: str = ""
    required: int = 0  # approvals the request needs
    keep_request: bool = False  # refuse this protection-rule request only; the request itself stands


def judge(config: Config, r: DeployRequest, *, environment: str, sha: str, approvals: int, blocked: str) -> Verdict:
    """What to answer GitHub for request ``r`` asking to deploy commit ``sha`` into ``environment``, given the chat
    approvals already recorded and whether a lock or a freeze blocks that environment ("" = not blocked)."""
    env = config.environments.get(environment)
    if env is None:
        return Verdict("refuse", f"{environment} is not a configured environment")
    if r.environment and r.environment != environment:
        return Verdict("refuse", f"this run belongs to {r.id}, a request for {r.environment}, not {environment}",
                       keep_request=True)
    if r.sha and sha and r.sha != sha:
        return Verdict("refuse", f"the run deploys {sha[:7]}, but {r.id} is for {r.sha[:7]}", keep_request=True)
    if r.state.final and r.state not in (RequestState.SUCCEEDED, RequestState.FAILED):
        return Verdict("refuse", f"{r.id} is {r.state.value.replace('_', ' ')}", keep_request=True)
    external = r.requester_platform is Platform.GITHUB
    if blocked and external:  # chat requests were checked (or forced by an admin) when they were made
        return Verdict("refuse", blocked)
    required = env.approvals if external else r.approvals_required  # chat requests carry their decision
    return Verdict("approve" if approvals >= required else "wait", required=required)


def gate_warnings(config: Config, env: Mapping[str, str]) -> list[str]:
    """Where the bot can tell that its gates and GitHub disagree (printed by ``check-config``; not errors)."""
    if env.get("GITHUB_APP_ID"):
        return []
    out = []
    for name, e in sorted(config.environments.items()):
        if e.gate == "github":
            out.append(f"environments.{name}.gate: github needs the bot's custom deployment protection rule, which "
                       f"only a GitHub App can be (GITHUB_APP_ID is not set): runs into {name} would never be "
                       "approved. Configure the App (infra: use_protection_rule = true, chatops_app_id) or use "
                       "gate: bot")
        elif e.approvals:
            out.append(f"environments.{name}: approvals are enforced for chat requests only; without the GitHub App's "
                       f"protection rule (GITHUB_APP_ID is not set) runs started in GitHub deploy to {name} "
                       "without them")
    return out
