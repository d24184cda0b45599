"""Property-based fuzzing of every ingress route with malformed bodies, headers and encodings.

For every generated request: the answer is a 4xx (never a 5xx, never an acceptance), the bot stays healthy
(``/healthz`` 200) and nothing is recorded (every table's row count unchanged).

One bot for the whole module: it runs on its own event loop in a background thread, so hypothesis drives
plain synchronous tests and every example reuses the same stack. ``derandomize=True`` makes CI reproducible;
shrinking is off to keep the run time bounded (each failure message names the generated case).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from sandbox.paths import PUBLISHED_FIXTURES
from sandbox.signing import sign_github, sign_slack
from sandbox.stack import SANDBOX_SECRETS, Stack
from tests.reliability.helpers import TOPIC, snapshot_store, trust_sns_certs_from, write_config
from tests.security.conftest import LoopbackTls

GH_FIXTURES = PUBLISHED_FIXTURES / "github"
TEAMS_APP_ID = "00000000-0000-0000-0000-00000000f022"
FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None, phases=[Phase.explicit,
                Phase.generate], suppress_health_check=list(HealthCheck), report_multiple_bugs=False)


class Bot:
    """The sandbox stack on a private event loop; ``call`` runs a coroutine there and waits for it."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fuzz-bot", daemon=True)
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.tls: LoopbackTls | None = None
        self.stack: Stack | None = None
        self.session: aiohttp.ClientSession | None = None
        self.idp: web.AppRunner | None = None
        self.idp_url = ""

    def call(self, coro: Coroutine[Any, Any, Any], timeout: float = 60.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start_idp(self) -> None:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update({"kid": "fuzz-key", "use": "sig", "endorsements": ["msteams"]})

        async def metadata(_: web.Request) -> web.Response:
            return web.json_response({"issuer": "https://api.botframework.com", "jwks_uri": f"{self.idp_url}/keys"})

        async def keys(_: web.Request) -> web.Response:
            return web.json_response({"keys": [jwk]})

        app = web.Application()
        app.router.add_get("/openid", metadata)
        app.router.add_get("/keys", keys)
        self.idp = web.AppRunner(app)
        await self.idp.setup()
        site = web.TCPSite(self.idp, "127.0.0.1", 0)
        await site.start()
        self.idp_url = f"http://127.0.0.1:{self.idp.addresses[0][1]}"

    async def start(self) -> None:
        self.tls = LoopbackTls(self.tmp)
        await self.tls.start()
        await self._start_idp()
        self.stack = Stack(database_url=f"sqlite:///{self.tmp}/fuzz.db", config_path=write_config(self.tmp),
                           extra_env={"TEAMS_APP_ID": TEAMS_APP_ID, "TEAMS_APP_PASSWORD": "fuzz-teams-password",
                                      "TEAMS_APP_TENANT_ID": "fuzz-tenant",
                                      "TEAMS_OPENID_METADATA_URL": f"{self.idp_url}/openid"})
        await self.stack.start()
        assert self.stack.app is not None
        trust_sns_certs_from(self.stack.app, self.tls.client_ctx)
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))

    async def stop(self) -> None:
        if self.session is not None:
            await self.session.close()
        if self.stack is not None:
            await self.stack.stop()
        if self.idp is not None:
            await self.idp.cleanup()
        if self.tls is not None:
            await self.tls.stop()

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        assert self.session is not None and self.stack is not None
        async with self.session.post(f"{self.stack.url}{path}", data=body, headers=headers,
                                     skip_auto_headers=["Content-Type"]) as resp:
            return resp.status, (await resp.text())[:300]

    async def health(self) -> int:
        assert self.session is not None and self.stack is not None
        async with self.session.get(f"{self.stack.url}/healthz") as resp:
            return resp.status

    async def counts(self) -> dict[str, int]:
        from chatops.app import STORE

        assert self.stack is not None and self.stack.app is not None
        return await snapshot_store(self.stack.app[STORE])

    def check(self, path: str, body: bytes, headers: dict[str, str], case: str) -> None:
        """Send one request; assert 4xx, still healthy, nothing recorded."""

        async def go() -> tuple[int, str, int, dict[str, int], dict[str, int]]:
            before = await self.counts()
            status, text = await self.post(path, body, headers)
            await asyncio.sleep(0)
            return status, text, await self.health(), before, await self.counts()

        status, text, health, before, after = self.call(go())
        shown = f"{case}: POST {path} headers={ {k: v[:60] for k, v in headers.items()} } body={body[:120]!r}"
        assert 400 <= status < 500, f"{shown} -> HTTP {status} {text}"
        assert health == 200, f"{shown} -> healthz {health}"
        assert after == before, f"{shown} -> recorded {before} -> {after}"

    def token(self, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": "https://api.botframework.com", "aud": TEAMS_APP_ID, "exp": now + 600, "nbf": now - 10,
                "serviceurl": "https://smba.trafficmanager.net/teams/", **claims}
        return jwt.encode(body, self.key, algorithm="RS256", headers={"kid": "fuzz-key"})


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bot]:
    b = Bot(tmp_path_factory.mktemp("fuzz"))
    b.thread.start()
    try:
        b.call(b.start())
        yield b
    finally:
        b.call(b.stop())
        b.loop.call_soon_threadsafe(b.loop.stop)
        b.thread.join(10)
        b.loop.close()


