"""Does a workflow file accept the dispatch the bot will send? (``check-config --online``)

GitHub answers 422 to a dispatch of a workflow without a ``workflow_dispatch`` trigger, with an input the file does
not declare, or without a required input that has no default (docs/workflows.md#what-the-bot-sends). This reads the
file the way GitHub does and names each problem before a deploy meets it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml


def dispatch_problems(source: str, sent: Sequence[str]) -> list[str]:
    """Problems of dispatching the workflow ``source`` (YAML text) with the inputs named ``sent``; [] = none."""
    try:
        doc = yaml.safe_load(source)
    except yaml.YAMLError:
        return ["is not valid YAML"]
    if not isinstance(doc, dict):
        return ["is not a workflow (no mapping at the top)"]
    on: Any = doc.get("on", doc.get(True))  # YAML 1.1 reads a bare `on` key as True
    if isinstance(on, str):
        on = {on: None}
    elif isinstance(on, list):
        on = dict.fromkeys(on)
    if not isinstance(on, dict) or "workflow_dispatch" not in on:
        return ["has no workflow_dispatch trigger (GitHub refuses the dispatch with 422)"]
    trigger = on["workflow_dispatch"] if isinstance(on["workflow_dispatch"], dict) else {}
    declared = trigger.get("inputs") or {}
    if not isinstance(declared, dict):
        return ["workflow_dispatch.inputs is not a mapping"]
    problems = [f"does not declare the input {name!r} the bot sends" for name in sent if name not in declared]
    for name, spec in declared.items():
        spec = spec if isinstance(spec, dict) else {}
        if spec.get("required") and "default" not in spec and name not in sent:
            problems.append(f"requires the input {name!r}, which the bot does not send")
    return problems
