"""Normalization, declarative rules, config validation and the shared signed SNS fixtures."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.alerts.normalize import NotCloudTrail, parse_events, parse_payload, parse_record
from bot.alerts.settings import parse_security
from bot.alerts.sns import SnsVerifier
from bot.alerts.worker import SecurityWorker
from bot.errors import ConfigError, VerificationError
from bot.store.store import Store
from tests.security.conftest import EXPECTED, SHARED_SNS, envelope, load, make_config


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_fixture_matches_exactly_its_rule(name: str, tmp_path: Any) -> None:
    worker = SecurityWorker(Store(None), make_config())  # type: ignore[arg-type]  # classify needs no DB
    events, skipped = parse_events(load(name))
    assert skipped == [] and len(events) == 1
    rule, suppressed = worker.classify(events[0])
    assert rule is not None and (rule.id, rule.severity.value) == EXPECTED[name] and not suppressed


def test_normalized_fields() -> None:
    e = parse_record(load("console-login-failure.iam-user.awsdocs.json"))
    assert e.principal_arn == "arn:aws:iam::111122223333:user/anaya"  # CloudTrail omits the ARN on failure
    assert (e.account, e.region, e.source_ip, e.mfa_used) == ("111122223333", "us-east-1", "192.0.2.0", "yes")
    s = parse_record(load("stop-logging.panther-analysis.json"))
    assert s.session_issuer == "arn:aws:iam::123456789012:role/tester" and s.principal_type == "AssumedRole"
    d = parse_record(load("access-denied.states-DeleteStateMachine.awsdocs.json"))
    assert d.error_code == "AccessDenied" and "not authorized" in d.error_message


def test_envelope_log_file_and_rejections() -> None:
    rec = load("stop-logging.panther-analysis.json")
    assert parse_payload(envelope(rec))[0][0] is rec
    assert len(parse_payload(load("console-login.iam-user-no-mfa.logfile.awsdocs.json"))) == 1
    for bad, reason in [([], "JSON object"), ({"detail-type": "Other", "detail": {}}, "not a CloudTrail event"),
                        ({"detail-type": "AWS API Call via CloudTrail"}, "detail is missing"),
                        ({"Records": [1]}, "must be an object"), ({"a": 1}, "eventName is missing")]:
        with pytest.raises(NotCloudTrail, match=reason):
            parse_payload(bad)
    no_id = {k: v for k, v in rec.items() if k != "eventID"}
    assert parse_events(no_id) == ([], ["eventID is missing"])


PROVIDER = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"


def oidc_record(subject: str, *, error: str = "") -> dict[str, Any]:
    rec: dict[str, Any] = {
        "eventVersion": "1.08", "eventTime": "2024-05-01T10:00:00Z", "eventSource": "sts.amazonaws.com",
        "eventName": "AssumeRoleWithWebIdentity", "awsRegion": "us-east-1", "sourceIPAddress": "192.0.2.7",
        "userAgent": "aws-sdk-js", "eventID": f"oidc-{subject}-{error}", "recipientAccountId": "123456789012",
        "userIdentity": {"type": "WebIdentityUser", "principalId": "x", "userName": subject,
                         "identityProvider": PROVIDER},
        "requestParameters": {"roleArn": "arn:aws:iam::123456789012:role/deploy", "roleSessionName": "gha-4242-2"},
    }
    if error:
        rec["errorCode"] = error
    return rec


def test_github_oidc_rule_and_context() -> None:
    worker = SecurityWorker(Store(None), make_config(  # type: ignore[arg-type]
        github_oidc={"allowed_subjects": ["repo:acme/app:*"]}))
    ok = parse_record(oidc_record("repo:acme/app:ref:refs/heads/main"))
    assert worker.classify(ok)[0] is None
    assert (ok.github.repository, ok.github.ref, ok.github.run_id, ok.github.run_attempt) == (
        "acme/app", "refs/heads/main", "4242", "2")
    assert ok.github.run_url == "https://github.com/acme/app/actions/runs/4242/attempts/2"
    wrong = parse_record(oidc_record("repo:evil/fork:ref:refs/heads/main"))
    failed = parse_record(oidc_record("repo:acme/app:ref:refs/heads/main", error="AccessDenied"))
    for e in (wrong, failed):
        rule, _ = worker.classify(e)
        assert rule is not None and (rule.id, rule.severity.value) == ("github-oidc-misuse", "critical")


def test_overrides_allow_lists_and_own_resources() -> None:
    cfg = make_config(allow={"source_ips": ["10.61.0.0/16"]}, own_resources=["arn:aws:cloudtrail:*:trail/example-*"],
                      rules=[{"id": "root-activity", "enabled": False},
                             {"id": "iam-persistence", "severity": "critical",
                              "allow": {"principals": ["arn:aws:iam::123456789:user/user1"]}},
                             {"id": "describe", "title": "Describe calls", "severity": "low",
                              "match": {"eventName": {"prefix": "Describe"}}}])
    worker = SecurityWorker(Store(None), cfg)  # type: ignore[arg-type]
    denied = parse_record(load("access-denied.states-DeleteStateMachine.awsdocs.json"))
    assert worker.classify(denied)[1] is True  # 10.61.88.189 is allow-listed
    assert worker.classify(parse_record(load("console-login.root-no-mfa.awsdocs.json")))[0].id == (  # type: ignore[union-attr]
        "console-login-without-mfa")  # root rule switched off: the next rule takes it
    key = worker.classify(parse_record(load("create-access-key.panther-analysis.yml-derived.json")))
    assert key[0] is not None and key[0].severity.value == "critical" and key[1] is True
    stop = worker.derived(parse_record(load("stop-logging.panther-analysis.json")))
    assert stop["bot.own_resource"] == "true"


def test_config_problems_name_their_keys() -> None:
    with pytest.raises(ConfigError) as err:
        parse_security({"bogus": 1, "sqs": {"max_receives": 0, "queue_url": "ftp://x"},
                        "github_oidc": {"allowed_subjects": ["acme/app"]},
                        "rules": [{"id": "x", "title": "t", "severity": "low", "match": {"eventName": {"eval": "1"}}},
                                  {"id": "x", "title": "t", "severity": "low", "match": {"a": {"exists": "yes"}}},
                                  {"id": "access-denied", "colour": "red"}, "nope"]})
    problems = err.value.problems
    for expected in ["security.bogus: unknown key", "security.sqs.max_receives:", "security.sqs.queue_url:",
                     "security.github_oidc.allowed_subjects[0]:", "security.rules[0].match.eventName.eval: unknown",
                     "security.rules[1].id: 'x' is defined twice", "security.rules[2].colour: unknown key",
                     "security.rules[3]: must be a mapping"]:
        assert any(p.startswith(expected) for p in problems), (expected, problems)


async def test_shared_signed_sns_fixtures_verify() -> None:
    pem = (SHARED_SNS / "sns-signing-cert.aws-php-sns-message-validator.pem").read_bytes()
    asked: list[str] = []

    async def loader(url: str) -> bytes:
        asked.append(url)
        return pem

    signed_at = datetime(2022, 7, 29, tzinfo=UTC)  # the examples were signed on 2022-07-28; the cert has expired since
    # default host pattern: these fixtures name sns.us-east-2
    verifier = SnsVerifier(cert_loader=loader, clock=lambda: signed_at)
    names = sorted(p.name for p in SHARED_SNS.glob("http-notification.*.json"))
    assert len(names) == 4
    for name in names:
        msg = json.loads((SHARED_SNS / name).read_text())
        await verifier.verify(msg)
        with pytest.raises(VerificationError):
            await verifier.verify({**msg, "Message": msg["Message"] + "!"})
    assert len(asked) == 1  # cached by URL
    today = SnsVerifier(cert_loader=loader)  # the same messages today: their certificate expired in 2022
    with pytest.raises(VerificationError, match="expired"):
        await today.verify(json.loads((SHARED_SNS / names[0]).read_text()))
    example = json.loads((SHARED_SNS / "http-subscription-confirmation.awsdocs.json").read_text())
    with pytest.raises(VerificationError):  # the docs example carries a placeholder signature
        await verifier.verify(example)