# ---------------------------------------------------------------------------------------------- strategies
printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


def _nested(n: int, opener: bytes, closer: bytes) -> bytes:
    return opener * n + closer * n


garbage_bodies = st.one_of(
    st.binary(max_size=600).map(lambda b: ("random bytes", b)),
    json_values.map(lambda v: json.dumps(v).encode()).flatmap(
        lambda raw: st.integers(0, max(0, len(raw) - 1)).map(lambda cut: ("truncated JSON", raw[:cut]))),
    json_values.map(lambda v: ("JSON, not an object", json.dumps([v]).encode())),
    st.text(min_size=1, max_size=200).map(lambda t: ("latin-1/utf-16 text", t.encode("utf-16"))),
    st.binary(min_size=1, max_size=200).map(lambda b: ("invalid UTF-8", b"\xff\xfe\xfa" + b + b"\xc3")),
    st.integers(2_000, 200_000).map(lambda n: ("deeply nested JSON array", _nested(n, b"[", b"]"))),
    st.integers(2_000, 100_000).map(lambda n: ("deeply nested JSON object", b'{"a":' * n + b"1" + b"}" * n)),
    st.integers(200_000, 900_000).map(lambda n: ("oversized JSON", b'{"pad": "' + b"x" * n + b'"')),
    st.just(("empty body", b"")),
)
content_types = st.sampled_from([None, "application/json", "text/plain", "application/x-www-form-urlencoded",
                                 "multipart/form-data; boundary=zz", "application/json; charset=utf-16",
                                 "application/json; charset=no-such-charset", "text/plain; charset=latin-1",
                                 "application/octet-stream", "", "*/*"])
extra_headers = st.dictionaries(
    st.sampled_from(["X-Junk", "X-Forwarded-For", "User-Agent", "Accept", "X-Request-Id", "Cookie"]),
    printable, max_size=3)
huge_header = st.integers(9_000, 40_000).map(lambda n: {"X-Huge": "h" * n})


def headers_with(base: dict[str, str], ctype: str | None, extra: dict[str, str]) -> dict[str, str]:
    out = {**extra, **base}
    if ctype is not None:
        out["Content-Type"] = ctype
    return out


# ---------------------------------------------------------------------------------------------- Slack
@FUZZ
@given(body=garbage_bodies, ctype=content_types, extra=extra_headers | huge_header,
       auth=st.sampled_from(["none", "wrong-secret", "stale", "garbled"]))
def test_slack_events_refuses_anything_unsigned_or_malformed(bot: Bot, body: tuple[str, bytes], ctype: str | None,
                                                             extra: dict[str, str], auth: str) -> None:
    kind, raw = body
    secret = SANDBOX_SECRETS["SLACK_SIGNING_SECRET"]
    sig = {"none": {}, "wrong-secret": sign_slack("not-the-secret", raw),
           "stale": sign_slack(secret, raw, timestamp=int(time.time()) - 3600),
           "garbled": {"X-Slack-Request-Timestamp": "nan", "X-Slack-Signature": "v0=zz"}}[auth]
    bot.check("/slack/events", raw, headers_with(sig, ctype, extra), f"slack {auth} {kind}")


