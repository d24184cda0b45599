"""Parse GitHub webhook payloads into domain values. Tolerant of older and newer shapes: we read what we
need and ignore the rest; a payload missing what we need raises ``BadPayload``."""

from __future__ import annotations

import re
from typing import Any

import msgspec

from bot.domain import DeploymentUpdate, GitHubUpdate, ProtectionRuleRequest, ReviewRequest, RunUpdate
from bot.wire import parse_json, parse_json_fields

_RUN_IN_URL = re.compile(r"/actions/runs/(\d+)")
_REPO_OF_RUN_URL = re.compile(r"^https?://[^/]+/(?:api/v3/)?(?:repos/)?([^/]+/[^/]+)/actions/runs/\d+")
MAX_ID = 2**63 - 1  # GitHub ids are int64 (the store's BIGINT)
MAX_ATTEMPT = 2**31 - 1  # run_attempt: a 32-bit INTEGER column


class BadPayload(ValueError):
    pass


def _obj(d: Any, key: str, where: str) -> dict[str, Any]:
    value = d.get(key) if isinstance(d, dict) else None
    if not isinstance(value, dict):
        raise BadPayload(f"{where}.{key} is missing or not an object")
    return value


def _int(d: dict[str, Any], key: str, where: str, *, top: int = MAX_ID) -> int:
    """A required id: a positive whole number that fits the store (checked here, before anything is recorded)."""
    value = d.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadPayload(f"{where}.{key} is missing or not a number")
    if not 0 < value <= top:
        raise BadPayload(f"{where}.{key} is out of range (1 to {top})")
    return value


def _opt_id(d: dict[str, Any], key: str, where: str) -> int | None:
    """An optional id: absent or not a number is None; a number out of range is malformed."""
    value = d.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    return _int(d, key, where)


def _str(d: Any, key: str) -> str:
    """An optional string field: absent or null is "", any other type is malformed."""
    value = d.get(key) if isinstance(d, dict) else None
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadPayload(f"{key} must be a string")
    return value


def _login(d: Any) -> str:
    """An optional user object: absent or null is "", any other type is malformed."""
    if d is None:
        return ""
    if not isinstance(d, dict):
        raise BadPayload("a user field must be an object")
    return _str(d, "login")


def _uid(d: Any) -> int:
    """A user object's numeric id (0 = absent): the identity; the login is only a name that can change."""
    if not isinstance(d, dict):
        return 0
    value = d.get("id")
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID else 0


def _user(*candidates: Any) -> tuple[str, int]:
    """(login, id) of the first user object present among ``candidates``."""
    for d in candidates:
        login = _login(d)
        if login:
            return login, _uid(d)
    return "", 0


def _run_repository(*urls: str) -> str:
    """The owner/name a run URL points into ("" = none named)."""
    for url in urls:
        m = _REPO_OF_RUN_URL.match(url or "")
        if m:
            return m.group(1).lower()
    return ""


def _attempt(d: dict[str, Any]) -> int:
    value = d.get("run_attempt")
    if not isinstance(value, int) or isinstance(value, bool):
        return 1
    return _int(d, "run_attempt", "run", top=MAX_ATTEMPT)


def _sub(d: dict[str, Any], key: str) -> dict[str, Any]:
    value = d.get(key)
    return value if isinstance(value, dict) else {}


def _run_id_from(*urls: str) -> int | None:
    for url in urls:
        m = _RUN_IN_URL.search(url or "")
        if m:
            run_id = int(m.group(1)) if len(m.group(1)) <= 19 else 0  # int() of 5,000 digits would raise
            if not 0 < run_id <= MAX_ID:
                raise BadPayload("the run id in a URL is out of range")
            return run_id
    return None


def parse_workflow_run(payload: dict[str, Any]) -> RunUpdate:
    run = _obj(payload, "workflow_run", "payload")
    status = _str(run, "status")
    if not status:
        raise BadPayload("workflow_run.status is missing")
    path = _str(run, "path")
    actor, actor_id = _user(run.get("actor"), run.get("triggering_actor"), payload.get("sender"))
    triggering, triggering_id = _user(run.get("triggering_actor"))
    return RunUpdate(
        run_id=_int(run, "id", "workflow_run"),
        workflow=path.rsplit("/", 1)[-1] if path else _str(run, "name"),
        status=status,
        conclusion=_str(run, "conclusion"),
        html_url=_str(run, "html_url"),
        head_sha=_str(run, "head_sha"),
        head_branch=_str(run, "head_branch"),
        title=_str(run, "display_title") or _str(run, "name"),
        actor=actor,
        actor_id=actor_id,
        triggering_actor=triggering,
        triggering_actor_id=triggering_id,
        event=_str(run, "event"),
        attempt=_attempt(run),
        path=path,
        repository=_str(_sub(run, "repository"), "full_name") or _str(_sub(payload, "repository"), "full_name"),
    )


def parse_workflow_job(payload: dict[str, Any]) -> RunUpdate:
    job = _obj(payload, "workflow_job", "payload")
    status = _str(job, "status")
    if not status:
        raise BadPayload("workflow_job.status is missing")
    failed_step = ""
    steps = job.get("steps")
    if isinstance(steps, list):
        failed = [s for s in steps if isinstance(s, dict) and s.get("conclusion") == "failure"]
        failed_step = _str(failed[0], "name") if failed else ""
    return RunUpdate(
        run_id=_int(job, "run_id", "workflow_job"),
        workflow=_str(job, "workflow_name"),
        status="job",
        conclusion="",
        html_url=_str(job, "html_url"),
        head_sha=_str(job, "head_sha"),
        head_branch=_str(job, "head_branch"),
        title="",
        jobs=((_str(job, "name") or "job", _str(job, "conclusion") or status, failed_step),),
        attempt=_attempt(job),
    )


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


FIELDS: dict[str, msgspec.json.Decoder[Any]] = {
    "workflow_run": msgspec.json.Decoder(_WorkflowRun),
    "workflow_job": msgspec.json.Decoder(_WorkflowJob),
}
ENVELOPE = msgspec.json.Decoder(_Envelope)  # events no parser reads: the handler's checks only


PARSERS: dict[str, Any] = {
    "workflow_run": parse_workflow_run,
    "workflow_job": parse_workflow_job,
    "deployment": parse_deployment,
    "deployment_status": parse_deployment_status,
    "deployment_review": parse_deployment_review,
    "deployment_protection_rule": parse_protection_rule,
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
