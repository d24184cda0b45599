"""Trust policies of infra/modules/github-oidc, evaluated for a job: would STS accept its OIDC subject?

Reads each `aws_iam_role` of the module (its name `${var.name_prefix}-github-<suffix>` and the
`aws_iam_policy_document` its `assume_role_policy` points at) and evaluates the document's `sub` and `aud`
conditions (StringEquals / StringLike) with the example root's inputs for one environment's tfvars.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Any

from sandbox.actions_runner import JobFailed
from tests.infra import tfcheck

ROOT = Path(__file__).resolve().parents[2]
OIDC = ROOT / "infra" / "modules" / "github-oidc"
TFVARS = ROOT / "infra" / "environments"
_REF = re.compile(r"data\.aws_iam_policy_document\.([A-Za-z0-9_]+)")


def module_inputs(environment: str) -> dict[str, str]:
    """The github-oidc inputs infra/examples/complete passes for one environment's tfvars."""
    tfvars = tfcheck.load_file(TFVARS / f"{environment}.tfvars")
    env = str(tfvars["environment"])
    return {
        "name_prefix": f"chatops-{env}",
        "github_repository": f"{tfvars['github_owner']}/{tfvars['github_repository_name']}",
        "deploy_environment": env,
        "apply_environment": env,
    }


def _substitute(text: str, inputs: dict[str, str]) -> str:
    return re.sub(r"\$\{var\.([a-z_]+)\}", lambda m: inputs.get(m.group(1), m.group(0)), text)


def roles(environment: str) -> dict[str, list[dict[str, Any]]]:
    """Role name -> the statements of its trust policy."""
    files = tfcheck.load_dir(OIDC)
    docs = tfcheck.policy_documents(files)
    inputs = module_inputs(environment)
    found: dict[str, list[dict[str, Any]]] = {}
    for type_, _name, body in tfcheck.typed(files, "resource"):
        if type_ != "aws_iam_role":
            continue
        ref = _REF.search(str(body.get("assume_role_policy", "")))
        assert ref, body
        found[_substitute(str(body["name"]), inputs)] = [
            {**st, "_inputs": inputs} for st in tfcheck.statements(docs[ref.group(1)])]
    return found


def accepts(statements: list[dict[str, Any]], subject: str) -> bool:
    for st in statements:
        if st.get("effect", "Allow") != "Allow" or "sts:AssumeRoleWithWebIdentity" not in st.get("actions", []):
            continue
        ok = True
        for cond in st.get("condition", []):
            variable = str(cond["variable"])
            values = [_substitute(str(v), st["_inputs"]) for v in cond["values"]]
            claim = {"token.actions.githubusercontent.com:sub": subject,
                     "token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}.get(variable)
            if claim is None:
                ok = False
            elif cond["test"] == "StringEquals":
                ok = ok and claim in values
            elif cond["test"] == "StringLike":
                ok = ok and any(fnmatch.fnmatchcase(claim, v) for v in values)
            else:
                ok = False
        if ok:
            return True
    return False


def checker(environment: str) -> Any:
    """For sandbox.actions_runner: raise JobFailed when the role's trust refuses the job's subject."""
    trusted = roles(environment)
    repository = module_inputs(environment)["github_repository"]

    def assume(role_arn: str, subject: str) -> None:
        name = role_arn.rsplit("/", 1)[-1]
        if name not in trusted:
            raise JobFailed(f"no role {name} in infra/modules/github-oidc")
        full = f"repo:{repository}:{subject}"
        if not accepts(trusted[name], full):
            raise JobFailed(f"AssumeRoleWithWebIdentity refused: {name} does not trust {full}")

    return assume