@FUZZ
@example(body=("invalid UTF-8", b"command=%2Fdeploy&text=\xff\xfe"), ctype="application/x-www-form-urlencoded")
@given(body=garbage_bodies, ctype=content_types)
def test_slack_events_validly_signed_garbage_is_refused(bot: Bot, body: tuple[str, bytes], ctype: str | None) -> None:
    kind, raw = body
    sig = sign_slack(SANDBOX_SECRETS["SLACK_SIGNING_SECRET"], raw)
    bot.check("/slack/events", raw, headers_with(sig, ctype, {}), f"slack signed {kind}")


# ---------------------------------------------------------------------------------------------- GitHub
def _gh_fixture(name: str) -> dict[str, Any]:
    payload = json.loads((GH_FIXTURES / name).read_text(encoding="utf-8"))
    payload["repository"]["full_name"] = "acme/platform"
    return payload


wrong_for_int = json_values.filter(lambda v: not isinstance(v, int) or isinstance(v, bool))
wrong_for_str = json_values.filter(lambda v: not isinstance(v, str))
wrong_for_obj = json_values.filter(lambda v: not isinstance(v, dict) and v not in (None, "", 0, False, [], {}))


@st.composite
def bad_run_payloads(draw: st.DrawFn) -> tuple[str, str, bytes]:
    """A real workflow_run / workflow_job payload for our repository with a field we need made wrong."""
    event = draw(st.sampled_from(["workflow_run", "workflow_job"]))
    if event == "workflow_run":
        payload = _gh_fixture("workflow_run.completed.success.octokit.json")
        field, value = draw(st.one_of(
            st.tuples(st.just("workflow_run"), wrong_for_obj),
            st.tuples(st.just("id"), wrong_for_int),
            st.tuples(st.just("status"), wrong_for_str),
            st.tuples(st.just("actor"), wrong_for_obj),
        ))
        if field == "workflow_run":
            payload["workflow_run"] = value
        else:
            payload["workflow_run"][field] = value
            if field == "actor":
                payload["workflow_run"]["triggering_actor"] = None
    else:
        payload = _gh_fixture("workflow_job.queued.octokit.json")
        field, value = draw(st.one_of(
            st.tuples(st.just("workflow_job"), wrong_for_obj),
            st.tuples(st.just("run_id"), wrong_for_int),
            st.tuples(st.just("status"), wrong_for_str),
        ))
        if field == "workflow_job":
            payload["workflow_job"] = value
        else:
            payload["workflow_job"][field] = value
    return event, f"{event}.{field}={value!r}"[:80], json.dumps(payload).encode()


@FUZZ
@given(body=garbage_bodies, ctype=content_types, extra=extra_headers | huge_header,
       auth=st.sampled_from(["none", "wrong-secret", "sha1", "garbled"]),
       event=st.sampled_from(["workflow_run", "workflow_job", "ping", "push"]), delivery=printable)
def test_github_webhook_refuses_unsigned_or_malformed(bot: Bot, body: tuple[str, bytes], ctype: str | None,
                                                      extra: dict[str, str], auth: str, event: str,
                                                      delivery: str) -> None:
    kind, raw = body
    sig = {"none": {}, "wrong-secret": sign_github("not-the-secret", raw),
           "sha1": {"X-Hub-Signature": "sha1=" + "0" * 40},
           "garbled": {"X-Hub-Signature-256": "sha256=" + "zz" * 32}}[auth]
    headers = headers_with({**sig, "X-GitHub-Event": event, "X-GitHub-Delivery": delivery}, ctype, extra)
    bot.check("/github/webhook", raw, headers, f"github {auth} {kind}")


@FUZZ
@given(body=garbage_bodies, ctype=content_types,
       event=st.sampled_from(["workflow_run", "workflow_job", "ping", "push", "check_suite", "status", ""]),
       delivery=st.sampled_from(["", "d" * 101]) | st.uuids().map(str))
def test_github_webhook_validly_signed_garbage_is_refused(bot: Bot, body: tuple[str, bytes], ctype: str | None,
                                                          event: str, delivery: str) -> None:
    kind, raw = body
    sig = sign_github(SANDBOX_SECRETS["GITHUB_WEBHOOK_SECRET"], raw)
    headers = headers_with({**sig, "X-GitHub-Event": event, "X-GitHub-Delivery": delivery}, ctype, {})
    bot.check("/github/webhook", raw, headers, f"github signed {kind} event={event!r}")


