"""Issue 25 item 2: ``services.<svc>.auto_deploy`` is validated with its key path (bot.runtime.validate, shared by
serve, check-config and reload), and the webhooks it reads parse from GitHub's published payload examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import parse_config
from bot.deploys.auto_settings import AutoDeploy, auto_deploys, branch_problem
from bot.domain import CheckUpdate, PushUpdate
from handlers.github_parse import BadPayload, parse_event
from sandbox.paths import PUBLISHED_FIXTURES
from tests.unit.test_config import EXAMPLE, SECRETS, TEAMS_ENV, check_config, error_lines

EVENTS = PUBLISHED_FIXTURES / "github" / "events"


def config_with(auto: Any, service: str = "api") -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    data["services"][service]["auto_deploy"] = auto
    return data


def problems(auto: Any) -> list[str]:
    from bot.errors import ConfigError

    try:
        auto_deploys(parse_config(config_with(auto), env=TEAMS_ENV))
    except ConfigError as exc:
        return exc.problems
    return []


def test_a_valid_setting_is_read() -> None:
    config = parse_config(config_with({"environment": "dev", "branch": "main"}), env=TEAMS_ENV)
    assert auto_deploys(config) == {"api": AutoDeploy("api", "dev", "main")}


@pytest.mark.parametrize(("auto", "wanted"), [
    ({"environment": "qa", "branch": "main"}, "services.api.auto_deploy.environment: unknown environment 'qa'"),
    ({"branch": "main"}, "services.api.auto_deploy.environment: is required"),
    ({"environment": "dev", "branch": "feature/*"}, "services.api.auto_deploy.branch: must be a branch name"),
    ({"environment": "dev", "branch": "a..b"}, "services.api.auto_deploy.branch: must be a branch name"),
    ({"environment": "dev", "branch": "refs/heads/main"}, "services.api.auto_deploy.branch: must be a branch name"),
    ({"environment": "dev"}, "services.api.auto_deploy.branch: is required"),
    ({"environment": "dev", "branch": 7}, "services.api.auto_deploy.branch: is required"),
    ({"environment": "dev", "branch": "main", "when": "always"}, "services.api.auto_deploy.when: unknown key"),
    ("dev", "services.api.auto_deploy: must be a mapping"),
])
def test_every_problem_names_its_key(auto: Any, wanted: str) -> None:
    found = problems(auto)
    assert any(p.startswith(wanted) for p in found), found


def test_an_environment_the_service_does_not_deploy_to_is_refused() -> None:
    data = config_with({"environment": "dev", "branch": "main"})
    data["services"]["api"]["environments"] = ["staging", "production"]
    from bot.errors import ConfigError

    with pytest.raises(ConfigError) as exc:
        auto_deploys(parse_config(data, env=TEAMS_ENV))
    assert exc.value.problems == ["services.api.auto_deploy.environment: api does not deploy to 'dev' "
                                  "(services.api.environments: staging, production)"]


@pytest.mark.parametrize("name", ["main", "release/2026-12", "feature_x", "v1.x"])
def test_branch_names_git_takes(name: str) -> None:
    assert branch_problem(name) == ""


@pytest.mark.parametrize("name", ["", "-x", "x/", "x.lock", "a b", "a~1", "x@{1}", "a//b", ".hidden", "x.", "*"])
def test_branch_names_git_refuses(name: str) -> None:
    assert branch_problem(name)


def test_check_config_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "chatops.yml"
    path.write_text(yaml.safe_dump(config_with({"environment": "qa", "branch": "bad branch"})))
    done = check_config(path, SECRETS)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    lines = error_lines(done.stderr)
    assert any(line.startswith("error: services.api.auto_deploy.environment: unknown environment 'qa'")
               for line in lines), lines
    assert any(line.startswith("error: services.api.auto_deploy.branch: must be a branch name") for line in lines)


# ---------------------------------------------------------------------------------------------- payloads


def published(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data


def test_published_check_suite_completed_reads_as_a_green_commit() -> None:
    update = parse_event("check_suite", published("check_suite.completed.1.octokit.json"))
    assert update == CheckUpdate(repository="codertocat/hello-world", sha="ec26c3e57ca3a959ca5aad62de7213c562f8c821",
                                 branches=("main",), conclusion="success", source="check_suite")


def test_published_status_reads_with_its_branches() -> None:
    update = parse_event("status", published("status.octokit.json"))
    assert isinstance(update, CheckUpdate)
    assert (update.sha, update.conclusion, update.branches) == ("6113728f27ae82c7b1a177c8d03f9e96e0adf246", "success",
                                                                ("master", "changes", "gh-pages"))


def test_published_push_of_a_deleted_tag_is_not_recorded() -> None:
    assert parse_event("push", published("push.1.octokit.json")) is None


def test_a_branch_push_names_its_sender() -> None:
    payload = published("push.1.octokit.json")
    payload.update(ref="refs/heads/main", deleted=False, after="a" * 40)
    update = parse_event("push", payload)
    assert update == PushUpdate(repository="codertocat/hello-world", branch="main", sha="a" * 40,
                                pusher="Codertocat", pusher_id=21031067)


@pytest.mark.parametrize("change", [{"conclusion": "failure"}, {"conclusion": None, "status": "in_progress"}])
def test_a_suite_that_is_not_green_is_not_recorded(change: dict[str, Any]) -> None:
    payload = published("check_suite.completed.1.octokit.json")
    payload["check_suite"].update(change)
    assert parse_event("check_suite", payload) is None


def test_a_malformed_sha_is_a_bad_payload() -> None:
    payload = published("check_suite.completed.1.octokit.json")
    payload["check_suite"]["head_sha"] = "not-a-sha"
    with pytest.raises(BadPayload):
        parse_event("check_suite", payload)
