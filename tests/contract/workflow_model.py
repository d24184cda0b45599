"""A small static model of the shipped workflows and of the Terraform that feeds them, for the contract tests.

Reads what GitHub would read (the workflow YAML) and what Terraform would set (python-hcl2 over
infra/modules/github-environments, infra/examples/complete and infra/environments/*.tfvars).
"""

from __future__ import annotations

import fnmatch
import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.contract import ENVIRONMENTS, JOB_KINDS, JobKind, plan_role_variable
from tests.infra import tfcheck

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MODULE = INFRA / "modules" / "github-environments"
EXAMPLE = INFRA / "examples" / "complete"
TFVARS = INFRA / "environments"
DOCS = ROOT / "docs"

VAR = re.compile(r"\bvars\.([A-Za-z_][A-Za-z0-9_]*)")
SECRET = re.compile(r"\bsecrets\.([A-Za-z_][A-Za-z0-9_]*)")
ROLE_TOKEN = re.compile(r"\bAWS_[A-Z_]*ROLE_ARN(?:_[A-Z]+)*\b")


@dataclass(frozen=True)
class Layout:
    workflows: Path
    actions: Path

    def workflow_files(self) -> list[Path]:
        return sorted(p for p in self.workflows.glob("*.yml") if p.name != "zizmor.yml")

    def action_files(self) -> list[Path]:
        return sorted(self.actions.glob("*/action.yml"))


def load_yaml(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), path
    return data


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    on = workflow.get("on", workflow.get(True))  # PyYAML reads a bare `on` as True
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return {str(t): None for t in on}
    return dict(on or {})


# ---------------------------------------------------------------------------
# Roles a job assumes
# ---------------------------------------------------------------------------


def kind_of(variable: str) -> JobKind | None:
    for kind in JOB_KINDS.values():
        if kind.variable == variable:
            return kind
    if variable in {plan_role_variable(e) for e in ENVIRONMENTS}:
        return JOB_KINDS["plan"]
    return None


def role_variables(job: dict[str, Any]) -> set[str]:
    """Role variables a job may assume: `vars.X` in role-to-assume, or, for a dynamic `vars[...]` index,
    every AWS_*ROLE_ARN* name the job spells out (matrix values, the lookup script)."""
    found: set[str] = set()
    for step in job.get("steps", []):
        if not str(step.get("uses", "")).endswith("/aws-oidc"):
            continue
        expr = str((step.get("with") or {}).get("role-to-assume", ""))
        found |= set(VAR.findall(expr)) | set(ROLE_TOKEN.findall(expr))
        if re.search(r"vars\[\s*[a-z]", expr):  # dynamic index: the names the job can produce
            found |= set(ROLE_TOKEN.findall(yaml.safe_dump(job)))
    return found


def assumes_role(job: dict[str, Any]) -> bool:
    return any(str(s.get("uses", "")).endswith("/aws-oidc") for s in job.get("steps", []))


# ---------------------------------------------------------------------------
# Which jobs run on a pull request, and the check names GitHub reports for them
# ---------------------------------------------------------------------------

_TOKEN = re.compile(r"'(?:[^']|'')*'|&&|\|\||==|!=|!|\(|\)|[A-Za-z_][A-Za-z0-9_.\-]*(?:\(\))?|\S")
_PR_CONTEXT = {
    "github.event_name": "'pull_request'",
    "github.ref": "'refs/pull/1/merge'",
    "github.base_ref": "'main'",
    "always()": "True",
    "success()": "True",
    "failure()": "False",
    "cancelled()": "False",
    "true": "True",
    "false": "False",
}


def if_on_pull_request(expression: Any) -> bool:
    """Evaluate a job's `if:` as GitHub would on a pull_request event (inputs are empty, needs succeeded)."""
    if expression is None:
        return True
    text = str(expression).strip()
    if text.startswith("${{") and text.endswith("}}"):
        text = text[3:-2]
    out: list[str] = []
    for token in _TOKEN.findall(text):
        if token.startswith("'"):
            out.append(repr(token[1:-1].replace("''", "'")))
        elif token in ("&&", "||", "!"):
            out.append({"&&": " and ", "||": " or ", "!": " not "}[token])
        elif token in ("==", "!=", "(", ")"):
            out.append(token)
        elif token in _PR_CONTEXT:
            out.append(_PR_CONTEXT[token])
        elif token.startswith("inputs."):
            out.append("''")
        elif re.fullmatch(r"needs\.[A-Za-z0-9_-]+\.result", token):
            out.append("'success'")
        else:
            raise AssertionError(f"the contract model cannot evaluate {token!r} in `if: {expression}`")
    return bool(eval(" ".join(out), {"__builtins__": {}}, {}))


def pr_trigger_unfiltered(workflow: dict[Any, Any]) -> bool:
    on = triggers(workflow)
    if "pull_request" not in on:
        return False
    config = on["pull_request"] or {}
    if "paths" in config or "paths-ignore" in config:
        return False
    branches = config.get("branches")
    return branches is None or any(fnmatch.fnmatchcase("main", b) for b in branches)


def _matrix_combinations(matrix: Any) -> list[dict[str, Any]] | None:
    if not isinstance(matrix, dict):
        return None  # fromJSON(...): not known statically
    include = matrix.get("include", [])
    axes = {k: v for k, v in matrix.items() if k not in ("include", "exclude")}
    if any(not isinstance(v, list) for v in axes.values()) or not isinstance(include, list):
        return None
    combos = [dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())] if axes else []
    return combos + [dict(i) for i in include]