@FUZZ
@given(case=bad_run_payloads(), delivery=st.uuids().map(str))
def test_github_webhook_validly_signed_payload_with_wrong_fields_is_refused(bot: Bot, case: tuple[str, str, bytes],
                                                                          delivery: str) -> None:
    event, what, raw = case
    headers = {**sign_github(SANDBOX_SECRETS["GITHUB_WEBHOOK_SECRET"], raw), "X-GitHub-Event": event,
               "X-GitHub-Delivery": delivery, "Content-Type": "application/json"}
    bot.check("/github/webhook", raw, headers, f"github signed, wrong field {what}")


# ---------------------------------------------------------------------------------------------- EventBridge
not_cloudtrail = st.one_of(
    json_values.filter(lambda v: not isinstance(v, dict)).map(lambda v: ("JSON, not an object", v)),
    st.dictionaries(st.text(max_size=10), json_values, max_size=5)
    .filter(lambda d: not ({"eventName", "eventSource", "detail-type", "Records"} & set(d)))
    .map(lambda d: ("object without CloudTrail fields", d)),
    st.tuples(wrong_for_str, wrong_for_str).map(lambda t: ("record with wrong-typed eventName/eventSource",
                                                          {"eventName": t[0], "eventSource": t[1]})),
    st.tuples(printable, json_values).map(lambda t: ("EventBridge envelope, wrong detail", {
        "version": "0", "id": "x", "detail-type": "AWS API Call via CloudTrail", "detail": {"junk": t[1]}})),
    printable.map(lambda t: ("EventBridge envelope, other detail-type", {"id": "y", "detail-type": t, "detail": {}})),
    json_values.map(lambda v: ("log file, bad Records", {"Records": v if not isinstance(v, list) else [v, 1]})),
)


@FUZZ
@given(body=garbage_bodies, ctype=content_types, extra=extra_headers | huge_header,
       key=st.sampled_from(["", "wrong", SANDBOX_SECRETS["CHATOPS_EVENTS_API_KEY"] + "x"]) | printable)
def test_eventbridge_refuses_wrong_api_key(bot: Bot, body: tuple[str, bytes], ctype: str | None,
                                           extra: dict[str, str], key: str) -> None:
    kind, raw = body
    headers = headers_with({"x-api-key": key} if key != "" else {}, ctype, extra)
    bot.check("/aws/events", raw, headers, f"eventbridge wrong key {kind}")


@FUZZ
@given(body=garbage_bodies | not_cloudtrail.map(lambda kv: (kv[0], json.dumps(kv[1]).encode())),
       ctype=content_types)
def test_eventbridge_valid_key_with_garbage_is_refused(bot: Bot, body: tuple[str, bytes], ctype: str | None) -> None:
    kind, raw = body
    headers = headers_with({"x-api-key": SANDBOX_SECRETS["CHATOPS_EVENTS_API_KEY"]}, ctype, {})
    bot.check("/aws/events", raw, headers, f"eventbridge valid key {kind}")


