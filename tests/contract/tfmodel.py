"""The github-oidc roles of one environment's account, as the example root would create them.

Parses infra/modules/github-oidc with python-hcl2 (tests/infra/tfcheck.py), takes the module inputs from the
``github_oidc`` call in infra/examples/complete and the environment's tfvars, and evaluates the few Terraform
expressions that decide whether a role or a statement exists (``count``, dynamic ``for_each``). An expression
it cannot evaluate raises, so a new shape of condition is noticed instead of guessed.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from bot.contract import JOB_KINDS
from tests.infra import tfcheck
from tests.infra.tfcheck import INFRA, MODULES

EXAMPLE = INFRA / "examples" / "complete"
KIND_BY_SUFFIX = {k.role_suffix: k.name for k in JOB_KINDS.values()}


@dataclass(frozen=True)
class Role:
    kind: str
    name: str  # IAM role name
    subjects: frozenset[str]  # full `sub` values
    actions: frozenset[str]  # actions of the Allow statements that exist with these inputs


class Evaluator:
    """Just enough HCL: var/local references, length, distinct, concat, ==, !=, >, &&, ||, !, ternaries."""

    def __init__(self, variables: dict[str, Any], locals_: dict[str, Any]) -> None:
        self.variables = variables
        self.locals = locals_

    def value(self, expr: Any) -> Any:
        if not isinstance(expr, str):
            return expr
        inner = expr.strip()
        if not (inner.startswith("${") and inner.endswith("}")):
            return self.string(inner)
        return self.expression(inner[2:-1])

    def expression(self, inner: str) -> Any:
        inner = inner.strip()
        while inner.startswith("(") and inner.endswith(")"):
            inner = inner[1:-1].strip()
        ternary = re.fullmatch(r"(.+?)\s\?\s(.+?)\s:\s(.+)", inner, re.S)
        if ternary:
            cond, yes, no = ternary.groups()
            return self.expression(yes if self.python(cond) else no)
        if inner == "null":
            return None
        if inner in ("[]", "0", "1") or re.fullmatch(r"\[[^\]]*\]", inner) or inner.startswith('"'):
            return inner
        return self.python(inner)

    def string(self, text: str) -> str:
        return re.sub(r"\$\{var\.([a-z_]+)\}", lambda m: str(self.variables[m.group(1)]), text)

    def python(self, expr: str) -> Any:
        code = expr
        code = re.sub(r"\bvar\.([a-z_]+)", r"V['\1']", code)
        code = re.sub(r"\blocal\.([a-z_]+)", r"L('\1')", code)
        code = code.replace("&&", " and ").replace("||", " or ").replace("null", "None")
        code = re.sub(r"!(?!=)", " not ", code)
        code = re.sub(r"\blength\(", "len(", code)
        code = re.sub(r"\btrue\b", "True", re.sub(r"\bfalse\b", "False", code))
        if re.search(r"[^\w\s()\[\]'\",=!<>.+-]", code):
            raise ValueError(f"cannot evaluate Terraform expression {expr!r}")
        scope = {
            "V": self.variables,
            "L": lambda n: self.value(self.locals[n]),
            "len": len,
            "concat": lambda *lists: [x for li in lists for x in li],
            "distinct": lambda li: list(dict.fromkeys(li)),
        }
        return eval(code, {"__builtins__": {}}, scope)  # only the operators allowed above reach eval

    def present(self, expr: Any) -> bool:
        """A count or for_each: does the block exist?"""
        if expr is None:
            return True
        result = self.value(expr)
        return result not in ("[]", "0", 0, [], False)


def _example_value(expr: Any, example_vars: dict[str, Any]) -> Any:
    if isinstance(expr, str):
        whole = re.fullmatch(r"\$\{var\.([a-z_]+)\}", expr)
        if whole:
            return example_vars[whole.group(1)]
        compare = re.fullmatch(r'\$\{var\.([a-z_]+) (==|!=) "([^"]*)"\}', expr)
        if compare:  # e.g. create_security_scan_role = var.environment == "production"
            equal = str(example_vars[compare.group(1)]) == compare.group(3)
            return equal if compare.group(2) == "==" else not equal
        if "${" in expr and re.fullmatch(r"([^$]|\$\{var\.[a-z_]+\})*", expr):
            return re.sub(r"\$\{var\.([a-z_]+)\}", lambda m: str(example_vars[m.group(1)]), expr)
        if "${" in expr:
            raise LookupError(expr)
    return expr


@cache
def module_inputs(environment: str) -> dict[str, Any]:
    """github-oidc's variables as the example root sets them for one environment's tfvars."""
    tfvars = tfcheck.load_file(INFRA / "environments" / f"{environment}.tfvars")
    example_vars = {
        name: body.get("default") for name, body in tfcheck.labelled(tfcheck.load_dir(EXAMPLE), "variable")
    } | tfvars
    call = dict(tfcheck.labelled(tfcheck.load_dir(EXAMPLE), "module"))["github_oidc"]
    module_vars = {
        n: b.get("default") for n, b in tfcheck.labelled(tfcheck.load_dir(MODULES / "github-oidc"), "variable")
    }
    for key, expr in call.items():
        if key in ("source", "providers", "count", "for_each", "depends_on"):
            continue
        try:
            module_vars[key] = _example_value(expr, example_vars)
        except LookupError:
            continue  # refers to another module's output: not needed to decide trust or actions
    return module_vars


@cache
def account_roles(environment: str, module_dir: Path = MODULES / "github-oidc") -> dict[str, Role]:
    """Job kind -> the role that kind assumes in this environment's account (roles not created are absent)."""
    files = tfcheck.load_dir(module_dir)
    locals_ = {k: v for parsed in files.values() for block in parsed.get("locals", []) for k, v in block.items()}
    ev = Evaluator(module_inputs(environment), locals_)
    docs = tfcheck.policy_documents(files)
    resources = list(tfcheck.typed(files, "resource"))
    roles: dict[str, Role] = {}
    for type_, name, body in resources:
        if type_ != "aws_iam_role" or not ev.present(body.get("count")):
            continue
        suffix = str(body["name"]).removeprefix("${var.name_prefix}-github-")
        kind = KIND_BY_SUFFIX[suffix]
        trust = docs[_doc_name(body["assume_role_policy"])]
        subjects = {
            ev.string(v)
            for st in tfcheck.statements(trust)
            for c in st.get("condition", [])
            if c["variable"] == tfcheck.OIDC_PREFIX + "sub"
            for v in c["values"]
        }
        actions: set[str] = set()
        for t2, _, policy in resources:
            if t2 == "aws_iam_role_policy" and re.search(rf"aws_iam_role\.{name}\b", str(policy["role"])):
                actions |= _document_actions(docs, _doc_name(policy["policy"]), ev)
        roles[kind] = Role(kind, ev.string(str(body["name"])), frozenset(subjects), frozenset(actions))
    return roles


