"""Parse GitHub webhook payloads into domain values. Tolerant of older and newer shapes: we read what we
need and ignore the rest; a payload missing what we need raises ``BadPayload``."""

from __future__ import annotations

from typing import Any

import msgspec

from bot.deploys.run_payloads import MAX_ID as MAX_ID  # re-exported: the handlers import these from here
from bot.deploys.run_payloads import BadPayload as BadPayload
from bot.deploys.run_payloads import (  # shared with the reconciler (bot/deploys/reconcile.py)
    _int,
    _login,
    _obj,
    _opt_id,
    _run_id_from,
    _run_repository,
    _str,
    _sub,
    _user,
    parse_workflow_job,
    parse_workflow_run,
)
from bot.domain import DeploymentUpdate, GitHubUpdate, ProtectionRuleRequest, ReviewRequest
from bot.wire import parse_json, parse_json_fields
from handlers.github_checks import parse_check_suite, parse_push, parse_status


def parse_protection_rule(payload: dict[str, Any]) -> ProtectionRuleRequest | None:
    if payload.get("action") != "requested":
        return None
    callback = _str(payload, "deployment_callback_url")
    environment = _str(payload, "environment")
    if not callback or not environment:
        raise BadPayload("deployment_callback_url and environment are required")
    run_id = _run_id_from(callback)
    if run_id is None:
        raise BadPayload("deployment_callback_url does not name a workflow run")
    deployment = _sub(payload, "deployment")
    actor, actor_id = _user(deployment.get("creator"), payload.get("sender"))
    return ProtectionRuleRequest(
        run_id=run_id,
        environment=environment,
        callback_url=callback,
        sha=_str(deployment, "sha"),
        ref=_str(deployment, "ref"),
        actor=actor,
        actor_id=actor_id,
        event=_str(payload, "event"),
        deployment_id=deployment["id"] if isinstance(deployment.get("id"), int) else 0,
    )


def parse_deployment_review(payload: dict[str, Any]) -> ReviewRequest | None:
    if payload.get("action") != "requested":
        return None  # approved / rejected are visible on the run's card through workflow_run
    run = _obj(payload, "workflow_run", "payload")
    reviewers: list[str] = []
    for r in payload.get("reviewers") or []:
        if not isinstance(r, dict) or not isinstance(r.get("reviewer"), dict):
            continue
        who = r["reviewer"]
        reviewers.append(f"team:{_str(who, 'slug')}" if r.get("type") == "Team" else f"user:{_login(who)}")
    return ReviewRequest(
        run_id=_int(run, "id", "workflow_run"),
        environment=_str(payload, "environment"),
        reviewers=tuple(reviewers),
        html_url=_str(run, "html_url"),
        head_sha=_str(run, "head_sha"),
        head_branch=_str(run, "head_branch"),
        title=_str(run, "display_title"),
        requestor=_login(payload.get("requestor")) or _login(payload.get("sender")),
    )


def _deployment_fields(deployment: dict[str, Any]) -> dict[str, Any]:
    data = deployment.get("payload")
    data = data if isinstance(data, dict) else {}
    return {
        "deployment_id": _int(deployment, "id", "deployment"),
        "environment": _str(deployment, "environment"),
        "sha": _str(deployment, "sha"),
        "ref": _str(deployment, "ref"),
        "creator": _login(deployment.get("creator")),
        "request_id": str(data.get("request_id", ""))[:40],
        "service": str(data.get("service", ""))[:64],
    }


def parse_deployment(payload: dict[str, Any]) -> DeploymentUpdate:
    deployment = _obj(payload, "deployment", "payload")
    run_id = _opt_id(_sub(payload, "workflow_run"), "id", "workflow_run")
    return DeploymentUpdate(state="created", description=_str(deployment, "description"), run_id=run_id,
                            repository=_str(_sub(payload, "repository"), "full_name").lower(),
                            **_deployment_fields(deployment))


def parse_deployment_status(payload: dict[str, Any]) -> DeploymentUpdate:
    status = _obj(payload, "deployment_status", "payload")
    deployment = _obj(payload, "deployment", "payload")
    state = _str(status, "state")
    if not state:
        raise BadPayload("deployment_status.state is missing")
    run_id = _opt_id(_sub(payload, "workflow_run"), "id", "workflow_run")
    if run_id is None:
        run_id = _run_id_from(_str(status, "log_url"), _str(status, "target_url"))
    fields = _deployment_fields(deployment)
    fields["environment"] = _str(status, "environment") or fields["environment"]
    return DeploymentUpdate(state=state, description=_str(status, "description"), run_id=run_id,
                            log_url=_str(status, "log_url") or _str(status, "target_url"),
                            repository=_str(_sub(payload, "repository"), "full_name").lower(),
                            run_repository=_run_repository(_str(status, "log_url"), _str(status, "target_url")),
                            **fields)