# ---------------------------------------------------------------------------------------------- SNS
@st.composite
def bad_sns_messages(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    # "CERT" / "HTTPCERT" are replaced by the loopback certificate URL in the test (it is per run)
    base = {"Type": "Notification", "MessageId": draw(st.uuids()).hex, "TopicArn": TOPIC,
            "Message": json.dumps({"detail-type": "AWS API Call via CloudTrail", "detail": {}}),
            "Timestamp": "2024-01-01T00:00:00.000Z", "SignatureVersion": "2",
            "Signature": "c2lnbmF0dXJl", "SigningCertURL": "CERT"}
    how = draw(st.sampled_from(["drop-field", "wrong-type", "bad-version", "bad-type", "other-topic",
                                "http-cert", "foreign-cert-host", "bad-signature", "not-base64", "tampered",
                                "header-mismatch"]))
    if how == "drop-field":
        base.pop(draw(st.sampled_from(sorted(base))))
    elif how == "wrong-type":
        base[draw(st.sampled_from(sorted(base)))] = draw(json_values.filter(lambda v: not isinstance(v, str)))
    elif how == "bad-version":
        base["SignatureVersion"] = draw(printable.filter(lambda s: s not in ("1", "2")))
    elif how == "bad-type":
        base["Type"] = draw(printable.filter(lambda s: s not in ("Notification", "SubscriptionConfirmation",
                                                                  "UnsubscribeConfirmation")))
    elif how == "other-topic":
        base["TopicArn"] = draw(printable)
    elif how == "http-cert":
        base["SigningCertURL"] = "HTTPCERT"
    elif how == "foreign-cert-host":
        base["SigningCertURL"] = "https://sns.us-east-1.amazonaws.com.evil.example/cert.pem"
    elif how == "not-base64":
        base["Signature"] = draw(printable.filter(lambda s: s.strip() != "")) + "!"
    return how, base


@FUZZ
@given(body=garbage_bodies, ctype=content_types, extra=extra_headers | huge_header,
       mtype=st.none() | st.sampled_from(["Notification", "SubscriptionConfirmation", "bogus"]))
def test_sns_refuses_malformed_bodies(bot: Bot, body: tuple[str, bytes], ctype: str | None, extra: dict[str, str],
                                      mtype: str | None) -> None:
    kind, raw = body
    headers = headers_with({"x-amz-sns-message-type": mtype} if mtype else {}, ctype, extra)
    bot.check("/aws/sns", raw, headers, f"sns {kind}")


@FUZZ
@given(case=bad_sns_messages(), ctype=content_types)
def test_sns_refuses_messages_with_wrong_fields(bot: Bot, case: tuple[str, dict[str, Any]],
                                                ctype: str | None) -> None:
    how, msg = case
    assert bot.tls is not None
    cert = f"{bot.tls.base}/SimpleNotificationService-test.pem"
    msg = {k: (cert if v == "CERT" else cert.replace("https:", "http:") if v == "HTTPCERT" else v)
           for k, v in msg.items()}
    headers: dict[str, str] = {}
    if how == "tampered":  # a real signature, then a field changed
        signed = bot.tls.sign({k: v for k, v in msg.items() if k not in ("Signature", "SignatureVersion",
                                                                         "SigningCertURL")})
        msg = {**signed, "Message": signed["Message"] + " "}
    elif how == "header-mismatch":
        msg = bot.tls.sign({k: v for k, v in msg.items() if k not in ("Signature", "SignatureVersion",
                                                                      "SigningCertURL")})
        headers["x-amz-sns-message-type"] = "SubscriptionConfirmation"
    bot.check("/aws/sns", json.dumps(msg).encode(), headers_with(headers, ctype, {}), f"sns {how}")


# ---------------------------------------------------------------------------------------------- Teams
@FUZZ
@given(body=garbage_bodies, ctype=content_types, extra=extra_headers | huge_header,
       auth=st.sampled_from(["none", "garbage", "basic", "other-key", "valid-token"]) | printable)
def test_teams_messages_refuses_unauthenticated_or_malformed(bot: Bot, body: tuple[str, bytes], ctype: str | None,
                                                            extra: dict[str, str], auth: str) -> None:
    kind, raw = body
    other = rsa.generate_private_key(public_exponent=65537, key_size=1024) if auth == "other-key" else None
    value = {"none": None, "garbage": "Bearer not.a.jwt", "basic": "Basic Zm9vOmJhcg==",
             "other-key": "Bearer " + jwt.encode({"aud": TEAMS_APP_ID}, other, algorithm="RS256",
                                                 headers={"kid": "fuzz-key"}) if other else "",
             "valid-token": "Bearer " + bot.token()}.get(auth, auth)
    headers = headers_with({"Authorization": value} if value else {}, ctype, extra)
    bot.check("/teams/messages", raw, headers, f"teams {auth[:20]} {kind}")


# ---------------------------------------------------------------------------------------------- header values
ROUTES = ["/slack/events", "/github/webhook", "/aws/events", "/aws/sns", "/teams/messages"]
HEADER_NAMES = ["X-Slack-Signature", "X-Slack-Request-Timestamp", "X-Hub-Signature-256", "X-GitHub-Event",
                "X-GitHub-Delivery", "x-api-key", "x-amz-sns-message-type", "Authorization", "Content-Type",
                "Content-Encoding", "X-Junk"]
# any byte but CR and LF (which would end the header): non-ASCII, control characters, invalid UTF-8
header_bytes = st.binary(max_size=60).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")) | st.sampled_from(
    ["é".encode(), "²".encode(), b"\xff", b"sha256=\xff", b"v0=\xc3", b"Bearer \x00\x01", b"\x7f", b"\t"])


async def _raw_post(url: str, path: str, headers: list[tuple[str, bytes]], body: bytes) -> int:
    """POST with header bytes no HTTP client library would send; the answer's status (0: closed unanswered)."""
    host, _, port = url.removeprefix("http://").partition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    lines = [f"POST {path} HTTP/1.1".encode(), b"Host: 127.0.0.1", b"Content-Length: %d" % len(body)]
    lines += [name.encode() + b": " + value for name, value in headers]
    try:
        writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 30)
    finally:
        writer.close()
    parts = status_line.split(b" ")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


