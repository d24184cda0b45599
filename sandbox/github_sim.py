"""The GitHub fake's Actions run simulation: requested/queued -> (pending) -> (waiting) -> in_progress -> completed,
with ``workflow_run``, ``workflow_job`` and ``deployment_protection_rule`` webhooks on the way. A workflow with a
``concurrency`` group follows GitHub's rule (sandbox/github_concurrency.py); a run can be cancelled (REST
"Cancel a workflow run"), and then completes with conclusion ``cancelled``."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from sandbox import github_payloads as gp
from sandbox.github_concurrency import Groups, workflow_concurrency

if TYPE_CHECKING:
    from sandbox.github_fake import GitHubFake


class RunSimulator:
    def __init__(self, fake: GitHubFake) -> None:
        self.fake = fake
        self.runs: dict[int, gp.Run] = {}
        self.protected: dict[str, str] = {}  # environment -> "custom" | "reviewers"
        self._next_id = 5_000_000_001
        self._tasks: set[asyncio.Task[None]] = set()
        self._decisions: dict[int, asyncio.Future[tuple[str, str]]] = {}
        self._waiting_env: dict[int, tuple[str, str, dict[str, Any]]] = {}
        self.groups = Groups()  # concurrency groups: one running and one pending run each
        self._starts: dict[int, asyncio.Future[bool]] = {}  # pending runs: True = run now, False = cancelled
        self.cancel_requested: set[int] = set()

    # lifecycle ---------------------------------------------------------------------------------
    def create(
        self, wf: gp.Workflow, ref: str, sha: str, inputs: dict[str, str], event: str, actor: str
    ) -> gp.Run:
        run_id, self._next_id = self._next_id, self._next_id + 1
        env = inputs.get("environment") or None
        env = self.fake.job_environment.get(env, env) if env else None  # the environment the deploy job names
        title = run_name(wf.file, inputs, sha)
        if title is None:
            title = wf.name + (f" to {env}" if env else "")
            if inputs.get("request_id"):
                title += f" [{inputs['request_id']}]"
        fake = self.fake
        conclusion = fake.next_conclusion or fake.conclusion_by_ref.get(ref) or "success"
        fake.next_conclusion = None
        now = time.time()
        run = gp.Run(
            id=run_id,
            number=len(self.runs) + 1,
            workflow=wf,
            head_branch=ref,
            head_sha=sha,
            inputs=inputs,
            display_title=title,
            event=event,
            actor=actor,
            created_at=now,
            environment=env,
            updated_at=now,
            planned_conclusion=conclusion,
        )
        steps = [gp.Step("Set up job", 1), gp.Step("Deploy", 2), gp.Step("Complete job", 3)]
        run.jobs.append(gp.Job(id=run_id * 10 + 1, name="deploy", steps=steps, created_at=now))
        self.runs[run_id] = run
        self._enter_group(run, wf, ref, sha, inputs, event, actor)
        task = asyncio.get_running_loop().create_task(self._simulate(run))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return run

    def _enter_group(self, run: gp.Run, wf: gp.Workflow, ref: str, sha: str, inputs: dict[str, str], event: str,
                     actor: str) -> None:
        fake = self.fake
        full_ref = f"refs/tags/{ref}" if ref in fake.tags and ref not in fake.branches else f"refs/heads/{ref}"
        contexts = {"inputs": inputs, "vars": {}, "github": {
            "ref": full_ref, "ref_name": ref, "sha": sha, "workflow": wf.name, "event_name": event, "actor": actor,
            "repository": fake.repository, "run_id": str(run.id)}}
        concurrency = workflow_concurrency(fake.workflow_sources.get(wf.file, ""), contexts)
        if concurrency is None:
            return
        runs_now, cancel = self.groups.admit(run.id, concurrency)
        for other in cancel:
            self.cancel(other)
        if not runs_now:
            run.status = "pending"
            self._starts[run.id] = asyncio.get_running_loop().create_future()

    def cancel(self, run_id: int) -> bool:
        """Cancel a run that has not completed (False when it has): a pending run never starts, a run waiting at
        an environment stops waiting, a running one stops at its next step."""
        run = self.runs.get(run_id)
        if run is None or run.status == "completed":
            return False
        self.cancel_requested.add(run_id)
        start = self._starts.get(run_id)
        if start is not None and not start.done():
            start.set_result(False)
        decision = self._decisions.pop(run_id, None)
        if decision is not None and not decision.done():
            self._waiting_env.pop(run_id, None)
            decision.set_result(("cancelled", ""))
        return True

    async def wait_idle(self, within: float) -> None:
        if self._tasks:
            await asyncio.wait_for(asyncio.gather(*list(self._tasks)), within)

    async def cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # approvals ---------------------------------------------------------------------------------
    def awaiting_rule(self, run: gp.Run, environment: str) -> bool:
        waiting = self._waiting_env.get(run.id)
        return waiting is not None and waiting[0] == environment and waiting[1] == "custom"

    def pending_deployments(self, run: gp.Run) -> list[dict[str, Any]]:
        waiting = self._waiting_env.get(run.id)
        if waiting is None or waiting[1] != "reviewers":
            return []
        env = waiting[0]
        env_id = 300_000 + sum(map(ord, env))
        api = f"{self.fake.url}/repos/{self.fake.repository}"
        return [
            {
                "environment": {
                    "id": env_id,
                    "node_id": gp.node_id("Environment", env_id),
                    "name": env,
                    "url": f"{api}/environments/{env}",
                    "html_url": f"{gp.HTML}/{self.fake.repository}/deployments/activity_log"
                    f"?environments_filter={env}",
                },
                "wait_timer": 0,
                "wait_timer_started_at": gp.iso(run.created_at),
                "current_user_can_approve": True,
                "reviewers": [{"type": "User", "reviewer": gp.user(self.fake.url, "lead-gh")}],
            }
        ]

    def decide(self, run: gp.Run, state: str, comment: str) -> list[dict[str, Any]]:
        waiting = self._waiting_env.pop(run.id, None)
        future = self._decisions.pop(run.id, None)
        if future is not None and not future.done():
            future.set_result((state, comment))
        return [waiting[2]] if waiting else []

    # simulation --------------------------------------------------------------------------------
    async def _simulate(self, run: gp.Run) -> None:
        job, delay = run.jobs[0], self.fake.step_delay
        await self._emit_run(run, "requested")
        await self._emit_job(run, job, "queued")
        start = self._starts.get(run.id)
        if start is not None and not await start:  # pending in its concurrency group, then replaced or cancelled
            return await self._finish(run, job, "cancelled", "cancelled")
        self._starts.pop(run.id, None)
        await asyncio.sleep(delay)
        for gate in range(self.fake.gates_per_run if run.environment in self.protected else 0):
            if not await self._gate(run, job, gate):  # e.g. an image-build job, then the release job
                return
        if run.id in self.cancel_requested:
            return await self._finish(run, job, "cancelled", "cancelled")
        run.status, job.status, job.runner, job.started_at = "in_progress", "in_progress", True, time.time()
        for step in job.steps[:2]:
            step.status, step.started_at = "in_progress", time.time()
        job.steps[0].status, job.steps[0].conclusion, job.steps[0].completed_at = (
            "completed",
            "success",
            time.time(),
        )
        await self._emit_run(run, "in_progress")
        await self._emit_job(run, job, "in_progress")
        await asyncio.sleep(delay)
        if run.id in self.cancel_requested:
            return await self._finish(run, job, "cancelled", "cancelled")
        if self.fake.executor is not None:
            run.planned_conclusion = await self.fake.executor(run)
        if run.id in self.cancel_requested:
            run.planned_conclusion = "cancelled"
        failed = run.planned_conclusion == "failure"
        for step in job.steps[1:]:
            step.started_at = step.started_at or time.time()
            step.status, step.completed_at = "completed", time.time()
            step.conclusion = "failure" if failed and step.number == 2 else "success"
        job_conclusion = (
            run.planned_conclusion
            if run.planned_conclusion in ("success", "failure", "cancelled", "skipped")
            else "failure"
        )
        await self._finish(run, job, job_conclusion, run.planned_conclusion)

    async def _gate(self, run: gp.Run, job: gp.Job, gate: int = 0) -> bool:
        """Wait for an approval; False when rejected (the run has then completed)."""
        assert run.environment is not None
        kind = self.protected[run.environment]
        fake = self.fake
        dep = gp.deployment(
            fake.url,
            fake.repository,
            dep_id=910_000 + len(self.runs) * 10 + run.number + gate * 1_000_000,
            sha=run.head_sha,
            ref=run.head_branch,
            environment=run.environment,
            creator=run.actor,
            ts=time.time(),
        )
        self._waiting_env[run.id] = (run.environment, kind, dep)
        future: asyncio.Future[tuple[str, str]] = asyncio.get_running_loop().create_future()
        self._decisions[run.id] = future
        run.status, job.status = "waiting", "waiting"
        await self._emit_job(run, job, "waiting")
        if kind == "custom":
            await fake.hooks.send(
                "deployment_protection_rule",
                {
                    "action": "requested",
                    "environment": run.environment,
                    "event": run.event,
                    "deployment_callback_url": f"{fake.url}/repos/{fake.repository}/actions/runs/{run.id}"
                    "/deployment_protection_rule",
                    "deployment": dep,
                    "pull_requests": [],
                    **self._common(),
                },
            )
        state, _comment = await future
        if state == "approved":
            return True
        outcome = "cancelled" if state == "cancelled" else "failure"  # cancelled while waiting, else rejected
        await self._finish(run, job, outcome, outcome)
        return False

    async def _finish(self, run: gp.Run, job: gp.Job, job_conclusion: str, conclusion: str) -> None:
        job.status, job.conclusion, job.completed_at = "completed", job_conclusion, time.time()
        await self._emit_job(run, job, "completed")
        run.status, run.conclusion, run.updated_at = "completed", conclusion, time.time()
        self._release(run.id)
        await self._emit_run(run, "completed")

    def _release(self, run_id: int) -> None:
        """A completed run leaves its concurrency group: the group's pending run starts."""
        following = self.groups.release(run_id)
        start = self._starts.get(following) if following is not None else None
        if start is not None and not start.done():
            start.set_result(True)

    def _common(self) -> dict[str, Any]:
        fake = self.fake
        return {
            "repository": gp.repository(fake.url, fake.repository, fake.repo_id, fake.default_branch),
            "sender": gp.user(fake.url, fake.actor),
            "installation": {
                "id": fake.installation_id,
                "node_id": gp.node_id("Installation", fake.installation_id),
            },
        }

    async def _emit_run(self, run: gp.Run, action: str) -> None:
        run.updated_at = time.time()
        fake = self.fake
        payload = {
            "action": action,
            "workflow": run.workflow.rest(fake.url, fake.repository),
            "workflow_run": gp.workflow_run(fake.url, fake.repository, fake.repo_id, run),
            **self._common(),
        }
        payload["sender"] = gp.user(fake.url, run.actor)
        await fake.hooks.send("workflow_run", payload)

    async def _emit_job(self, run: gp.Run, job: gp.Job, action: str) -> None:
        fake = self.fake
        payload = {
            "action": action,
            "workflow_job": gp.workflow_job(fake.url, fake.repository, run, job),
            **self._common(),
        }
        payload["sender"] = gp.user(fake.url, run.actor)
        await fake.hooks.send("workflow_job", payload)


_WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"
_EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def run_name(file: str, inputs: dict[str, str], sha: str) -> str | None:
    """The run's title as GitHub computes it from the shipped workflow's ``run-name`` (the subset of
    expressions our workflows use: ``inputs.x``, ``github.sha``, ``a || 'literal'``)."""
    path = _WORKFLOWS / file
    if not path.is_file():
        return None
    template = (yaml.safe_load(path.read_text()) or {}).get("run-name")
    if not isinstance(template, str):
        return None

    def value(term: str) -> str:
        term = term.strip()
        if term.startswith("'") and term.endswith("'"):
            return term[1:-1]
        if term.startswith("inputs."):
            return inputs.get(term.removeprefix("inputs."), "")
        return sha if term == "github.sha" else ""

    def evaluate(m: re.Match[str]) -> str:
        for term in m.group(1).split("||"):
            v = value(term)
            if v:
                return v
        return ""

    return _EXPR.sub(evaluate, template)
