"""A local runner for the shipped workflows: one job, run on this machine the way a GitHub runner would.

It reads the workflow as ``install-workflows`` laid it into a repository and runs its steps for real:
``run:`` scripts with ``bash --noprofile --norc -eo pipefail`` and the step's evaluated ``env``, the
repository's own composite actions (``./.github/actions/*``), reusable workflows
(``uses: ./.github/workflows/x.yml``), ``GITHUB_OUTPUT`` / ``GITHUB_ENV`` files, and ``if:`` conditions.
The pinned third-party actions are replaced by stand-ins that do what the job relies on:

- ``actions/checkout``: the repository directory is the workspace;
- ``actions/setup-python``: the given interpreter (a virtualenv *without* this project) is first on PATH,
  so the vendored engine and its hash-pinned requirements are what the job really uses;
- ``aws-actions/configure-aws-credentials``: the role and the OIDC subject the job would present are checked
  by ``assume(role_arn, subject)`` (a trust policy), then moto's endpoint and test credentials are set;
- ``aws-actions/amazon-ecr-login``: outputs the account's registry host;
- ``actions/upload-artifact`` / ``download-artifact``: a directory per artifact name.

Nothing here is used by the bot; the demo and the rehearsal test (tests/contract) use it with moto's server and
the GitHub fake.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sandbox.expressions import condition, interpolate, to_string

REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
AWS_TEST_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}


class JobFailed(RuntimeError):
    pass


@dataclass
class JobResult:
    outcome: str
    outputs: dict[str, str]
    steps: list[tuple[str, str]] = field(default_factory=list)  # (step name, outcome)
    roles: list[tuple[str, str]] = field(default_factory=list)  # (role ARN, OIDC subject)
    log: str = ""


@dataclass
class _Job:
    """The state of one job while it runs."""

    contexts: dict[str, Any]
    env: dict[str, str]
    result: JobResult
    failed: bool = False
    workdir: Path | None = None


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), path
    return data


def _needs(job: dict[str, Any]) -> list[str]:
    needs = job.get("needs") or []
    return [needs] if isinstance(needs, str) else list(needs)


def _read_kv_file(path: Path) -> dict[str, str]:
    """GITHUB_OUTPUT / GITHUB_ENV: ``name=value`` lines and ``name<<DELIM`` heredocs."""
    out: dict[str, str] = {}
    lines = path.read_text().splitlines() if path.exists() else []
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            j = lines.index(delim, i + 1)
            out[name] = "\n".join(lines[i + 1:j])
            i = j + 1
            continue
        if "=" in line:
            name, value = line.split("=", 1)
            out[name] = value
        i += 1
    return out


class LocalRunner:
    def __init__(self, repo: Path, *, python_bin: Path, variables: Callable[[str | None], dict[str, str]],
                 github: Mapping[str, str], aws_endpoint: str | Mapping[str, str], aws_region: str = "us-east-1",
                 assume: Callable[[str, str], None] | None = None) -> None:
        self.repo = repo
        self.python_bin = python_bin
        self.variables = variables
        self.github = dict(github)
        self.aws_endpoint = aws_endpoint
        self.aws_region = aws_region
        self.assume = assume
        self.artifacts = Path(tempfile.mkdtemp(prefix="runner-artifacts-"))

    # ------------------------------------------------------------------ jobs
    def run(self, workflow: str, job_id: str, *, inputs: Mapping[str, str], event: str = "workflow_dispatch",
            ref: str = "refs/heads/main", needs: Mapping[str, Any] | None = None) -> JobResult:
        doc = _load(self.repo / ".github" / "workflows" / workflow)
        job = doc["jobs"][job_id]
        wf_inputs = self._inputs(doc, inputs, event)
        github = {**self.github, "event_name": event, "ref": ref, "ref_name": ref.rsplit("/", 1)[-1],
                  "workflow": doc.get("name", workflow), "job": job_id}
        contexts: dict[str, Any] = {"inputs": wf_inputs, "github": github, "needs": dict(needs or {}),
                                    "matrix": {}, "env": {}, "steps": {}}
        contexts["vars"] = self.variables(None)
        env_name = self._environment(job, contexts)
        contexts["vars"] = self.variables(env_name)
        if "uses" in job:
            return self._call_reusable(job, contexts, event=event, ref=ref)
        env = {k: to_string(interpolate(v, contexts)) for k, v in (doc.get("env") or {}).items()}
        contexts["env"] = env
        env.update({k: to_string(interpolate(v, contexts)) for k, v in (job.get("env") or {}).items()})
        context = f"environment:{env_name}" if env_name else ("pull_request" if event == "pull_request" else
                                                                f"ref:{ref}")
        # the repository's subject template is repo, context, job_workflow_ref (infra/modules/github-environments):
        # GitHub appends the file the job is defined in at the run's ref (https://docs.github.com/en/actions/
        # reference/security/oidc, "Customizing the subject claims"); the subject here omits the leading repo:<o>/<r>:
        repository = self.github.get("repository", "")
        subject = f"{context}:job_workflow_ref:{repository}/.github/workflows/{workflow}@{ref}"
        state = _Job(contexts={**contexts, "runner": {"temp": tempfile.mkdtemp(prefix="runner-temp-")},
                               "oidc_subject": subject}, env=env, result=JobResult("success", {}))
        defaults = ((job.get("defaults") or {}).get("run") or {}).get("working-directory")
        state.workdir = self.repo / to_string(interpolate(defaults, contexts)) if defaults else self.repo
        for step in job.get("steps", []):
            self._step(step, state, scope=state.contexts)
        outputs = {k: to_string(interpolate(v, state.contexts)) for k, v in (job.get("outputs") or {}).items()}
        state.result.outputs = outputs
        state.result.outcome = "failure" if state.failed else "success"
        return state.result

    def run_workflow(self, workflow: str, *, inputs: Mapping[str, str], event: str = "workflow_dispatch",
                     ref: str = "refs/heads/main") -> dict[str, JobResult]:
        """Every job of a workflow in `needs` order; a job whose `if:` is false (or whose needs failed) is
        skipped, as GitHub does. Returns the jobs that ran."""
        doc = _load(self.repo / ".github" / "workflows" / workflow)
        jobs: dict[str, Any] = doc["jobs"]
        done: dict[str, JobResult] = {}
        results: dict[str, str] = {}
        while len(results) < len(jobs):
            ready = [j for j in jobs if j not in results and all(n in results for n in _needs(jobs[j]))]
            if not ready:
                raise JobFailed(f"{workflow}: a cycle in `needs`")
            for job_id in ready:
                needs = {n: {"result": results[n], "outputs": done[n].outputs if n in done else {}}
                         for n in _needs(jobs[job_id])}
                contexts = {"inputs": self._inputs(doc, inputs, event), "needs": needs, "github": {
                    **self.github, "event_name": event, "ref": ref}, "vars": self.variables(None)}
                failed_need = any(needs[n]["result"] != "success" for n in needs)  # skipped counts, like GitHub
                status = {"success": not failed_need, "failure": failed_need, "always": True,
                          "cancelled": False}.__getitem__
                if not condition(jobs[job_id].get("if"), contexts, status):
                    results[job_id] = "skipped"
                    continue
                done[job_id] = self.run(workflow, job_id, inputs=inputs, event=event, ref=ref, needs=needs)
                results[job_id] = done[job_id].outcome
        return done

    def _inputs(self, doc: dict[str, Any], given: Mapping[str, str], event: str) -> dict[str, Any]:
        on = doc.get("on", doc.get(True)) or {}
        spec = ((on.get("workflow_dispatch") or on.get("workflow_call") or {}) if isinstance(on, dict) else {})
        values: dict[str, Any] = {}
        for name, meta in (spec.get("inputs") or {}).items():
            values[name] = (meta or {}).get("default", "" if (meta or {}).get("type") != "boolean" else False)
        values.update(given)
        unknown = set(given) - set(spec.get("inputs") or {})
        if unknown:
            raise JobFailed(f"inputs {sorted(unknown)} are not declared by the workflow")
        return values

    def _environment(self, job: dict[str, Any], contexts: dict[str, Any]) -> str | None:
        env = job.get("environment")
        if env is None:
            return None
        name = env.get("name") if isinstance(env, dict) else env
        return to_string(interpolate(name, contexts)) or None

    def _call_reusable(self, job: dict[str, Any], contexts: dict[str, Any], *, event: str, ref: str) -> JobResult:
        path = str(job["uses"])
        if not path.startswith("./.github/workflows/"):
            raise JobFailed(f"only local reusable workflows are supported, not {path}")
        called = _load(self.repo / path)
        inputs = {k: interpolate(v, contexts) for k, v in (job.get("with") or {}).items()}
        results: dict[str, JobResult] = {}
        for job_id in called["jobs"]:
            result = self.run(path.rsplit("/", 1)[-1], job_id, inputs={k: to_string(v) for k, v in inputs.items()},
                              event=event, ref=ref)
            results[job_id] = result
            if result.outcome != "success":
                return result
        last = results[list(results)[-1]]
        outs = ((called.get("on", called.get(True)) or {}).get("workflow_call") or {}).get("outputs") or {}
        jobs_ctx = {j: {"outputs": r.outputs, "result": r.outcome} for j, r in results.items()}
        last.outputs = {k: to_string(interpolate(v["value"], {"jobs": jobs_ctx})) for k, v in outs.items()}
        for r in results.values():
            if r is not last:
                last.steps = r.steps + last.steps
                last.roles = r.roles + last.roles
        return last

    # ------------------------------------------------------------------ steps
    def _status(self, state: _Job) -> Callable[[str], bool]:
        return lambda s: {"success": not state.failed, "failure": state.failed, "always": True,
                          "cancelled": False}[s]

    def _step(self, step: dict[str, Any], state: _Job, *, scope: dict[str, Any],
              action_dir: Path | None = None) -> None:
        name = str(step.get("name") or step.get("uses") or str(step.get("run", ""))[:40])
        if not condition(step.get("if"), scope, self._status(state)):
            state.result.steps.append((name, "skipped"))
            self._record(step, scope, "skipped", {})
            return
        try:
            outputs = self._execute(step, state, scope=scope, action_dir=action_dir)
        except JobFailed as exc:
            state.failed = True
            state.result.log += f"\n[{name}] failed: {exc}"
            state.result.steps.append((name, "failure"))
            self._record(step, scope, "failure", {})
            return
        state.result.steps.append((name, "success"))
        self._record(step, scope, "success", outputs)

    @staticmethod
    def _record(step: dict[str, Any], scope: dict[str, Any], outcome: str, outputs: dict[str, str]) -> None:
        if step.get("id"):
            scope["steps"][step["id"]] = {"outputs": outputs, "outcome": outcome, "conclusion": outcome}

    def _execute(self, step: dict[str, Any], state: _Job, *, scope: dict[str, Any],
                 action_dir: Path | None) -> dict[str, str]:
        env = {**state.env, **{k: to_string(interpolate(v, scope)) for k, v in (step.get("env") or {}).items()}}
        with_ = {k: interpolate(v, scope) for k, v in (step.get("with") or {}).items()}
        if "run" in step:
            script = to_string(interpolate(step["run"], scope))
            workdir = step.get("working-directory")
            cwd = self.repo / to_string(interpolate(workdir, scope)) if workdir else (state.workdir or self.repo)
            return self._shell(script, env, state, cwd=cwd)
        uses = str(step["uses"])
        if uses.startswith("./.github/actions/"):
            return self._composite(self.repo / uses, with_, state, env)
        return self._stand_in(uses.split("@", 1)[0], with_, state)

    def _composite(self, path: Path, with_: dict[str, Any], state: _Job, env: dict[str, str]) -> dict[str, str]:
        action = _load(path / "action.yml")
        inputs: dict[str, Any] = {}
        outer = state.contexts
        for name, meta in (action.get("inputs") or {}).items():
            default = (meta or {}).get("default", "")
            inputs[name] = with_[name] if name in with_ else interpolate(default, outer)
            if (meta or {}).get("required") and name not in with_ and not default:
                raise JobFailed(f"{path.name}: input {name} is required")
        unknown = set(with_) - set(action.get("inputs") or {})
        if unknown:
            raise JobFailed(f"{path.name}: unexpected inputs {sorted(unknown)}")
        scope = {**outer, "inputs": inputs, "steps": {}, "env": {**state.env, **env}}
        inner = _Job(contexts=scope, env={**state.env, **env}, result=state.result, workdir=self.repo)
        for step in action["runs"]["steps"]:
            self._step(step, inner, scope=scope, action_dir=path)
            state.env.update({k: v for k, v in inner.env.items() if k not in env or inner.env[k] != env[k]})
            if inner.failed:
                raise JobFailed(f"{path.name}: a step failed")
        outs = action.get("outputs") or {}
        return {k: to_string(interpolate(v.get("value"), scope)) for k, v in outs.items()}

    def _shell(self, script: str, env: dict[str, str], state: _Job, *, cwd: Path) -> dict[str, str]:
        temp = Path(state.contexts["runner"]["temp"])
        out_file, env_file = temp / f"out-{uuid.uuid4().hex}", temp / f"env-{uuid.uuid4().hex}"
        out_file.touch()
        env_file.touch()
        script_file = temp / f"step-{uuid.uuid4().hex}.sh"
        script_file.write_text(script)
        full = {
            "PATH": f"{self.python_bin}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8",
            "GITHUB_WORKSPACE": str(self.repo), "GITHUB_OUTPUT": str(out_file), "GITHUB_ENV": str(env_file),
            "GITHUB_STEP_SUMMARY": str(temp / "summary.md"), "RUNNER_TEMP": str(temp),
            "GITHUB_SHA": self.github.get("sha", ""), "GITHUB_REPOSITORY": self.github.get("repository", ""),
            "GITHUB_RUN_ID": self.github.get("run_id", "1"), "GITHUB_RUN_ATTEMPT": "1",
            "GITHUB_SERVER_URL": self.github.get("server_url", ""), "GITHUB_API_URL": self.github.get("api_url", ""),
            "GITHUB_REF": state.contexts["github"]["ref"], "CI": "true",
            **state.env, **env,
        }
        done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_file)], cwd=cwd,
                              env=full, capture_output=True, text=True, timeout=300)
        state.result.log += done.stdout + done.stderr
        state.env.update(_read_kv_file(env_file))
        if done.returncode != 0:
            raise JobFailed(f"exit {done.returncode}: {done.stderr.strip()[-400:]}")
        return _read_kv_file(out_file)

    def _stand_in(self, action: str, with_: dict[str, Any], state: _Job) -> dict[str, str]:
        if action in ("actions/checkout", "actions/setup-python", "actions/setup-node", "hashicorp/setup-terraform"):
            return {}
        if action == "aws-actions/configure-aws-credentials":
            role = to_string(with_.get("role-to-assume"))
            subject = state.contexts["oidc_subject"]
            if not role:
                raise JobFailed("configure-aws-credentials: role-to-assume is empty")
            if self.assume is not None:
                self.assume(role, subject)  # raises JobFailed when the trust policy refuses the subject
            state.result.roles.append((role, subject))
            endpoint = self.aws_endpoint
            if not isinstance(endpoint, str):  # one moto server per AWS account, like one account per environment
                account = role.split(":")[4] if role.count(":") >= 5 else ""
                if account not in endpoint:
                    raise JobFailed(f"configure-aws-credentials: no AWS account {account!r} in this sandbox")
                endpoint = endpoint[account]
            state.env.update({**AWS_TEST_ENV, "AWS_ENDPOINT_URL": endpoint,
                              "AWS_REGION": to_string(with_.get("aws-region")) or self.aws_region,
                              "AWS_DEFAULT_REGION": to_string(with_.get("aws-region")) or self.aws_region})
            return {}
        if action == "aws-actions/amazon-ecr-login":
            return {"registry": REGISTRY}
        if action in ("actions/upload-artifact", "actions/download-artifact"):
            store = self.artifacts / to_string(with_.get("name", "artifact"))
            path = Path(to_string(with_.get("path", ".")).splitlines()[0].strip())
            if action.endswith("upload-artifact"):
                shutil.copytree(path, store, dirs_exist_ok=True) if path.is_dir() else None
            else:
                shutil.copytree(store, path, dirs_exist_ok=True)
            return {}
        raise JobFailed(f"no stand-in for {action}")
