"""Contract: the workflows read only what Terraform or the user sets, with the role of their job kind and scope;
the required status checks exist on every pull request; every ref the bot dispatches may deploy.

Each test names the defect of issue 11 it catches; each failed on the code before the fix.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.config import Config, load_config
from bot.contract import ENVIRONMENTS, JOB_KINDS, plan_role_variable
from bot.deploys.commands import parse
from bot.domain import DeployCommand, RollbackCommand
from tests.contract import workflow_model as wm
from tests.infra import tfcheck

ROOT = wm.ROOT


@pytest.fixture(scope="module")
def layout(request: pytest.FixtureRequest) -> wm.Layout:
    """The installed `.github/` layout when tests/contract/conftest.py provides it, else the source tree."""
    try:
        repo: Path = request.getfixturevalue("installed_repo")
    except pytest.FixtureLookupError:
        return wm.Layout(ROOT / "workflows", ROOT / "workflows" / "actions")
    return wm.Layout(repo / ".github" / "workflows", repo / ".github" / "actions")


@pytest.fixture(scope="module")
def example_config() -> Config:
    return load_config(ROOT / "examples" / "chatops.yml", env={"TEAMS_OPS_WEBHOOK_URL": "https://example.invalid/hook"})


# ---------------------------------------------------------------------------
# (a) variables and secrets; role variables by job kind and scope (defects 1, 2, 9)
# ---------------------------------------------------------------------------


def test_every_variable_and_secret_read_is_set_by_terraform_or_by_the_user(layout: wm.Layout) -> None:
    # Catches defect 1: AWS_DEPLOY_ROLE_ARN, AWS_WEB_ROLE_ARN, AWS_BUILD_ROLE_ARN, AWS_SECURITY_ROLE_ARN were read
    # but never set (and RELEASE_ENGINE_SPEC / TF_WORKING_DIR were read and documented nowhere).
    terraform = wm.terraform_variables()
    set_by_terraform = terraform["environment"] | terraform["repository"]
    user_set = wm.user_set_names()
    missing = []
    for path in layout.workflow_files() + layout.action_files():
        text = path.read_text()
        for name in sorted(set(wm.VAR.findall(text)) | set(wm.ROLE_TOKEN.findall(text))):
            if name not in set_by_terraform and user_set.get(name) != "variable":
                missing.append(f"{path.name}: variable {name}")
        for name in sorted(set(wm.SECRET.findall(text))):
            if user_set.get(name) != "secret":  # Terraform never sets secrets (they would sit in the state)
                missing.append(f"{path.name}: secret {name}")
    assert not missing, "read but set by nobody (Terraform, or 'you' in docs/secrets-and-variables.md):\n" + "\n".join(
        missing
    )


def test_every_role_variable_belongs_to_a_job_kind_of_the_jobs_scope(layout: wm.Layout) -> None:
    # Catches defects 1 and 2: AWS_DEPLOY_ROLE_ARN is no job kind's variable; the image builds read the
    # environment-scoped AWS_BUILD_ROLE_ARN without naming an environment (their subject was ref:/pull_request).
    problems = []
    for path in layout.workflow_files():
        for job_id, job in wm.load_yaml(path)["jobs"].items():
            if not wm.assumes_role(job):
                continue
            variables = wm.role_variables(job)
            if not variables:
                problems.append(f"{path.name}:{job_id} assumes a role read from no role variable")
            for variable in sorted(variables):
                kind = wm.kind_of(variable)
                if kind is None:
                    problems.append(f"{path.name}:{job_id} reads {variable}, which is no job kind's variable")
                elif (kind.scope == "environment") != ("environment" in job):
                    where = "names no environment" if kind.scope == "environment" else "names an environment"
                    problems.append(f"{path.name}:{job_id} reads {variable} ({kind.name}, {kind.scope}) but {where}")
    assert not problems, "\n".join(problems)


def test_terraform_sets_each_role_variable_in_the_scope_of_its_job_kind() -> None:
    # Catches defect 1 from the Terraform side: one name per role, the names bot/contract.py defines, computed
    # from the naming rule (no role ARN typed into tfvars).
    local = wm.module_locals()
    environment_kinds = {k.variable: k.role_suffix for k in JOB_KINDS.values() if k.scope == "environment"}
    assert local.get("environment_role_variables") == environment_kinds
    assert local.get("plan_role_suffix") == JOB_KINDS["plan"].role_suffix
    terraform = wm.terraform_variables()
    environments = wm.managing_tfvars()["github_environments"]
    assert set(environments) == set(ENVIRONMENTS)
    assert {plan_role_variable(e) for e in ENVIRONMENTS} <= terraform["repository"]
    assert JOB_KINDS["security-scan"].variable in terraform["repository"]
    for env in ENVIRONMENTS:
        text = (wm.TFVARS / f"{env}.tfvars").read_text()
        assert not re.search(r"arn:aws:iam::\d+:role/", text), f"{env}.tfvars types a role ARN by hand"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_deploy_targets_in_the_managing_state_agree_with_each_environments_tfvars(env: str) -> None:
    # The GitHub state cannot read the other states: the values it repeats must equal their own tfvars.
    own = tfcheck.load_file(wm.TFVARS / f"{env}.tfvars")
    github = wm.managing_tfvars()["github_environments"][env]
    assert github.get("web_bucket_name") == own.get("web_bucket_name")
    assert github.get("cloudfront_distribution_id") == own.get("cloudfront_distribution_id")
    assert github.get("api_alarm_name") in own.get("alarm_names", [])
    assert all(f"::{github['aws_account_id']}:" in arn for arn in own["apply_policy_arns"].values())


def test_infra_ci_plans_and_applies_every_environment_with_its_own_state(layout: wm.Layout) -> None:
    # Catches defect 9: working directory `infra` (no root module), no var file or backend, apply re-planned,
    # only production applied; and defect 2: the pull-request plan assumed a role no subject allowed.
    workflow = wm.load_yaml(layout.workflows / "infra-ci.yml")
    jobs = workflow["jobs"]
    plan = jobs["plan"]
    assert "environment" not in plan
    include = plan["strategy"]["matrix"]["include"]
    assert {(i["environment"], i["plan_role_variable"]) for i in include} == {
        (e, plan_role_variable(e)) for e in ENVIRONMENTS
    }
    assert (ROOT / workflow["env"]["TF_ROOT"] / "main.tf").is_file()
    text = (layout.workflows / "infra-ci.yml").read_text()
    assert '-var-file="../../environments/$ENVIRONMENT.tfvars"' in text
    for env in ENVIRONMENTS:
        assert (wm.TFVARS / f"{env}.s3.tfbackend").is_file()
        apply = jobs[f"apply-{env}"]
        assert apply["environment"]["name"] == env
        scripts = "\n".join(s.get("run", "") for s in apply["steps"])
        assert "apply -no-color -auto-approve tfplan" in scripts and "terraform plan" not in scripts


# ---------------------------------------------------------------------------
# (b) required status checks (defect 5)
# ---------------------------------------------------------------------------


def _required_check_lists() -> dict[str, list[str]]:
    lists = {"production.tfvars": list(wm.managing_tfvars()["required_status_checks"])}
    default = dict(tfcheck.labelled(tfcheck.load_dir(wm.EXAMPLE), "variable"))["required_status_checks"]["default"]
    lists["examples/complete default"] = list(default)
    return lists


def test_every_required_status_check_is_a_job_that_runs_on_every_pull_request(layout: wm.Layout) -> None:
    # Catches defect 5: "api-ci / test", "web-ci / test", "security / scan", "infra-ci / plan" were required but no
    # job reports those names (and the path-filtered workflows report nothing on most pull requests).
    on_every_pr = wm.pull_request_checks(layout)
    duplicates = {n for n in on_every_pr if on_every_pr.count(n) > 1}
    for where, required in _required_check_lists().items():
        assert required, where
        missing = [c for c in required if c not in on_every_pr]
        assert not missing, f"{where}: {missing} never report on a pull request; jobs that do: {sorted(on_every_pr)}"
        ambiguous = [c for c in required if c in duplicates]
        assert not ambiguous, f"{where}: {ambiguous} name several jobs"


def test_the_pull_request_model_sees_filters_and_conditions() -> None:
    # the model itself: a paths filter or an `if` that excludes pull requests means "not on every PR"
    assert not wm.pr_trigger_unfiltered({"on": {"pull_request": {"paths": ["web/**"]}}})
    assert wm.pr_trigger_unfiltered({"on": {"pull_request": None}})
    assert not wm.if_on_pull_request("github.event_name != 'pull_request'")
    assert not wm.if_on_pull_request("github.ref == 'refs/heads/main' && github.event_name != 'pull_request'")
    assert wm.if_on_pull_request("inputs.environment != 'dev'")
    assert wm.check_names(
        "plan",
        {
            "name": "plan (${{ matrix.environment }})",
            "strategy": {"matrix": {"include": [{"environment": "dev", "x": 1}]}},
        },
    ) == ["plan (dev)"]
    assert wm.check_names("t", {"name": "test", "strategy": {"matrix": {"py": ["3.11", "3.12"]}}}) == [
        "test (3.11)",
        "test (3.12)",
    ]


# ---------------------------------------------------------------------------
# (c) every ref the bot dispatches may deploy (defect 4)
# ---------------------------------------------------------------------------

_COMMAND = re.compile(r"/(deploy|rollback) ([A-Za-z0-9_.\-/ ]+?)(?=[`\"\n]|$)")
_RELEASE_TAG = re.compile(r"v?\d+\.\d+\.\d+")


def dispatched_refs(config: Config) -> set[tuple[str, str, str]]:
    """(kind, ref, environment) the bot dispatches for the documented commands, plus the default branch
    everywhere (rollbacks always run from it, deploys of main) and the release tags build-and-deploy-lambda
    deploys to dev on push."""
    found = {("branch", config.default_branch, env) for env in config.environments}
    sources = [ROOT / "README.md", ROOT / "sandbox" / "demo.py", *sorted((ROOT / "docs").glob("*.md"))]
    for path in sources:
        for verb, text in _COMMAND.findall(path.read_text()):
            cmd = parse(text, command=verb, config=config)
            if isinstance(cmd, DeployCommand):
                kind = "tag" if _RELEASE_TAG.fullmatch(cmd.ref) else "branch"
                found.add((kind, cmd.ref, cmd.environment))
            elif isinstance(cmd, RollbackCommand):
                found.add(("branch", config.default_branch, cmd.environment))
    found.add(("tag", "v1.0.0", "dev"))
    return found


def test_every_ref_the_bot_dispatches_is_allowed_by_the_environments_deployment_policy(example_config: Config) -> None:
    # Catches defect 4: `/deploy api v1.4.2 to production` dispatches at the tag v1.4.2, but every environment
    # allowed only the branch main, so GitHub refused the job.
    policies = wm.deployment_policies()
    refs = dispatched_refs(example_config)
    assert ("tag", "v1.4.2", "production") in refs and ("branch", "main", "production") in refs
    refused = [
        f"{kind} {ref} -> {env}"
        for kind, ref, env in sorted(refs)
        if not any(wm.ref_pattern_matches(p, ref) for p in policies.get(env, {}).get(kind, []))
    ]
    assert not refused, f"GitHub would refuse: {refused} (policies: {policies})"


def test_tags_that_may_deploy_are_protected_by_the_tag_ruleset() -> None:
    # A tag reaching production must not be creatable or movable by anyone with write access.
    variables = dict(tfcheck.labelled(tfcheck.load_dir(wm.MODULE), "variable"))
    protected = set(variables["release_tag_patterns"]["default"])
    for env, policy in wm.deployment_policies().items():
        assert set(policy["tag"]) <= protected, f"{env}: tag patterns {policy['tag']} are not all protected"
    rulesets = {
        n: b for t, n, b in tfcheck.typed(tfcheck.load_dir(wm.MODULE), "resource") if t == "github_repository_ruleset"
    }
    rules = rulesets["release_tags"]["rules"][0]
    assert rulesets["release_tags"]["target"] == "tag"
    assert rules["creation"] is True and rules["update"] is True and rules["deletion"] is True


def test_ref_patterns_match_like_github() -> None:
    assert wm.ref_pattern_matches("v*", "v1.4.2")
    assert wm.ref_pattern_matches("main", "main")
    assert not wm.ref_pattern_matches("main", "main2")
    assert not wm.ref_pattern_matches("release/*", "release/a/b")
    assert wm.ref_pattern_matches("release/**", "release/a/b")
