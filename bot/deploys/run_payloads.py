"""Read GitHub's workflow-run and workflow-job objects into ``RunUpdate`` values. The REST API answers the same
objects the ``workflow_run`` and ``workflow_job`` webhooks carry (docs.github.com/rest/actions/workflow-runs,
docs.github.com/webhooks/webhook-events-and-payloads#workflow_run), so the webhook handler and the reconciler
(``bot/deploys/reconcile.py``) share these parsers: a run read through the API becomes exactly the value its webhook
would have. Tolerant of older and newer shapes; a payload missing what we need raises ``BadPayload``."""

from __future__ import annotations

import re
from typing import Any

from bot.domain import RunUpdate

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