def check_names(job_id: str, job: dict[str, Any]) -> list[str]:
    """The check run names GitHub reports for one job: its `name:`, matrix values substituted or appended."""
    name = str(job.get("name", job_id))
    matrix = (job.get("strategy") or {}).get("matrix")
    if matrix is None:
        return [name]
    combos = _matrix_combinations(matrix) or []
    names = []
    for combo in combos:
        if "${{" in name:
            names.append(re.sub(r"\$\{\{\s*matrix\.([A-Za-z0-9_-]+)\s*\}\}", lambda m, c=combo: str(c[m[1]]), name))
        else:
            names.append(f"{name} ({', '.join(str(v) for v in combo.values())})")
    return names


def _runs_on_pull_request(jobs: dict[str, Any], job_id: str, seen: frozenset[str] = frozenset()) -> bool:
    job = jobs[job_id]
    needs = job.get("needs", [])
    needs = [needs] if isinstance(needs, str) else needs
    return if_on_pull_request(job.get("if")) and all(
        _runs_on_pull_request(jobs, n, seen | {job_id}) for n in needs if n not in seen
    )


def pull_request_checks(layout: Layout) -> list[str]:
    """Check names of every job that runs on every pull request into main."""
    names: list[str] = []
    for path in layout.workflow_files():
        workflow = load_yaml(path)
        if not pr_trigger_unfiltered(workflow):
            continue
        jobs = workflow["jobs"]
        for job_id, job in jobs.items():
            if "uses" not in job and _runs_on_pull_request(jobs, job_id):
                names.extend(check_names(job_id, job))
    return names


# ---------------------------------------------------------------------------
# Terraform: what github-environments sets, and the deployment policies
# ---------------------------------------------------------------------------


def module_locals() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for parsed in tfcheck.load_dir(MODULE).values():
        for block in parsed.get("locals", []):
            found.update(block)
    return found


def managing_tfvars() -> dict[str, Any]:
    """The tfvars of the one state that manages GitHub (manage_github = true)."""
    managing = [e for e in ENVIRONMENTS if tfcheck.load_file(TFVARS / f"{e}.tfvars").get("manage_github")]
    assert len(managing) == 1, f"exactly one environment must manage GitHub, got {managing}"
    return tfcheck.load_file(TFVARS / f"{managing[0]}.tfvars")


def _example_module_call() -> tuple[dict[str, Any], str]:
    calls = dict(tfcheck.labelled(tfcheck.load_dir(EXAMPLE), "module"))
    text = (EXAMPLE / "main.tf").read_text()
    block = text[text.index('module "github_environments"') :]
    return calls["github_environments"], block[: block.index("\n}\n")]


def terraform_variables() -> dict[str, set[str]]:
    """GitHub Actions variables Terraform sets, by scope ("environment", "repository")."""
    local = module_locals()
    tfvars = managing_tfvars()
    environments: dict[str, Any] = tfvars.get("github_environments", {})
    env_scoped: set[str] = set(local.get("environment_role_variables", {}))
    for variable, field in local.get("environment_target_variables", {}).items():
        if environments and all(cfg.get(field) for cfg in environments.values()):
            env_scoped.add(variable)
    for cfg in environments.values():
        env_scoped |= set(cfg.get("variables", {}))
    repo_scoped: set[str] = set()
    prefix = local.get("plan_role_variable_prefix")
    if prefix:
        repo_scoped |= {prefix + e.upper().replace("-", "_") for e in environments}
    call, call_text = _example_module_call()
    if "aws_region" in call:
        repo_scoped.add("AWS_REGION")
    if call.get("security_role_arn") not in (None, "null"):
        repo_scoped.add("AWS_SECURITY_ROLE_ARN")
    if "repository_variables" in call:
        inner = call_text[call_text.index("repository_variables") :]
        repo_scoped |= set(re.findall(r"^\s+([A-Z][A-Z0-9_]+)\s*=", inner[: inner.index("}\n")], re.M))
    return {"environment": env_scoped, "repository": repo_scoped}


def user_set_names() -> dict[str, str]:
    """Names docs/secrets-and-variables.md lists as set by you: name -> kind (variable | secret)."""
    text = (DOCS / "secrets-and-variables.md").read_text()
    found: dict[str, str] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and cells[3].lower().startswith("you"):
            for name in re.findall(r"`([A-Z][A-Z0-9_]*)`", cells[0]):
                found[name] = cells[1]
    return found


def _optional_default(field: str) -> list[str]:
    text = (MODULE / "variables.tf").read_text()
    match = re.search(rf"{field}\s*=\s*optional\(list\(string\),\s*(\[[^\]]*\])\)", text)
    return re.findall(r'"([^"]*)"', match[1]) if match else []


def deployment_policies() -> dict[str, dict[str, list[str]]]:
    """Per environment: the branch and tag patterns GitHub will accept (tfvars, else the module's defaults)."""
    environments = managing_tfvars().get("github_environments", {})
    return {
        env: {
            "branch": list(cfg.get("branch_patterns", _optional_default("branch_patterns"))),
            "tag": list(cfg.get("tag_patterns", _optional_default("tag_patterns"))),
        }
        for env, cfg in environments.items()
    }


def ref_pattern_matches(pattern: str, ref: str) -> bool:
    """GitHub's deployment policy match (File.fnmatch with FNM_PATHNAME: `*` stops at '/', `**` does not)."""
    regex = re.escape(pattern).replace(r"\*\*", "\0").replace(r"\*", "[^/]*").replace("\0", ".*").replace(r"\?", "[^/]")
    return re.fullmatch(regex, ref) is not None
