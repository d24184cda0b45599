"""Issue 26 item 1: one typed model of chatops.yml (bot/config_model.py) publishes a JSON Schema that editors use
(docs/chatops.schema.json, named by examples/chatops.yml's yaml-language-server modeline), and every config
problem names its key path and the line it was written on."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from bot.config import load_config
from bot.config_model import Service as ServiceModel
from bot.config_model import config_schema, keys, schema_text
from bot.config_yaml import line_of, located, parse_yaml
from bot.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "chatops.yml"
SCHEMA_FILE = ROOT / "docs" / "chatops.schema.json"
PYTHON = ROOT / ".venv" / "bin" / "python"
TEAMS_ENV = {"TEAMS_OPS_WEBHOOK_URL": "https://example.webhook.office.com/workflows/ops"}
SECRETS = {"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "signing", "GITHUB_TOKEN": "ghp_test",
           "GITHUB_WEBHOOK_SECRET": "hook", "CHATOPS_EVENTS_API_KEY": "key", **TEAMS_ENV}


def run_bot(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "SLACK_", "TEAMS_"))}
    return subprocess.run([str(PYTHON if PYTHON.exists() else sys.executable), "-m", "bot", *args],
                          capture_output=True, text=True, cwd=ROOT, env={**base, **(env or {})}, timeout=60,
                          check=False)


def validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def schema_errors(data: Any) -> list[str]:
    return sorted(f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator().iter_errors(data))


# ------------------------------------------------------------------------------------------ the published schema


def test_schema_file_is_current() -> None:
    """docs/chatops.schema.json is generated: `python -m bot config-schema > docs/chatops.schema.json`."""
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text(), "regenerate docs/chatops.schema.json"


def test_config_schema_command_prints_the_schema() -> None:
    done = run_bot("config-schema")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == config_schema()
    assert done.stdout == SCHEMA_FILE.read_text(encoding="utf-8")


def test_schema_describes_the_keys_for_editors() -> None:
    schema = config_schema()
    service = schema["definitions"]["Service"]
    assert service["additionalProperties"] is False
    assert "workflow file" in service["properties"]["workflow"]["description"]
    assert set(service["properties"]) == set(keys(ServiceModel))
    assert "auto_deploy" in service["properties"]  # reserved for the auto-deploy work, default none
    assert schema["definitions"]["QuietHours"]["required"] == ["from", "to"]  # the YAML name, not from_


def test_example_names_the_schema_in_its_modeline() -> None:
    """yaml-language-server reads a modeline `# yaml-language-server: $schema=<url|relativeFilePath>`, the relative
    path from the open YAML file (its README, https://github.com/redhat-developer/yaml-language-server#readme;
    also https://nix-community.github.io/nixvim/plugins/lsp/servers/yamlls/index.html), and "Supports JSON Schema
    7 and below": the schema is written as draft-07."""
    first = EXAMPLE.read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=../docs/chatops.schema.json"
    assert (EXAMPLE.parent / first.partition("$schema=")[2]).resolve() == SCHEMA_FILE


# the dev extras install it next to the interpreter running the tests (pyproject.toml)
CHECK_JSONSCHEMA = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")


@pytest.mark.skipif(not Path(CHECK_JSONSCHEMA).exists(), reason="check-jsonschema is not installed")
def test_check_jsonschema_accepts_the_example() -> None:
    tool = CHECK_JSONSCHEMA
    done = subprocess.run([tool, "--schemafile", str(SCHEMA_FILE), str(EXAMPLE)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def configs_the_tests_use(tmp_path: Path) -> dict[str, Any]:
    """The configs the sandbox, the demo and the test helpers build (each is what the parser accepts)."""
    from sandbox.demo import demo_config
    from tests.reliability.helpers import write_config
    from tests.security.conftest import make_config
    from tests.teams.test_bot_delivery import config_with

    (tmp_path / "demo").mkdir()
    (tmp_path / "reliability").mkdir()
    return {
        "example": yaml.safe_load(EXAMPLE.read_text(encoding="utf-8")),
        "demo": yaml.safe_load(demo_config(tmp_path / "demo").read_text(encoding="utf-8")),
        "reliability": yaml.safe_load(write_config(tmp_path / "reliability").read_text(encoding="utf-8")),
        "security": dict(make_config(responders=["alice"], subjects={"alice": ["arn:aws:iam::*:user/alice"]},
                                     fold_after=3, escalate_after="2m").raw),
        "teams-bot": config_with({"approvals_conversation": "19:abc@thread.tacv2"}),
    }


def test_every_config_the_tests_and_sandbox_use_matches_the_schema(tmp_path: Path) -> None:
    for name, data in configs_the_tests_use(tmp_path).items():
        assert schema_errors(data) == [], name


@pytest.mark.parametrize(("patch", "where"), [
    ({"colour": "blue"}, ""),
    ({"services": {"api": {"workflow": "api ci", "environments": ["dev"]}}}, "services.api.workflow"),
    ({"services": {"api": {"workflow": "a.yml", "timeout": 3}}}, "services.api"),
    ({"environments": {"dev": {"approvals": -1}}}, "environments.dev.approvals"),
    ({"environments": {"dev": {"gate": "manual"}}}, "environments.dev.gate"),
    ({"routes": [{"to": ["slack:deploys"], "mention": "everyone"}]}, "routes.0.mention"),
    ({"slack": {"team_id": "T0X", "channels": {"ops": "not-a-channel"}}}, "slack.channels.ops"),
    ({"security": {"sqs": {"wait_seconds": 30}}}, "security.sqs.wait_seconds"),
    ({"routes": [{"to": "slack:deploys", "quiet_hours": {"from": "20:00"}}]}, "routes.0.quiet_hours"),
    ({"people": {"Dev!": {"slack": "U0DEV"}}}, "people"),
])
def test_schema_refuses_what_the_bot_refuses(tmp_path: Path, patch: dict[str, Any], where: str) -> None:
    from bot.runtime.validate import load_valid_config

    data = {**yaml.safe_load(EXAMPLE.read_text(encoding="utf-8")), **patch}
    errors = schema_errors(data)
    assert any(e.startswith(f"{where}: ") for e in errors), errors
    path = tmp_path / "chatops.yml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ConfigError):  # the one validation of serve, check-config and reload
        load_valid_config(path, SECRETS)


# ------------------------------------------------------------------------------------------ path and line


BROKEN = """\
# yaml-language-server: $schema=../docs/chatops.schema.json
github: {repository: acme/platform}
slack:
  team_id: T0SANDBOX
  channels: {deploys: C0DEPLOYS}
people:
  dev: {slack: U0DEV}
environments:
  staging: {deployers: [dev]}
services:
  api:
    workflow: api ci
    environments: [staging]
routes:
  - when: {kind: [deployment]}
    to: [slack:deploys]
  - to: [slack:nowhere]
    quiet_hours: {from: "25:00", to: "08:00"}
"""


def test_line_of_names_the_key_or_its_nearest_parent() -> None:
    doc = parse_yaml(BROKEN)
    assert line_of("services.api.workflow", doc.lines) == 12
    assert line_of("routes[1].to[0]", doc.lines) == 17
    assert line_of("services.api.owners", doc.lines) == 11  # absent: where its service is
    assert line_of("env GITHUB_TOKEN", doc.lines) is None
    assert doc.data == yaml.safe_load(BROKEN)


def test_load_config_problems_carry_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "chatops.yml"
    path.write_text(BROKEN, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert "services.api.workflow: 'api ci' is not valid: a workflow file name" in err.value.problems  # unchanged
    assert "services.api.workflow: 'api ci' is not valid: a workflow file name (line 12)" in located(err.value)
    assert "routes[1].to[0]: 'nowhere' is not a channel under slack.channels (line 17)" in located(err.value)


def test_check_config_names_path_and_line_of_every_problem(tmp_path: Path) -> None:
    """The acceptance of issue 26: a config error names its path and line, for the config's own sections and
    for the settings read after it (here a route's quiet_hours), in one run."""
    path = tmp_path / "chatops.yml"
    path.write_text(BROKEN.replace("workflow: api ci", "workflow: api-ci.yml"), encoding="utf-8")
    done = run_bot("check-config", str(path), env=SECRETS)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert errors == ["error: routes[1].to[0]: 'nowhere' is not a channel under slack.channels (line 17)"], errors
    path.write_text(BROKEN.replace("workflow: api ci", "workflow: api-ci.yml").replace("slack:nowhere",
                                                                                       "slack:deploys"))
    done = run_bot("check-config", str(path), env=SECRETS)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert errors == ["error: routes[1].quiet_hours.from: '25:00' is not a time like 09:00 (HH:MM) (line 18)"], (
        done.stderr)


def test_serve_refuses_a_bad_config_naming_path_and_line(tmp_path: Path) -> None:
    path = tmp_path / "chatops.yml"
    path.write_text(BROKEN, encoding="utf-8")
    done = run_bot("serve", "--config", str(path), env={**SECRETS, "PORT": "0"})
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "error: services.api.workflow: 'api ci' is not valid: a workflow file name (line 12)" in done.stderr


def test_auto_deploy_is_in_the_model_and_its_values_checked_by_both() -> None:
    """Issue 25 item 2 landed after the model reserved the key: the schema and the bot accept a good value and both
    refuse one the bot would refuse (bot/deploys/auto_settings.py)."""
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["services"]["api"]["auto_deploy"] = {"environment": "staging", "branch": "main"}
    assert schema_errors(data) == []
    from bot.config import parse_config
    from bot.deploys.auto_settings import auto_deploys

    auto_deploys(parse_config(data, env=TEAMS_ENV))
    data["services"]["api"]["auto_deploy"] = {"environment": "staging"}
    assert schema_errors(data) != []
    with pytest.raises(ConfigError):
        auto_deploys(parse_config(data, env=TEAMS_ENV))


def test_every_key_in_the_schema_is_read_by_a_parser() -> None:
    """The parsers take their key lists from the model (bot.config_model.keys), so a key added to the model is
    accepted: it must also be read somewhere, or the bot would take it and ignore it."""
    schema = config_schema()
    names: set[str] = set()
    for definition in [schema, *schema["definitions"].values()]:
        names |= set(definition.get("properties", {}))
    parsers = ["bot/config.py", "bot/delivery/settings.py", "bot/alerts/settings.py", "bot/alerts/rule_config.py",
               "bot/deploys/settings.py", "bot/alerts/pagerduty.py", "bot/deploys/auto_settings.py"]
    source = "".join((ROOT / p).read_text(encoding="utf-8") for p in parsers)
    assert sorted(n for n in names if f'"{n}"' not in source and f"'{n}'" not in source) == []