def _doc_name(reference: str) -> str:
    match = re.fullmatch(r"\$\{data\.aws_iam_policy_document\.([a-z_]+)(\[0\])?\.json\}", reference)
    assert match, reference
    return match.group(1)


def _document_actions(docs: dict[str, dict[str, Any]], name: str, ev: Evaluator) -> set[str]:
    doc = docs[name]
    actions: set[str] = set()
    for source in doc.get("source_policy_documents", []) or []:
        actions |= _document_actions(docs, _doc_name(source), ev)
    for st in doc.get("statement", []):
        if st.get("effect", "Allow") == "Allow":
            actions.update(st["actions"])
    for dyn in doc.get("dynamic", []):
        body = dyn.get("statement")
        if body and ev.present(body.get("for_each")):
            for content in body.get("content", []):
                if content.get("effect", "Allow") == "Allow":
                    actions.update(content["actions"])
    return actions


def role_trusts(subjects: Iterable[str], repository: str, subject: str) -> bool:
    """Whether a role whose trust policy lists ``subjects`` takes a job's OIDC ``subject`` (the part after
    ``repo:<repository>:``), as STS would: the sub is compared with StringLike (IAM: `*` any run of characters, `?`
    one). GitHub issues one repository in both parts of the sub; the rehearsal's GitHub fake serves the bot's example
    repository while the tfvars name another, so both parts take the tfvars one."""
    subject = re.sub(r":job_workflow_ref:[^/]+/[^/]+/", f":job_workflow_ref:{repository}/", subject)
    full = f"repo:{repository}:{subject}"
    return any(fnmatch.fnmatchcase(full, p) for p in subjects)