# What each hot event's parser reads (a msgspec schema: bot.wire.parse_json_fields): a 17 KB workflow_run
# payload is checked whole but only these fields are built. Events without a schema are read whole (rare
# events), and any payload the schema does not fit is read whole too, so the parsers see the same values
# either way (tests/unit/test_github_fields.py compares the two on published payloads and generated ones).
class _Named(msgspec.Struct):
    full_name: Any = msgspec.UNSET


class _User(msgspec.Struct):
    login: Any = msgspec.UNSET
    id: Any = msgspec.UNSET


_Opt = msgspec.UnsetType | None  # absent, or null: both read as they are in the whole document


class _Run(msgspec.Struct):
    id: Any = msgspec.UNSET
    name: Any = msgspec.UNSET
    path: Any = msgspec.UNSET
    status: Any = msgspec.UNSET
    conclusion: Any = msgspec.UNSET
    html_url: Any = msgspec.UNSET
    head_sha: Any = msgspec.UNSET
    head_branch: Any = msgspec.UNSET
    display_title: Any = msgspec.UNSET
    actor: _User | _Opt = msgspec.UNSET
    triggering_actor: _User | _Opt = msgspec.UNSET
    event: Any = msgspec.UNSET
    run_attempt: Any = msgspec.UNSET
    repository: _Named | _Opt = msgspec.UNSET


class _Job(msgspec.Struct):
    status: Any = msgspec.UNSET
    steps: Any = msgspec.UNSET
    run_id: Any = msgspec.UNSET
    workflow_name: Any = msgspec.UNSET
    html_url: Any = msgspec.UNSET
    head_sha: Any = msgspec.UNSET
    head_branch: Any = msgspec.UNSET
    name: Any = msgspec.UNSET
    conclusion: Any = msgspec.UNSET
    run_attempt: Any = msgspec.UNSET


class _Envelope(msgspec.Struct):
    """Any event: what the webhook handler reads before the event's parser."""

    action: Any = msgspec.UNSET
    repository: _Named | _Opt = msgspec.UNSET
    sender: _User | _Opt = msgspec.UNSET


class _WorkflowRun(_Envelope):
    workflow_run: _Run | _Opt = msgspec.UNSET


class _WorkflowJob(_Envelope):
    workflow_job: _Job | _Opt = msgspec.UNSET


class _Push(_Envelope):  # a push names every commit it carries: read the four fields auto-deploy needs
    ref: Any = msgspec.UNSET
    after: Any = msgspec.UNSET
    deleted: Any = msgspec.UNSET


class _Suite(msgspec.Struct):
    head_sha: Any = msgspec.UNSET
    head_branch: Any = msgspec.UNSET
    conclusion: Any = msgspec.UNSET


class _CheckSuite(_Envelope):
    check_suite: _Suite | _Opt = msgspec.UNSET


class _Status(_Envelope):  # not its commit object (the status event carries the whole commit)
    sha: Any = msgspec.UNSET
    state: Any = msgspec.UNSET
    branches: Any = msgspec.UNSET


FIELDS: dict[str, msgspec.json.Decoder[Any]] = {
    "workflow_run": msgspec.json.Decoder(_WorkflowRun),
    "workflow_job": msgspec.json.Decoder(_WorkflowJob),
    "push": msgspec.json.Decoder(_Push),
    "check_suite": msgspec.json.Decoder(_CheckSuite),
    "status": msgspec.json.Decoder(_Status),
}
ENVELOPE = msgspec.json.Decoder(_Envelope)  # events no parser reads: the handler's checks only


PARSERS: dict[str, Any] = {
    "workflow_run": parse_workflow_run,
    "workflow_job": parse_workflow_job,
    "deployment": parse_deployment,
    "deployment_status": parse_deployment_status,
    "deployment_review": parse_deployment_review,
    "deployment_protection_rule": parse_protection_rule,
    "push": parse_push,  # auto-deploy (handlers/github_checks.py)
    "check_suite": parse_check_suite,
    "status": parse_status,
}


def read_payload(event: str, body: bytes) -> Any:
    """The payload's JSON: the fields the event's parser reads (``FIELDS``), the handler's fields for an event
    no parser reads, the whole document otherwise. Raises ``MalformedBody`` for what json.loads refuses."""
    decoder = FIELDS.get(event) if event in PARSERS else ENVELOPE
    return parse_json(body) if decoder is None else parse_json_fields(body, decoder)


def parse_event(event: str, payload: dict[str, Any]) -> GitHubUpdate | None:
    """None = an event or action we accept and ignore. Raises BadPayload when what we need is missing."""
    parser = PARSERS.get(event)
    if parser is None:
        return None
    try:
        result: GitHubUpdate | None = parser(payload)
    except (TypeError, AttributeError) as exc:
        raise BadPayload(f"unexpected shape: {type(exc).__name__}") from exc
    return result
