from __future__ import annotations

import json
from urllib.parse import parse_qs

from slack_sdk.signature import SignatureVerifier

from sandbox.paths import PUBLISHED_FIXTURES
from sandbox.signing import block_actions_body, sign_github, sign_slack, slash_command_body

FIXTURES = PUBLISHED_FIXTURES


def test_sign_slack_reproduces_slacks_published_example() -> None:
    example = json.loads((FIXTURES / "slack" / "signature-example.json").read_text())
    headers = sign_slack(example["signing_secret"], example["body"].encode(), int(example["timestamp"]))
    assert headers["X-Slack-Signature"] == example["x_slack_signature"]
    assert headers["X-Slack-Request-Timestamp"] == example["timestamp"]


def test_slack_sdk_verifier_accepts_our_signature() -> None:
    body = slash_command_body("/deploy", "api v1.4.2 to staging", "U0DEV", "C0DEPLOYS")
    headers = sign_slack("s3cret", body)
    assert SignatureVerifier("s3cret").is_valid_request(body, headers)
    assert not SignatureVerifier("other").is_valid_request(body, headers)


def test_slash_command_body_has_the_fixture_fields() -> None:
    fixture = parse_qs((FIXTURES / "slack" / "slash-command.bolt-python-test.body.txt").read_text())
    ours = parse_qs(
        slash_command_body(
            "/deploy",
            "api v1.4.2 to staging",
            "U0DEV",
            "C0DEPLOYS",
            trigger_id="1.2.3",
            response_url="http://127.0.0.1:1/response/k",
        ).decode()
    )
    assert set(fixture) - {"enterprise_id", "enterprise_name"} <= set(ours)
    assert ours["command"] == ["/deploy"] and ours["text"] == ["api v1.4.2 to staging"]
    assert ours["trigger_id"] == ["1.2.3"] and ours["response_url"] == ["http://127.0.0.1:1/response/k"]


def test_block_actions_body_matches_fixture_shape() -> None:
    fixture = json.loads((FIXTURES / "slack" / "block_actions.button.bolt-python-test.json").read_text())
    raw = block_actions_body("approve", "req-1", "U0LEAD", "C0APPROVALS", "1700000000.000100")
    assert raw.startswith(b"payload=")
    payload = json.loads(parse_qs(raw.decode())["payload"][0])
    assert set(fixture) <= set(payload)
    assert set(fixture["actions"][0]) <= set(payload["actions"][0])
    assert payload["actions"][0]["value"] == "req-1"
    assert payload["container"]["message_ts"] == "1700000000.000100"


def test_sign_github_known_vector() -> None:
    # GitHub docs' example: secret "It's a Secret to Everybody", payload "Hello, World!"
    headers = sign_github("It's a Secret to Everybody", b"Hello, World!")
    assert headers["X-Hub-Signature-256"] == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )
