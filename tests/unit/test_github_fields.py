"""The GitHub webhook handler reads hot events through a schema of the fields their parser needs
(``read_payload``); every other reading is the whole document (``parse_json``). The two must give the same
answer: the same update, the same refusal, the same "ignored". Checked on the published payloads and on
generated variants of them whose read fields take any JSON value, including wrong types, nulls, wide numbers
and absent keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.wire import MalformedBody, parse_json
from handlers.github_parse import FIELDS, PARSERS, BadPayload, parse_event, read_payload
from sandbox.paths import PUBLISHED_FIXTURES

FIXTURES = sorted((PUBLISHED_FIXTURES / "github").rglob("*.octokit.json"))  # events/: every published event


def _event(path: Path) -> str:
    return path.name.split(".", 1)[0]


def _outcome(event: str, read: Any, body: bytes) -> tuple[str, Any]:
    """What the handler would conclude from ``body``: refused as JSON, not an object, a bad payload, or an update."""
    try:
        payload = read(body)
    except MalformedBody:
        return "malformed", None
    if not isinstance(payload, dict):
        return "not an object", None
    repo = payload.get("repository")
    name = repo.get("full_name") if isinstance(repo, dict) else None
    try:
        update = parse_event(event, payload)
    except BadPayload as exc:
        return "bad payload", (name, str(exc))
    return "ok", (name, payload.get("action"), update)


def _both(event: str, body: bytes) -> tuple[tuple[str, Any], tuple[str, Any]]:
    return _outcome(event, lambda b: read_payload(event, b), body), _outcome(event, parse_json, body)


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_published_payloads_read_the_same(path: Path) -> None:
    fast, whole = _both(_event(path), path.read_bytes())
    assert fast == whole
    if _event(path) in PARSERS:
        assert fast[0] == "ok"


def test_the_hot_events_have_published_samples() -> None:
    assert {_event(p) for p in FIXTURES} >= set(FIELDS)


def test_refusals_are_the_same() -> None:
    for body in (b"\xff", b"{not json", b"[" * 3000 + b"]" * 3000, b"[]", b'{"workflow_run": NaN}',
                 b'{"workflow_run": {"id": "\\ud800"}}', b"\xef\xbb\xbf{}", b'{"workflow_run": 5}',
                 # what the schema skips is checked too: bad UTF-8, control characters, bad escapes, bad numbers
                 b'{"skipped": "\xff", "action": "x"}', b'{"\xff": 1}', b'{"skipped": "\xc0\x80"}',
                 b'{"skipped": "\xe2\x82"}', b'{"skipped": "\xf4\x90\x80\x80"}', b'{"skipped": "a\x01b"}',
                 b'{"skipped": "\\x41"}', b'{"skipped": 01}', b'{"skipped": 1.}', b'{"skipped": [1,]}',
                 b'{"skipped": {"a": 1,}}', b'{"a": 1} trailing', b'{"skipped": "\\udc00"}',
                 "{\"skipped\": \"\u00e9\", \"action\": \"x\"}".encode()):
        for event in ("workflow_run", "workflow_job", "ping", "push"):
            fast, whole = _both(event, body)
            assert fast == whole, (event, body)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**25), max_value=10**25)
    | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=6,
)
_ABSENT = object()
HOT = [p for p in FIXTURES if _event(p) in FIELDS]

# every field a hot parser or the handler reads (and a few it does not), as paths into the payload
PATHS = [("action",), ("repository",), ("repository", "full_name"), ("sender",), ("sender", "login"),
         ("workflow_run",), ("workflow_job",)] + [
    (obj, key) for obj in ("workflow_run", "workflow_job") for key in (
        "id", "name", "path", "status", "conclusion", "html_url", "head_sha", "head_branch", "display_title",
        "actor", "triggering_actor", "event", "run_attempt", "repository", "steps", "run_id", "workflow_name",
        "node_id", "head_commit")] + [
    ("workflow_run", "actor", "login"), ("workflow_run", "repository", "full_name"),
    ("workflow_job", "steps", 0), ("workflow_job", "steps", 0, "conclusion")]


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    for step in path[:-1]:
        if isinstance(doc, dict) and step in doc:
            doc = doc[step]
        elif isinstance(doc, list) and isinstance(step, int) and step < len(doc):
            doc = doc[step]
        else:
            return
    last = path[-1]
    if isinstance(doc, dict) and not isinstance(last, int):
        if value is _ABSENT:
            doc.pop(last, None)
        else:
            doc[last] = value
    elif isinstance(doc, list) and isinstance(last, int) and last < len(doc) and value is not _ABSENT:
        doc[last] = value


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(HOT), st.lists(st.tuples(st.sampled_from(PATHS), json_values | st.just(_ABSENT)),
                                      min_size=1, max_size=4))
def test_changed_payloads_read_the_same(path: Path, changes: list[tuple[tuple[Any, ...], Any]]) -> None:
    doc = json.loads(path.read_bytes())
    for where, value in changes:
        _set(doc, where, value)
    body = json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass")
    fast, whole = _both(_event(path), body)
    assert fast == whole


@pytest.mark.parametrize("path", HOT, ids=lambda p: p.name)
def test_the_schema_reads_published_payloads_itself(path: Path) -> None:
    """The fast path answers for real payloads (no fallback to the whole document)."""
    FIELDS[_event(path)].decode(path.read_bytes())
