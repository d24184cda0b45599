"""The workflow files the GitHub fake holds, and what GitHub checks against them when a workflow is dispatched.

``POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches`` (REST docs, "Create a workflow dispatch
event", https://docs.github.com/en/rest/actions/workflows#create-a-workflow-dispatch-event) runs the workflow file
at ``ref``; GitHub refuses with 422 what that file does not accept. The messages below are GitHub's own, as its API
returned them in the public reports cited beside each one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml

from sandbox.github_rest import ApiError
from sandbox.paths import ROOT

SHIPPED = ROOT / "workflows"

# "inputs: Input keys and values configured in the workflow file. The maximum number of properties is 25."
# (REST docs above; github/docs src/rest/data/fpt-2022-11-28/actions.json). Raised from 10 on 2025-12-04:
# https://github.blog/changelog/2025-12-04-actions-workflow-dispatch-workflows-now-support-25-inputs/
MAX_INPUTS = 25

# A workflow added to the fake without a file: dispatchable, declaring every input the bot sends (deploys and
# rollbacks), so a test that does not care about the file still meets GitHub's checks.
STAND_IN = """\
on:
  workflow_dispatch:
    inputs:
      environment: {type: string, required: true}
      request_id: {type: string, required: true}
      requested_by: {type: string, required: false, default: ""}
      service: {type: string, required: false, default: ""}
      target_version: {type: string, required: false, default: ""}
jobs: {}
"""


@dataclass(frozen=True)
class DispatchSpec:
    """What one workflow file accepts from a dispatch: None = it has no workflow_dispatch trigger."""

    inputs: dict[str, dict[str, Any]] | None


def source_for(file: str) -> str:
    """The shipped workflow of that name (what install-workflows lays into a repository), else the stand-in."""
    shipped = SHIPPED / file
    return shipped.read_text() if shipped.is_file() else STAND_IN


def parse(source: str) -> DispatchSpec:
    doc = yaml.safe_load(source) or {}
    on = doc.get("on", doc.get(True))  # YAML 1.1 reads a bare `on:` key as True
    if isinstance(on, str):
        on = {on: None}
    elif isinstance(on, list):
        on = {event: None for event in on}
    if not isinstance(on, dict) or "workflow_dispatch" not in on:
        return DispatchSpec(None)
    trigger = on["workflow_dispatch"] or {}
    return DispatchSpec({str(k): dict(v or {}) for k, v in (trigger.get("inputs") or {}).items()})


def check_dispatch(spec: DispatchSpec, inputs: dict[str, str]) -> None:
    """Raise GitHub's 422 for a dispatch the workflow file does not accept."""
    if spec.inputs is None:
        # {"message":"Workflow does not have 'workflow_dispatch' trigger","documentation_url":
        #  "https://docs.github.com/rest/actions/workflows#create-a-workflow-dispatch-event","status":"422"}
        # (the API's answer quoted in github.com/fcetool/fcetool/issues/1; also elastic/terraform-provider-
        # elasticstack#1829: "HTTP 422: Workflow does not have 'workflow_dispatch' trigger")
        raise ApiError(422, "Workflow does not have 'workflow_dispatch' trigger")
    unexpected = [name for name in inputs if name not in spec.inputs]
    if unexpected:
        # {"message": "Unexpected inputs provided: [\"foo\"]", ...} with HTTP 422
        # (convictional/trigger-workflow-and-wait#4; several: `["action", "arg", "customer"]`, benc-uk/
        # workflow-dispatch#80)
        raise ApiError(422, f"Unexpected inputs provided: {json.dumps(unexpected)}")
    for name, declared in spec.inputs.items():
        # "Any default properties configured in the workflow file will be used when inputs are omitted" (REST
        # docs above), so only a required input without a default must be sent. GitHub's answer is 422
        # "Required input 'NAME' not provided" (not found verbatim in the published material reachable here; the
        # status and the refusal are, e.g. Forgejo's compatible endpoint "fails if the required inputs are not
        # provided").
        if declared.get("required") and "default" not in declared and name not in inputs:
            raise ApiError(422, f"Required input '{name}' not provided")


def check_input_count(inputs: dict[str, Any]) -> None:
    if len(inputs) > MAX_INPUTS:
        # The request body's schema says maxProperties 25 (REST docs above); GitHub answers a body that breaks
        # its schema with 422 "Invalid request.\n\n..." naming the property (the shape of its other schema errors).
        raise ApiError(422, f"Invalid request.\n\nFor 'properties/inputs', {len(inputs)} properties is more than "
                            f"the maximum of {MAX_INPUTS}.")
