"""Checks that the shipped GitHub Actions workflows and composite actions are right."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS_DIR = ROOT / "workflows"
BIN = Path(sys.executable).parent
WORKFLOWS = sorted(p for p in WORKFLOWS_DIR.glob("*.yml") if p.name != "zizmor.yml")
ACTIONS = sorted(WORKFLOWS_DIR.glob("actions/*/action.yml"))

# Every third-party action and the commit we pin it to, verified against public material
# (see docs/workflows.md, "Pinned actions").
VERIFIED_PINS = {
    "actions/checkout": ("11bd71901bbe5b1630ceea73d27597364c9af683", "v4.2.2"),
    "actions/setup-python": ("0b93645e9fea7318ecaed2b359559ac225c90a2b", "v5.3.0"),
    "actions/setup-node": ("39370e3970a6d050c480ffad4ff0ed4d3fdee5af", "v4.1.0"),
    "actions/upload-artifact": ("b4b15b8c7c6ac21ea08fcf65892d2ee8f75cf882", "v4.4.3"),
    "actions/download-artifact": ("fa0a91b85d4f404e444e00e005971372dc801d16", "v4.1.8"),
    "aws-actions/configure-aws-credentials": ("e3dd6a429d7300a6a4c196c26e071d42e0343502", "v4.0.2"),
    "aws-actions/amazon-ecr-login": ("062b18b96a7aff071d4dc91bc00c4c1a7945b076", "v2.0.1"),
    "hashicorp/setup-terraform": ("b9cd54a3c349d3f38e8881555d616ced269862dd", "v3.1.2"),
}
DEPLOY_WORKFLOWS = {"build-and-deploy-lambda.yml", "api-ci.yml", "web-ci.yml"}
ENVIRONMENTS = {"dev", "staging", "production"}
WRITE_SCOPES_ALLOWED = {"id-token", "deployments", "pull-requests"}
_USES = re.compile(r"^\s*(?:-\s*)?uses:\s*(?P<ref>\S+)(?P<rest>.*)$")


def load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    on = workflow.get("on", workflow.get(True))  # PyYAML reads a bare `on` as True
    return on if isinstance(on, dict) else {str(on): None}


def steps_of(doc: dict[Any, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(owner, step) for every step of every job, or of a composite action."""
    if "runs" in doc:
        return [("action", s) for s in doc["runs"].get("steps", [])]
    return [(name, s) for name, job in doc["jobs"].items() for s in job.get("steps", [])]


def test_files_exist() -> None:
    names = {p.name for p in WORKFLOWS}
    assert {"infra-ci.yml", "rollback.yml", "security.yml", "lambda-release.yml"} | DEPLOY_WORKFLOWS <= names
    assert {p.parent.name for p in ACTIONS} >= {"aws-oidc", "retry", "deployment-status", "test-report", "lambda-test"}


