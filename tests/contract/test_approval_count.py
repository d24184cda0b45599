"""How many human approvals a deploy needs in each environment, counted from what GitHub and the bot will ask,
compared with the configuration (issue 23, item 6): with `gate: bot` the chat approvals are the only ones.

GitHub asks a required reviewer once for every job that names a protected environment (each job waits for its own
review), so reviewers on an environment add one approval per such job of the deploy workflow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot.config import Config, load_config
from tests.infra import tfcheck

ROOT = Path(__file__).resolve().parents[2]
CONFIG = load_config(ROOT / "examples" / "chatops.yml", env={"TEAMS_OPS_WEBHOOK_URL": "https://example.invalid/x"})
GITHUB_TFVARS = ROOT / "infra" / "environments" / "production.tfvars"  # the one state that manages GitHub


def jobs_naming_an_environment(workflow: str) -> list[str]:
    """Jobs of the workflow, and of the reusable workflows it calls, that name an environment."""
    doc: dict[Any, Any] = yaml.safe_load((ROOT / "workflows" / workflow).read_text())
    found: list[str] = []
    for name, job in doc["jobs"].items():
        if job.get("environment"):
            found.append(name)
        called = str(job.get("uses", ""))
        if called.startswith("./.github/workflows/"):
            found += [f"{name}/{inner}" for inner in jobs_naming_an_environment(called.rsplit("/", 1)[-1])]
    return found


def approvals_needed(config: Config, environments: dict[str, Any], service: str, env: str) -> int:
    spec = environments.get(env, {})
    has_reviewers = bool(spec.get("reviewer_team_ids") or spec.get("reviewer_user_ids"))
    github = len(jobs_naming_an_environment(config.services[service].workflow)) if has_reviewers else 0
    return config.environments[env].approvals + github


def test_each_environment_asks_exactly_the_configured_approvals() -> None:
    environments = tfcheck.load_file(GITHUB_TFVARS)["github_environments"]
    counted = {(s, e): approvals_needed(CONFIG, environments, s, e)
               for s, svc in CONFIG.services.items() for e in svc.environments}
    expected = {(s, e): CONFIG.environments[e].approvals for s, e in counted}
    assert counted == expected
    assert expected[("api", "production")] == 1 and expected[("api", "dev")] == 0


def test_github_reviewers_on_top_of_gate_bot_are_counted() -> None:
    # the previous production.tfvars: a reviewer team (and a wait timer) on top of the chat approval
    environments = tfcheck.load_file(GITHUB_TFVARS)["github_environments"]
    environments["production"] = {**environments["production"], "reviewer_team_ids": [4242424]}
    jobs = jobs_naming_an_environment("api-ci.yml")
    assert len(jobs) >= 2  # the image job and the release job each wait
    assert approvals_needed(CONFIG, environments, "api", "production") == 1 + len(jobs)


def test_gate_bot_environments_have_no_wait_timer_by_default() -> None:
    environments = tfcheck.load_file(GITHUB_TFVARS)["github_environments"]
    for env, cfg in CONFIG.environments.items():
        if cfg.gate == "bot":
            assert environments[env].get("wait_timer", 0) == 0, env
            assert environments[env].get("use_protection_rule") is True, env
