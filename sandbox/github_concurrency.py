"""GitHub Actions' concurrency rule for workflow runs, as the GitHub fake applies it.

From GitHub's docs, "Control the concurrency of workflows and jobs"
(https://docs.github.com/en/actions/how-tos/write-workflows/choose-when-workflows-run/control-workflow-concurrency,
also https://docs.github.com/en/actions/using-jobs/using-concurrency):

- "there can be at most one running and one pending job in a concurrency group at any time";
- "When a concurrent job or workflow is queued, if another job or workflow using the same concurrency group in the
  repository is in progress, the queued job or workflow will be pending. Any existing pending job or workflow in the
  same concurrency group, if it exists, will be canceled and the new queued job or workflow will take its place.";
- "To also cancel any currently running job or workflow in the same concurrency group, specify
  cancel-in-progress: true";
- "The concurrency group name is case insensitive";
- allowed expression contexts for the group: github, inputs, vars (a workflow-level group: github, inputs, vars).

The fake applies the workflow-level ``concurrency`` key (a string, or ``{group, cancel-in-progress}``); job-level
groups are not modelled (the fake simulates one job per run).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from sandbox import expressions


@dataclass(frozen=True)
class Concurrency:
    group: str  # lowercased: GitHub compares group names case-insensitively
    cancel_in_progress: bool


def workflow_concurrency(source: str, contexts: dict[str, Any]) -> Concurrency | None:
    """The run's concurrency group from the workflow file's top-level ``concurrency`` key, None when it has none."""
    doc = yaml.safe_load(source) or {}
    spec = doc.get("concurrency") if isinstance(doc, dict) else None
    if spec is None:
        return None
    if isinstance(spec, str):
        spec = {"group": spec}
    group = expressions.to_string(expressions.interpolate(spec.get("group", ""), contexts))
    if not group:
        return None
    cancel = expressions.interpolate(spec.get("cancel-in-progress", False), contexts)
    return Concurrency(group.lower(), expressions.truthy(cancel) and str(cancel).lower() != "false")


@dataclass
class Group:
    running: int | None = None  # the run that holds the group (in progress, or waiting at an environment)
    pending: int | None = None  # at most one run waits for the group


@dataclass
class Groups:
    """Which run holds, and which run waits for, each concurrency group."""

    groups: dict[str, Group] = field(default_factory=dict)
    of_run: dict[int, str] = field(default_factory=dict)

    def admit(self, run_id: int, concurrency: Concurrency) -> tuple[bool, list[int]]:
        """A new run enters its group: (runs now, runs to cancel). With cancel-in-progress the running run is
        cancelled too; otherwise a newer pending run replaces (cancels) the older pending one."""
        g = self.groups.setdefault(concurrency.group, Group())
        self.of_run[run_id] = concurrency.group
        cancel: list[int] = []
        if g.pending is not None:
            cancel.append(g.pending)
            g.pending = None
        if g.running is None:
            g.running = run_id
            return True, cancel
        if concurrency.cancel_in_progress:
            cancel.append(g.running)
        g.pending = run_id
        return False, cancel

    def release(self, run_id: int) -> int | None:
        """``run_id`` has completed: the group's pending run (if any) now runs; returns it."""
        name = self.of_run.pop(run_id, None)
        g = self.groups.get(name) if name is not None else None
        if g is None:
            return None
        if g.pending == run_id:
            g.pending = None
            return None
        if g.running != run_id:
            return None
        g.running, g.pending = g.pending, None
        return g.running