@FUZZ
@example(path="/slack/events", headers=[("X-Slack-Request-Timestamp", b"1700000000"),
                                        ("X-Slack-Signature", "v0=é".encode())], body=b"")
@example(path="/slack/events", headers=[("X-Slack-Request-Timestamp", "²".encode()),
                                        ("X-Slack-Signature", b"v0=00")], body=b"")
@example(path="/aws/events", headers=[("x-api-key", b"\xff")], body=b"{}")
@example(path="/github/webhook", headers=[("X-Hub-Signature-256", b"sha256=\xff")], body=b"{}")
@example(path="/teams/messages", headers=[("Authorization", b"Bearer \xff")], body=b"{}")
@given(path=st.sampled_from(ROUTES), headers=st.lists(st.tuples(st.sampled_from(HEADER_NAMES), header_bytes),
                                                      min_size=1, max_size=4),
       body=st.sampled_from([b"", b"{}", b'{"type": "message", "conversation": {"id": "c"}}', b"token=x"]))
def test_odd_header_values_never_cause_a_5xx(bot: Bot, path: str, headers: list[tuple[str, bytes]],
                                             body: bytes) -> None:
    async def go() -> tuple[int, int, dict[str, int], dict[str, int]]:
        assert bot.stack is not None
        before = await bot.counts()
        status = await _raw_post(bot.stack.url, path, headers, body)
        return status, await bot.health(), before, await bot.counts()

    status, health, before, after = bot.call(go())
    shown = f"POST {path} headers={headers!r} body={body!r}"
    assert status == 0 or 400 <= status < 500, f"{shown} -> HTTP {status}"
    assert health == 200, f"{shown} -> healthz {health}"
    assert after == before, f"{shown} -> recorded {before} -> {after}"


# ---------------------------------------------------------------------------------------------- found by the fuzzer
def _deep(n: int = 50_000) -> bytes:
    return b"[" * n + b"]" * n


REGRESSIONS = {
    # unauthenticated: Bolt decodes the body as UTF-8 before the signature is checked
    "slack-unsigned-non-utf8": ("/slack/events", b"\xff\xfe0\x00", {}),
    # unauthenticated: Bolt json.loads()s a body that starts with "{" before the signature is checked
    "slack-unsigned-bad-json": ("/slack/events", b'{"pad": "xx', {}),
    # unauthenticated: json.loads raises RecursionError (not ValueError) on deep nesting
    "sns-unsigned-deep-json": ("/aws/sns", _deep(), {"Content-Type": "text/plain"}),
    "teams-unauthenticated-deep-json": ("/teams/messages", _deep(), {"Content-Type": "application/json"}),
    "eventbridge-valid-key-deep-json": ("/aws/events", _deep(),
                                        {"x-api-key": SANDBOX_SECRETS["CHATOPS_EVENTS_API_KEY"]}),
    "github-signed-deep-json": ("/github/webhook", _deep(),
                                {**sign_github(SANDBOX_SECRETS["GITHUB_WEBHOOK_SECRET"], _deep()),
                                 "X-GitHub-Event": "workflow_run", "X-GitHub-Delivery": "deep-1"}),
}


def _actor_is_a_string() -> tuple[str, bytes, dict[str, str]]:
    payload = _gh_fixture("workflow_run.completed.success.octokit.json")
    payload["workflow_run"]["actor"] = "octocat"
    raw = json.dumps(payload).encode()
    return "/github/webhook", raw, {**sign_github(SANDBOX_SECRETS["GITHUB_WEBHOOK_SECRET"], raw),
                                    "X-GitHub-Event": "workflow_run", "X-GitHub-Delivery": "actor-str-1",
                                    "Content-Type": "application/json"}


REGRESSIONS["github-signed-actor-not-an-object"] = _actor_is_a_string()


@pytest.mark.parametrize("case", sorted(REGRESSIONS))
def test_found_by_fuzzing(bot: Bot, case: str) -> None:
    path, raw, headers = REGRESSIONS[case]
    bot.check(path, raw, headers, case)


