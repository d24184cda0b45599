"""The EventBridge patterns in security-events match the CloudTrail events they are meant for, and nothing benign."""

from __future__ import annotations

import pytest

from tests.infra import tfcheck
from tests.infra.tfcheck import MODULES


def _detections() -> dict[str, dict]:
    files = tfcheck.load_dir(MODULES / "security-events")
    locals_ = {k: v for block in files["main.tf"]["locals"] for k, v in block.items()}
    return {
        name: {**d, "pattern": tfcheck.hcl_object_to_python(d["pattern"])}
        for name, d in locals_["all_detections"].items()
    }


def _api_call(**detail: object) -> dict:
    return {
        "source": "aws." + str(detail.get("eventSource", "iam.amazonaws.com")).split(".")[0],
        "detail-type": "AWS API Call via CloudTrail",
        "detail": {"eventVersion": "1.09", **detail},
    }


EVENTS = {
    "s3-denied": _api_call(
        eventSource="s3.amazonaws.com",
        eventName="GetObject",
        errorCode="AccessDenied",
        userIdentity={"type": "AssumedRole"},
    ),
    "ec2-denied": _api_call(
        eventSource="ec2.amazonaws.com",
        eventName="RunInstances",
        errorCode="Client.UnauthorizedOperation",
        userIdentity={"type": "IAMUser"},
    ),
    "console-failure": {
        "source": "aws.signin",
        "detail-type": "AWS Console Sign In via CloudTrail",
        "detail": {
            "eventName": "ConsoleLogin",
            "responseElements": {"ConsoleLogin": "Failure"},
            "userIdentity": {"type": "IAMUser"},
        },
    },
    "console-success": {
        "source": "aws.signin",
        "detail-type": "AWS Console Sign In via CloudTrail",
        "detail": {
            "eventName": "ConsoleLogin",
            "responseElements": {"ConsoleLogin": "Success"},
            "userIdentity": {"type": "IAMUser"},
        },
    },
    "root-api": _api_call(eventSource="iam.amazonaws.com", eventName="CreateAccessKey", userIdentity={"type": "Root"}),
    "oidc-failure": _api_call(
        eventSource="sts.amazonaws.com",
        eventName="AssumeRoleWithWebIdentity",
        errorCode="AccessDenied",
        userIdentity={"type": "WebIdentityUser"},
    ),
    "oidc-success": _api_call(
        eventSource="sts.amazonaws.com", eventName="AssumeRoleWithWebIdentity", userIdentity={"type": "WebIdentityUser"}
    ),
    "stop-logging": _api_call(
        eventSource="cloudtrail.amazonaws.com", eventName="StopLogging", userIdentity={"type": "AssumedRole"}
    ),
    "benign-put": _api_call(
        eventSource="s3.amazonaws.com", eventName="PutObject", userIdentity={"type": "AssumedRole"}
    ),
}

EXPECTED = {
    "access-denied": {"s3-denied", "ec2-denied", "oidc-failure"},
    "console-login-failure": {"console-failure"},
    "root-usage": {"root-api"},
    "oidc-assume-failure": {"oidc-failure"},
    "cloudtrail-tampering": {"stop-logging"},
}


def test_every_detection_has_a_rule() -> None:
    assert set(_detections()) == set(EXPECTED)


@pytest.mark.parametrize("detection", sorted(EXPECTED))
def test_pattern_matches_exactly_its_events(detection: str) -> None:
    pattern = _detections()[detection]["pattern"]
    matched = {name for name, event in EVENTS.items() if tfcheck.pattern_matches(pattern, event)}
    assert matched == EXPECTED[detection]


def test_cloudtrail_tampering_covers_all_four_calls() -> None:
    pattern = _detections()["cloudtrail-tampering"]["pattern"]
    assert sorted(pattern["detail"]["eventName"]) == ["DeleteTrail", "PutEventSelectors", "StopLogging", "UpdateTrail"]


def test_read_only_events_reach_the_rules_that_need_them() -> None:
    detections = _detections()
    # AssumeRoleWithWebIdentity is a read-only management event: plain ENABLED would never see it.
    assert detections["oidc-assume-failure"]["state"] == "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"
    assert detections["access-denied"]["state"] == "${local.read_only_state}"