def test_workflows_match_the_github_workflow_schema() -> None:
    cmd = [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actions_match_the_github_action_schema() -> None:
    cmd = [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-actions", *map(str, ACTIONS)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_zizmor_reports_nothing() -> None:
    config = WORKFLOWS_DIR / "config" / "zizmor.yml"
    cmd = [str(BIN / "zizmor"), "--offline", "--config", str(config), *map(str, WORKFLOWS + ACTIONS)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    # the directory form (what the issue asks for) must be clean as well
    cmd = [str(BIN / "zizmor"), "--offline", "--config", str(config), str(WORKFLOWS_DIR)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda p: str(p.relative_to(WORKFLOWS_DIR)))
def test_third_party_actions_pinned_to_verified_shas(path: Path) -> None:
    for number, line in enumerate(path.read_text().splitlines(), 1):
        match = _USES.match(line)
        if not match:
            continue
        ref = match["ref"]
        if ref.startswith("./"):
            local = ref.removeprefix("./.github/")
            target = WORKFLOWS_DIR / local.removeprefix("workflows/")
            assert target.exists() or (WORKFLOWS_DIR / local / "action.yml").exists(), f"{path}:{number} {ref}"
            continue
        name, _, sha = ref.partition("@")
        assert re.fullmatch(r"[0-9a-f]{40}", sha), f"{path.name}:{number} not pinned to a commit: {ref}"
        assert re.search(r"#\s*v\d+(\.\d+)*", match["rest"]), f"{path.name}:{number} needs a version comment"
        assert name in VERIFIED_PINS, f"{path.name}:{number} {name} is not a verified action"
        assert (sha, match["rest"].split("#")[1].strip()) == VERIFIED_PINS[name], f"{path.name}:{number}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_permissions_least_privilege(path: Path) -> None:
    workflow = load(path)
    assert workflow.get("permissions") == {}, "top-level permissions must be {}"
    for name, job in workflow["jobs"].items():
        perms = job.get("permissions")
        assert isinstance(perms, dict), f"{name} must declare its permissions"
        for scope, level in perms.items():
            assert level in ("read", "write", "none"), f"{name}.{scope}"
            if level == "write":
                assert scope in WRITE_SCOPES_ALLOWED, f"{name} writes {scope}"
        steps = job.get("steps", [])
        assumes_aws = any(str(s.get("uses", "")).endswith("/aws-oidc") for s in steps) or str(
            job.get("uses", "")
        ).endswith("lambda-release.yml")
        assert (perms.get("id-token") == "write") == assumes_aws, f"{name}: id-token only for AWS sign-in"
        if perms.get("pull-requests") == "write":
            assert "id-token" not in perms, f"{name}: PR write and AWS roles stay in separate jobs"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_dispatch_inputs_and_run_name(path: Path) -> None:
    workflow = load(path)
    on = triggers(workflow)
    if "workflow_dispatch" not in on:
        assert path.name not in DEPLOY_WORKFLOWS | {"rollback.yml"}
        return
    inputs = (on["workflow_dispatch"] or {}).get("inputs", {})
    assert "inputs.request_id" in workflow.get("run-name", ""), "run-name must carry the request id"
    assert inputs["request_id"]["required"] is True
    for key in inputs:
        assert inputs[key].get("type") in ("string", "choice"), f"{key}: the bot sends strings"
    if path.name == "rollback.yml":
        assert {"service", "environment", "target_version", "request_id"} <= set(inputs)
        assert inputs["target_version"]["required"] is False
    else:
        assert {"environment", "request_id", "requested_by"} <= set(inputs)
    if "environment" in inputs and inputs["environment"].get("type") == "choice":
        assert set(inputs["environment"]["options"]) == ENVIRONMENTS


def environment_name(job: dict[str, Any]) -> str | None:
    env = job.get("environment")
    return env.get("name") if isinstance(env, dict) else env


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_environments_and_concurrency(path: Path) -> None:
    workflow = load(path)
    for name, job in workflow["jobs"].items():
        env = environment_name(job)
        if env is None:
            continue
        literal = set(re.findall(r"'([a-z]+)'", env)) | ({env} if "${{" not in env else set())
        assert literal <= ENVIRONMENTS, f"{name}: unknown environment {env}"
        assert "inputs.environment" in env or env in ENVIRONMENTS
        assert job.get("concurrency") or workflow.get("concurrency"), f"{name} deploys without a concurrency group"
        group = (job.get("concurrency") or workflow["concurrency"])["group"]
        assert "environment" in group or env in group, f"{name}: the concurrency group must name the environment"
        assert (job.get("concurrency") or workflow["concurrency"]).get("cancel-in-progress") is False


def test_production_gates() -> None:
    infra = load(WORKFLOWS_DIR / "infra-ci.yml")
    for env in sorted(ENVIRONMENTS):
        job = infra["jobs"][f"apply-{env}"]
        assert environment_name(job) == env
        assert "refs/heads/main" in job["if"]
    # in order, each after the previous one, and each applies the saved plan of this run
    assert infra["jobs"]["apply-dev"]["needs"] == "plan"
    assert infra["jobs"]["apply-staging"]["needs"] == "apply-dev"
    assert infra["jobs"]["apply-production"]["needs"] == "apply-staging"
    for env in sorted(ENVIRONMENTS):
        scripts = " ".join(s.get("run", "") for s in infra["jobs"][f"apply-{env}"]["steps"])
        assert "apply -no-color -auto-approve tfplan" in scripts and "terraform plan" not in scripts
    release = load(WORKFLOWS_DIR / "lambda-release.yml")
    assert environment_name(release["jobs"]["release"]) == "${{ inputs.environment }}"


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda p: str(p.relative_to(WORKFLOWS_DIR)))
def test_no_expressions_in_run_scripts(path: Path) -> None:
    for owner, step in steps_of(load(path)):
        script = step.get("run")
        if script is None:
            continue
        assert "${{ github.event" not in script, f"{owner}: github.event interpolated into run"
        assert "${{" not in script, f"{owner}: pass values through env:, not into the script"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_checkout_does_not_persist_credentials(path: Path) -> None:
    for owner, step in steps_of(load(path)):
        if str(step.get("uses", "")).startswith("actions/checkout@"):
            assert step.get("with", {}).get("persist-credentials") is False, owner


def test_oidc_session_name_names_the_run() -> None:
    action = load(WORKFLOWS_DIR / "actions" / "aws-oidc" / "action.yml")
    assume = next(s for s in action["runs"]["steps"] if "configure-aws-credentials" in str(s.get("uses")))
    assert assume["with"]["role-session-name"] == "gha-${{ github.run_id }}-${{ github.run_attempt }}"


def test_lambda_matrix_is_data() -> None:
    workflow = load(WORKFLOWS_DIR / "build-and-deploy-lambda.yml")
    for job in ("build", "deploy"):
        include = workflow["jobs"][job]["strategy"]["matrix"]["include"]
        assert include == "${{ fromJSON(needs.plan.outputs.functions) }}"