# ---------------------------------------------------------------------------------------------- signed bodies
# Issue 22 item 4: correctly signed (or keyed, or authenticated) bodies whose text is odd. Any string field of a
# real payload, and the unsigned X-GitHub-Delivery header, take generated text; a lone surrogate (valid JSON
# "\ud800", not Unicode text) or a non-ASCII delivery id must get 400 with nothing recorded, anything else may be
# accepted, and no case may get a 5xx.
TENANT = "72f988bf-0000-4000-8000-000000000000"  # examples/chatops.yml teams.tenant_id
lone_surrogate = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
odd_text = st.one_of(
    st.text(max_size=30),
    st.tuples(st.text(max_size=10), lone_surrogate, st.text(max_size=10)).map("".join),
    st.sampled_from(["\ud800", "a\udfffb", "\ud83d", "\ude00\ud83d", "<!channel>", "é²\x00", "\U0001f600"]),
)


def _has_surrogate(text: str) -> bool:
    """Whether ``text`` still holds a lone surrogate on the wire (two that form a pair travel as one character)."""
    return any(0xD800 <= ord(ch) <= 0xDFFF for ch in json.loads(json.dumps(text)))


def _string_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, str):
        return [path]
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    return [p for k, v in items for p in _string_paths(v, (*path, k))]


def _replaced(payload: Any, path: tuple[Any, ...], text: str) -> Any:
    copy = json.loads(json.dumps(payload))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = text
    return copy


def _probe(bot: Bot, path: str, raw: bytes, headers: list[tuple[str, bytes]], *, refused: bool, case: str) -> None:
    """Send one request (raw header bytes); never a 5xx; when ``refused``, a 400 and nothing recorded."""

    async def go() -> tuple[int, int, dict[str, int], dict[str, int]]:
        assert bot.stack is not None
        before = await bot.counts()
        status = await _raw_post(bot.stack.url, path, headers, raw)
        return status, await bot.health(), before, await bot.counts()

    status, health, before, after = bot.call(go())
    shown = f"{case}: POST {path} headers={headers!r:.300} body={raw[:160]!r}"
    assert 200 <= status < 500, f"{shown} -> HTTP {status}"
    assert health == 200, f"{shown} -> healthz {health}"
    if refused:  # the tables ingress writes (earlier accepted cases still move the workers' tables meanwhile)
        assert status == 400, f"{shown} -> HTTP {status}, expected 400"
        moved = {t: (before[t], after[t]) for t in INGRESS_TABLES if before[t] != after[t]}
        assert not moved, f"{shown} -> recorded {moved}"


INGRESS_TABLES = ("inbox", "idempotency", "audit", "requests", "approvals", "locks", "teams_conversations")


GH_EVENTS = sorted(p.name for p in GH_FIXTURES.glob("*.json"))


@st.composite
def signed_github(draw: st.DrawFn) -> tuple[str, bytes, list[tuple[str, bytes]], bool]:
    name = draw(st.sampled_from(GH_EVENTS))
    payload = json.loads((GH_FIXTURES / name).read_text(encoding="utf-8"))
    if isinstance(payload.get("repository"), dict):
        payload["repository"]["full_name"] = "acme/platform"
    paths = _string_paths(payload)
    text = draw(odd_text)
    if paths and draw(st.booleans()):
        payload = _replaced(payload, draw(st.sampled_from(paths)), text)
    else:
        text = ""
    delivery = draw(st.uuids().map(str) | odd_text.filter(bool))
    raw = json.dumps(payload).encode()  # ensure_ascii: a lone surrogate travels as its \ud800 escape
    sig = sign_github(SANDBOX_SECRETS["GITHUB_WEBHOOK_SECRET"], raw)["X-Hub-Signature-256"]
    headers = [("X-Hub-Signature-256", sig.encode()), ("X-GitHub-Event", name.split(".")[0].encode()),
               ("X-GitHub-Delivery", delivery.encode("utf-8", "surrogatepass")),
               ("Content-Type", b"application/json")]
    seen = delivery.strip(" \t")  # what the server reads: HTTP drops the whitespace around a header value
    bad_delivery = not seen or not all(0x21 <= ord(ch) <= 0x7E for ch in seen) or len(seen) > 100
    return f"{name} field={text!r} delivery={delivery!r}", raw, headers, _has_surrogate(text) or bad_delivery


