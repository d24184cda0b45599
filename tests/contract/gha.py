"""Which AWS role each job of the installed workflows assumes, and which OIDC subjects GitHub issues to it.

Reads ``.github/workflows/*.yml`` and ``.github/actions/*/action.yml`` of a repository tree. For every workflow
trigger it builds the run contexts GitHub can produce (event, ref, dispatch inputs), follows reusable workflows
(``uses: ./.github/workflows/x.yml``) and local composite actions, and yields one ``RoleUse`` per job, context
and role assumption. The subject rule (docs/oidc.md): a job that names an environment gets
``environment:<name>``; otherwise a pull request gets ``pull_request`` and anything else ``ref:<ref>``. With the
repository's subject template (repo, context, job_workflow_ref; bot/oidc_subjects.py) the full subject adds the file
the job is defined in (a called reusable workflow's own file) at the run's ref: ``RoleUse.full_subject``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.contract import ENVIRONMENTS, JOB_KINDS, plan_role_variable

from .gha_expr import UNKNOWN, VarRef, interpolate, truthy

MAIN = "refs/heads/main"
TAG = "refs/tags/v1.4.2"  # what `/deploy api v1.4.2 to production` dispatches at
OTHER_BRANCH = "refs/heads/feature/x"
CREDENTIALS_ACTION = "aws-actions/configure-aws-credentials"
ROLE_KIND_BY_VARIABLE = (
    {k.variable: k.name for k in JOB_KINDS.values() if k.scope == "environment"}
    | {JOB_KINDS["security-scan"].variable: "security-scan"}
    | {plan_role_variable(env): "plan" for env in ENVIRONMENTS}
)
SECURITY_ACCOUNT = "production"  # AWS_SECURITY_ROLE_ARN names production's security-scan role


@dataclass(frozen=True)
class Context:
    event: str
    ref: str
    inputs: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        extra = ",".join(f"{k}={v}" for k, v in sorted(self.inputs.items()) if v not in ("", None, "x"))
        return f"{self.event}@{self.ref}" + (f"[{extra}]" if extra else "")


@dataclass(frozen=True)
class RoleUse:
    """One job assuming one role in one run context."""

    where: str  # workflow.yml:job (caller chain for reusable workflows)
    context: Context
    variable: str  # the variable role-to-assume reads
    kind: str | None  # job kind of that variable, None when no contract variable
    environment: str | None  # the environment the job names, if any
    subject: str  # the default template's OIDC subject without the repo:<o>/<r>: prefix (the `context` claim)
    steps: tuple[dict[str, Any], ...]  # the job's steps from the role assumption on (composites expanded)
    workflow: str = ""  # the file the job is defined in: job_workflow_ref's path (a called workflow's own file)

    def full_subject(self, repository: str) -> str:
        """The sub GitHub issues with the template repo, context, job_workflow_ref (docs.github.com/en/actions/
        reference/security/oidc, "Customizing the subject claims"): job_workflow_ref is <o>/<r>/<path>@<ref>."""
        return (
            f"repo:{repository}:{self.subject}:job_workflow_ref:"
            f"{repository}/.github/workflows/{self.workflow}@{self.context.ref}"
        )

    @property
    def account(self) -> str | None:
        """The environment whose AWS account holds the role."""
        if self.kind == "plan":
            return next((e for e in ENVIRONMENTS if plan_role_variable(e) == self.variable), None)
        if self.kind == "security-scan":
            return SECURITY_ACCOUNT
        return self.environment


@dataclass
class Tree:
    root: Path
    workflows: dict[str, dict[str, Any]]
    actions: dict[str, dict[str, Any]]

    @classmethod
    def load(cls, root: Path) -> Tree:
        workflows: dict[str, dict[str, Any]] = {}
        for path in sorted((root / ".github" / "workflows").glob("*.y*ml")):
            data = yaml.safe_load(path.read_text())
            if isinstance(data, dict) and "jobs" in data:
                workflows[path.name] = data
        actions = {}
        for path in sorted((root / ".github" / "actions").glob("*/action.y*ml")):
            actions[f"./.github/actions/{path.parent.name}"] = yaml.safe_load(path.read_text())
        return cls(root, workflows, actions)


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    on = workflow.get("on", workflow.get(True))  # PyYAML reads the key `on` as True
    if isinstance(on, str):
        return {on: {}}
    if isinstance(on, list):
        return {name: {} for name in on}
    return {k: (v or {}) for k, v in (on or {}).items()}


def _push_refs(spec: dict[str, Any]) -> list[str]:
    branches, tags = spec.get("branches"), spec.get("tags")
    if branches is None and tags is None:
        return [MAIN, OTHER_BRANCH, TAG]
    refs = []
    for pattern in branches or []:
        refs.append(MAIN if pattern == "main" else OTHER_BRANCH)
    for pattern in tags or []:
        refs.append(TAG if re.fullmatch(pattern.replace("*", ".*"), "v1.4.2") else "refs/tags/other")
    return sorted(set(refs))


def _dispatch_inputs(spec: dict[str, Any]) -> list[dict[str, Any]]:
    names, choices = [], []
    for name, inp in (spec.get("inputs") or {}).items():
        names.append(name)
        if inp.get("type") == "choice":
            choices.append(list(inp.get("options") or []))
        elif inp.get("type") == "boolean":
            choices.append([True, False])
        else:
            choices.append([inp.get("default") or "x"])
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*choices)]


def contexts(workflow: dict[str, Any]) -> list[Context]:
    found: list[Context] = []
    for event, spec in triggers(workflow).items():
        if event in ("pull_request", "pull_request_target"):
            found.append(Context("pull_request", "refs/pull/1/merge"))
        elif event == "push":
            found.extend(Context("push", ref) for ref in _push_refs(spec))
        elif event in ("schedule", "workflow_run", "merge_group"):
            found.append(Context(event, MAIN))
        elif event == "workflow_dispatch":
            for inputs in _dispatch_inputs(spec):
                found.extend(Context(event, ref, inputs) for ref in (MAIN, TAG))
        elif event != "workflow_call":
            found.append(Context(event, MAIN))
    return found


def _expr_context(ctx: Context, matrix: dict[str, Any] | None) -> dict[str, Any]:
    ref_name = ctx.ref.rsplit("/", 1)[-1]
    return {
        "github": {
            "__open__": True,
            "event_name": ctx.event,
            "ref": ctx.ref,
            "ref_name": ref_name,
            "ref_type": "tag" if ctx.ref.startswith("refs/tags/") else "branch",
        },
        "inputs": dict(ctx.inputs),
        "matrix": {"__open__": True, **matrix} if matrix is not None else {"__open__": True},
        "needs": {"__open__": True},
        "steps": {"__open__": True},
        "env": {"__open__": True},
        "secrets": {"__open__": True},
        "runner": {"__open__": True},
        "strategy": {"__open__": True},
    }


def _matrices(job: dict[str, Any]) -> list[dict[str, Any] | None]:
    matrix = (job.get("strategy") or {}).get("matrix")
    if not isinstance(matrix, dict):
        return [None]
    axes = {k: v for k, v in matrix.items() if k not in ("include", "exclude") and isinstance(v, list)}
    if len(axes) != len([k for k in matrix if k not in ("include", "exclude")]):
        return [None]  # built with an expression: values unknown
    combos = [dict(zip(axes, c, strict=True)) for c in itertools.product(*axes.values())] if axes else []
    includes = matrix.get("include")
    if isinstance(includes, list):
        combos.extend(i for i in includes if isinstance(i, dict))
    return list(combos) or [None]


def _environment(job: dict[str, Any], expr_ctx: dict[str, Any], where: str) -> str | None:
    env = job.get("environment")
    if isinstance(env, dict):
        env = env.get("name")
    if env is None:
        return None
    value = interpolate(env, expr_ctx)
    if value is UNKNOWN or isinstance(value, VarRef):
        raise AssertionError(f"{where}: cannot tell which environment {env!r} names")
    return str(value) if value else None


def _subject(ctx: Context, environment: str | None) -> str:
    if environment:
        return f"environment:{environment}"
    return "pull_request" if ctx.event == "pull_request" else f"ref:{ctx.ref}"


def expand_steps(tree: Tree, steps: list[dict[str, Any]], depth: int = 0) -> list[dict[str, Any]]:
    """Steps with local composite actions inlined; a composite's ``inputs.X`` become the caller's ``with.X``."""
    out: list[dict[str, Any]] = []
    for step in steps or []:
        uses = str(step.get("uses", ""))
        action = tree.actions.get(uses.rstrip("/"))
        if action is None or depth > 5:
            out.append(step)
            continue
        given = {k: v for k, v in (step.get("with") or {}).items()}
        defaults = {k: (v or {}).get("default") for k, v in (action.get("inputs") or {}).items()}
        values = defaults | given
        for inner in expand_steps(tree, (action.get("runs") or {}).get("steps") or [], depth + 1):
            out.append(_substitute_inputs(inner, values))
    return out


def _substitute_inputs(step: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    def sub(v: Any) -> Any:
        if isinstance(v, str):
            whole = re.fullmatch(r"\s*\$\{\{\s*inputs\.([A-Za-z0-9_-]+)\s*\}\}\s*", v)
            if whole:
                return values.get(whole.group(1), "")
            return v
        if isinstance(v, dict):
            return {k: sub(x) for k, x in v.items()}
        return v

    return {k: sub(v) for k, v in step.items()}


def role_uses(tree: Tree) -> Iterator[RoleUse]:
    for name, workflow in tree.workflows.items():
        for ctx in contexts(workflow):
            yield from _workflow_uses(tree, workflow, ctx, name, 0, name)


def _workflow_uses(
    tree: Tree, workflow: dict[str, Any], ctx: Context, where: str, depth: int, file: str
) -> Iterator[RoleUse]:
    jobs: dict[str, dict[str, Any]] = workflow.get("jobs") or {}
    skipped: dict[str, bool] = {}
    for job_id in _topological(jobs):
        job = jobs[job_id]
        skipped[job_id] = True
        for matrix in _matrices(job):
            expr_ctx = _expr_context(ctx, matrix)
            if not _may_run(job, expr_ctx, skipped):
                continue
            skipped[job_id] = False
            label = f"{where}:{job_id}"
            uses = str(job.get("uses", ""))
            if uses.startswith("./.github/workflows/") and depth < 4:
                callee_file = uses.rsplit("/", 1)[-1]
                callee = tree.workflows.get(callee_file)
                if callee is None:
                    raise AssertionError(f"{label}: calls {uses}, which is not installed")
                call_ctx = _call_context(callee, job, ctx, expr_ctx)
                yield from _workflow_uses(tree, callee, call_ctx, label, depth + 1, callee_file)
                continue
            yield from _job_uses(tree, job, ctx, expr_ctx, label, file)


def _needs(job: dict[str, Any]) -> list[str]:
    needs = job.get("needs") or []
    return [needs] if isinstance(needs, str) else list(needs)


def _topological(jobs: dict[str, dict[str, Any]]) -> list[str]:
    order: list[str] = []
    while len(order) < len(jobs):
        ready = [j for j in jobs if j not in order and all(n in order for n in _needs(jobs[j]))]
        if not ready:
            raise AssertionError(f"jobs with unresolvable needs: {sorted(set(jobs) - set(order))}")
        order.extend(ready)
    return order


_STATUS_FUNCTION = re.compile(r"\b(always|failure|cancelled|success)\(\s*\)")


def _may_run(job: dict[str, Any], expr_ctx: dict[str, Any], skipped: dict[str, bool]) -> bool:
    """False only when the job is certainly skipped in this context."""
    needs = _needs(job)
    expr_ctx["needs"] = {n: ({"result": "skipped"} if skipped.get(n) else {"__open__": True}) for n in needs}
    condition = job.get("if")
    if any(skipped.get(n) for n in needs) and not _STATUS_FUNCTION.search(str(condition or "")):
        return False  # an implicit success() fails when a needed job was skipped
    return condition is None or truthy(interpolate(_as_expr(condition), expr_ctx)) is not False


def _as_expr(condition: Any) -> Any:
    if isinstance(condition, str) and "${{" not in condition:
        return "${{ " + condition + " }}"
    return condition


def _call_context(callee: dict[str, Any], job: dict[str, Any], ctx: Context, expr_ctx: dict[str, Any]) -> Context:
    spec = triggers(callee).get("workflow_call") or {}
    inputs = {k: (v or {}).get("default") for k, v in (spec.get("inputs") or {}).items()}
    for key, value in (job.get("with") or {}).items():
        inputs[key] = interpolate(value, expr_ctx)
    return Context(ctx.event, ctx.ref, inputs)


def _job_uses(
    tree: Tree, job: dict[str, Any], ctx: Context, expr_ctx: dict[str, Any], label: str, file: str
) -> Iterator[RoleUse]:
    steps = expand_steps(tree, job.get("steps") or [])
    for i, step in enumerate(steps):
        if not str(step.get("uses", "")).startswith(CREDENTIALS_ACTION):
            continue
        raw = (step.get("with") or {}).get("role-to-assume", "")
        value = interpolate(raw, expr_ctx)
        variable = value.name if isinstance(value, VarRef) else f"<not a variable: {raw!r}>"
        environment = _environment(job, expr_ctx, label)
        following = [s for s in steps[i + 1 :]]
        end = next((j for j, s in enumerate(following) if str(s.get("uses", "")).startswith(CREDENTIALS_ACTION)), None)
        yield RoleUse(
            where=label,
            context=ctx,
            variable=variable,
            kind=ROLE_KIND_BY_VARIABLE.get(variable),
            environment=environment,
            subject=_subject(ctx, environment),
            steps=tuple(following[:end]),
            workflow=file,
        )
