"""Parse the webhooks auto-deploy reads (issue 25 item 2): ``push``, ``check_suite`` and ``status``.

Fields as GitHub documents them (https://docs.github.com/en/webhooks/webhook-events-and-payloads) and as the
octokit payload examples show them (tests/fixtures/published/github/events: push.1, check_suite.completed.1,
status):
- ``push``: ``ref`` (``refs/heads/<branch>`` or ``refs/tags/<tag>``), ``after`` (the new head; forty zeros when the
  ref was deleted), ``deleted``, ``sender`` (the account that pushed: ``login``, ``id``; ``pusher`` holds only a
  name and an e-mail address).
- ``check_suite``: actions ``requested``, ``rerequested``, ``completed``; ``check_suite.head_sha``,
  ``check_suite.head_branch`` (null for a fork's branch), ``check_suite.status``, ``check_suite.conclusion``
  (``success``, ``failure``, ``neutral``, ``cancelled``, ``timed_out``, ``action_required``, ``stale``, ...; null
  until completed).
- ``status``: ``sha``, ``state`` (``pending``, ``success``, ``failure``, ``error``), ``context``, ``branches``
  (each with ``name``).
Only what can start a deploy is recorded: a push to a branch, a completed successful suite, a successful status.
"""

from __future__ import annotations

import re
from typing import Any

from bot.deploys.run_payloads import BadPayload, _obj, _str, _sub, _user
from bot.domain import CheckUpdate, PushUpdate

_SHA = re.compile(r"^[0-9a-f]{40}$")
_DELETED = "0" * 40


def _repository(payload: dict[str, Any]) -> str:
    return _str(_sub(payload, "repository"), "full_name").lower()


def _sha(value: str, where: str) -> str:
    if not _SHA.match(value):
        raise BadPayload(f"{where} is not a commit SHA")
    return value


def parse_push(payload: dict[str, Any]) -> PushUpdate | None:
    ref, after = _str(payload, "ref"), _str(payload, "after")
    if not ref.startswith("refs/heads/") or payload.get("deleted") is True or after == _DELETED:
        return None  # a tag, or a deleted branch: nothing to deploy
    login, uid = _user(payload.get("sender"))
    return PushUpdate(repository=_repository(payload), branch=ref.removeprefix("refs/heads/")[:255],
                      sha=_sha(after, "after"), pusher=login[:100], pusher_id=uid)


def parse_check_suite(payload: dict[str, Any]) -> CheckUpdate | None:
    if payload.get("action") != "completed":
        return None
    suite = _obj(payload, "check_suite", "payload")
    conclusion = _str(suite, "conclusion")
    if conclusion != "success":
        return None  # only a green suite can make the commit's checks all green
    branch = _str(suite, "head_branch")
    return CheckUpdate(repository=_repository(payload), sha=_sha(_str(suite, "head_sha"), "check_suite.head_sha"),
                       branches=(branch[:255],) if branch else (), conclusion=conclusion, source="check_suite")


def parse_status(payload: dict[str, Any]) -> CheckUpdate | None:
    state = _str(payload, "state")
    if state != "success":
        return None
    raw = payload.get("branches")
    names = tuple(_str(b, "name")[:255] for b in raw[:100] if isinstance(b, dict)) if isinstance(raw, list) else ()
    return CheckUpdate(repository=_repository(payload), sha=_sha(_str(payload, "sha"), "sha"),
                       branches=tuple(n for n in names if n), conclusion=state, source="status")