@FUZZ
@example(case=("non-ASCII delivery on a valid signature", *(lambda raw: (raw, [
    ("X-Hub-Signature-256", sign_github(SANDBOX_SECRETS["GITHUB_WEBHOOK_SECRET"], raw)["X-Hub-Signature-256"].encode()),
    ("X-GitHub-Event", b"workflow_run"), ("X-GitHub-Delivery", "dé-1".encode()),
    ("Content-Type", b"application/json")]))((GH_FIXTURES / "ping.octokit.json").read_bytes()), True))
@given(case=signed_github())
def test_github_signed_bodies_with_odd_text(bot: Bot, case: tuple[str, bytes, list[tuple[str, bytes]], bool]) -> None:
    what, raw, headers, refused = case
    _probe(bot, "/github/webhook", raw, headers, refused=refused, case=f"github {what}")


@FUZZ
@example(event_id="\ud800", field="")
@given(event_id=odd_text, field=odd_text)
def test_eventbridge_keyed_bodies_with_odd_text(bot: Bot, event_id: str, field: str) -> None:
    from tests.security.conftest import envelope, load

    record = load("access-denied.states-DeleteStateMachine.awsdocs.json")
    record["userAgent"] = field or record.get("userAgent", "")
    raw = json.dumps(envelope(record, event_id=event_id or "e-1")).encode()
    headers = [("x-api-key", SANDBOX_SECRETS["CHATOPS_EVENTS_API_KEY"].encode()), ("Content-Type", b"application/json")]
    _probe(bot, "/aws/events", raw, headers, refused=_has_surrogate(event_id + field),
           case=f"eventbridge id={event_id!r} userAgent={field!r}")


@FUZZ
@example(value="\ud800", action="approve")
@given(value=odd_text, action=st.sampled_from(["approve", "reject", "rerun", "rollback", "sec_ack", "sec_resolve"]))
def test_slack_signed_clicks_with_odd_values(bot: Bot, value: str, action: str) -> None:
    from sandbox.signing import block_actions_body

    raw = block_actions_body(action, value, "U0LEAD", "C0APPROVALS", "1700000000.000100")
    sig = sign_slack(SANDBOX_SECRETS["SLACK_SIGNING_SECRET"], raw)
    headers = [(k, v.encode()) for k, v in sig.items()] + [("Content-Type", b"application/x-www-form-urlencoded")]
    _probe(bot, "/slack/events", raw, headers, refused=_has_surrogate(value), case=f"slack {action} value={value!r}")


@FUZZ
@example(text="\ud800")
@given(text=odd_text)
def test_teams_authenticated_activities_with_odd_text(bot: Bot, text: str) -> None:
    activity = {"type": "message", "id": "m-1", "text": text, "serviceUrl": "https://smba.trafficmanager.net/teams/",
                "from": {"id": "29:odd", "aadObjectId": "00000000-0000-0000-0000-0000000000aa"},
                "conversation": {"id": "19:odd@thread.tacv2", "tenantId": TENANT},
                "recipient": {"id": f"28:{TEAMS_APP_ID}"}, "channelData": {"tenant": {"id": TENANT}}}
    raw = json.dumps(activity).encode()
    headers = [("Authorization", f"Bearer {bot.token()}".encode()), ("Content-Type", b"application/json")]
    # only the refusal matters here: an accepted activity's answer goes to a Bot Connector this bot cannot reach
    if _has_surrogate(text):
        _probe(bot, "/teams/messages", raw, headers, refused=True, case=f"teams text={text!r}")


@FUZZ
@example(text="\ud800")
@given(text=odd_text)
def test_sns_signed_messages_with_odd_text(bot: Bot, text: str) -> None:
    assert bot.tls is not None
    message = json.dumps({"detail-type": "AWS API Call via CloudTrail", "detail": {"eventName": "x"}})
    if _has_surrogate(text):  # cannot be signed (not text): its \ud800 escape is refused before verifying
        msg = {"Type": "Notification", "MessageId": text, "TopicArn": TOPIC, "Message": message,
               "Timestamp": "2024-01-01T00:00:00.000Z", "SignatureVersion": "2", "Signature": "c2ln",
               "SigningCertURL": f"{bot.tls.base}/SimpleNotificationService-test.pem"}
    else:
        msg = bot.tls.sign({"Type": "Notification", "MessageId": text, "TopicArn": TOPIC, "Message": message,
                            "Timestamp": "2024-01-01T00:00:00.000Z"})
    _probe(bot, "/aws/sns", json.dumps(msg).encode(), [("Content-Type", b"text/plain")],
           refused=_has_surrogate(text), case=f"sns MessageId={text!r}")
