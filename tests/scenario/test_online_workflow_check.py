"""`check-config --online` reads each service's workflow file from GitHub (the fake serves it through the contents
API, as GitHub does) and checks its trigger and every input the bot will send (issue 23, item 4)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot.config import load_config
from bot.deploys.online_check import online_checks
from sandbox.stack import EXAMPLE_CONFIG, Stack

NARROW = """\
on:
  workflow_dispatch:
    inputs:
      environment: {type: string, required: true}
      ticket: {type: string, required: true}
jobs: {}
"""


async def test_a_service_whose_workflow_github_would_refuse_fails_the_check(tmp_path: Path) -> None:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    # what the example said before issue 23: infra-ci.yml has no workflow_dispatch trigger
    data["services"]["infra"] = {"workflow": "infra-ci.yml", "environments": ["production"]}
    data["services"]["narrow"] = {"workflow": "narrow.yml", "environments": ["dev"]}
    path = tmp_path / "chatops.yml"
    path.write_text(yaml.safe_dump(data))
    stack = Stack(database_url=f"sqlite:///{tmp_path}/bot.db", config_path=path)
    stack.github.add_workflow("narrow.yml", source=NARROW)
    await stack.start_fakes()
    try:
        results = await online_checks(load_config(path, env=stack.env), stack.env)
    finally:
        await stack.stop()
    lines = {line: ok for ok, line in results}
    assert lines["services.infra.workflow: infra-ci.yml has no workflow_dispatch trigger (GitHub refuses the "
                 "dispatch with 422)"] is False
    assert lines["services.narrow.workflow: narrow.yml does not declare the input 'request_id' the bot sends; "
                 "does not declare the input 'requested_by' the bot sends; requires the input 'ticket', which the "
                 "bot does not send"] is False
    assert lines["services.api.workflow: api-ci.yml accepts the bot's dispatch (environment, request_id, "
                 "requested_by)"] is True
    assert lines["services.api.rollback_workflow: rollback.yml accepts the bot's dispatch (service, environment, "
                 "target_version, request_id)"] is True


async def test_the_example_config_passes_the_workflow_checks(tmp_path: Path) -> None:
    stack = Stack(database_url=f"sqlite:///{tmp_path}/bot.db", config_path=EXAMPLE_CONFIG)
    await stack.start_fakes()
    try:
        results = await online_checks(load_config(EXAMPLE_CONFIG, env=stack.env), stack.env)
    finally:
        await stack.stop()
    workflow_lines = [(ok, line) for ok, line in results if line.startswith("services.")]
    assert len(workflow_lines) == 6 and all(ok for ok, _ in workflow_lines), workflow_lines
