"""Issue 23, item 7: the engine judges the new Lambda version before it gets traffic (invoked directly by its
version qualifier with the service's health event) and during each bake by its own CloudWatch metrics
(``AWS/Lambda`` with ``ExecutedVersion``); any failure rolls back. boto3 against moto's server: Lambda runs without
Docker there (moto's "lambda-simple" backend answers an invoke with the event, or with a result queued through
``/moto-api/static/lambda-simple/response``); CloudWatch ``PutMetricData``/``GetMetricData`` work in moto."""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.actions.release import (
    AllOf,
    AwsClients,
    InvokeHealthCheck,
    LambdaReleaser,
    MetricLimits,
    RolledBack,
    ShiftPlan,
    VersionMetricsCheck,
)
from bot.actions.release.cli import main

from .conftest import digest_uri

PLAN = ShiftPlan(steps=(10, 50, 100), bake_seconds=0)
HEALTH_EVENT = {"rawPath": "/health", "requestContext": {"http": {"method": "GET"}}}


def alias(clients: AwsClients, function: str) -> tuple[str, dict[str, float]]:
    answer = clients.lambda_.get_alias(FunctionName=function, Name="live")
    return answer["FunctionVersion"], answer.get("RoutingConfig", {}).get("AdditionalVersionWeights", {})


def queue_invoke_result(endpoint: str, result: str) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/static/lambda-simple/response", method="POST",
                                     data=json.dumps({"results": [result], "region": "us-east-1"}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201


def put_metric(clients: AwsClients, function: str, *, version: str, name: str, value: float) -> None:
    clients.cloudwatch.put_metric_data(Namespace="AWS/Lambda", MetricData=[{
        "MetricName": name, "Value": value, "Unit": "Count", "Timestamp": datetime.now(UTC),
        "Dimensions": [{"Name": "FunctionName", "Value": function},
                       {"Name": "Resource", "Value": f"{function}:live"},
                       {"Name": "ExecutedVersion", "Value": version}]}])


def record_invokes(clients: AwsClients, function: str) -> list[tuple[str, tuple[str, dict[str, float]]]]:
    """Each Invoke the engine makes (boto3's own event hook): its qualifier and the alias at that moment."""
    seen: list[tuple[str, tuple[str, dict[str, float]]]] = []

    def hook(params: dict[str, Any], **_: Any) -> None:
        seen.append((str(params.get("Qualifier")), alias(clients, function)))

    clients.lambda_.meta.events.register("provide-client-params.lambda.Invoke", hook)
    return seen


def checks(clients: AwsClients, function: str) -> dict[str, Any]:
    return {"health": AllOf([]), "probe": InvokeHealthCheck(clients.lambda_, function, HEALTH_EVENT),
            "watch": VersionMetricsCheck(clients.cloudwatch, function, "live", window_seconds=600)}


def test_the_new_version_is_invoked_by_its_qualifier_before_it_gets_traffic(
    clients: AwsClients, live_function: dict[str, Any]
) -> None:
    name = live_function["name"]
    invokes = record_invokes(clients, name)
    result = LambdaReleaser(clients.lambda_, sleep=lambda _: None).deploy(
        function=name, alias="live", image_uri=digest_uri("c"), release="1.1.0", plan=PLAN,
        **checks(clients, name))  # fmt: skip
    assert result.version == "2" and alias(clients, name) == ("2", {})
    assert invokes == [("2", ("1", {}))]  # version 2 itself, while the alias sent it nothing


def test_a_failing_health_event_rolls_back_before_any_traffic(
    clients: AwsClients, live_function: dict[str, Any], moto_endpoint: str
) -> None:
    name = live_function["name"]
    queue_invoke_result(moto_endpoint, json.dumps({"statusCode": 503, "body": "db unreachable"}))
    shifts: list[tuple[str, dict[str, float]]] = []
    releaser = LambdaReleaser(clients.lambda_, sleep=lambda _: shifts.append(alias(clients, name)))
    with pytest.raises(RolledBack) as err:
        releaser.deploy(function=name, alias="live", image_uri=digest_uri("d"), release="1.1.0", plan=PLAN,
                        **checks(clients, name))
    assert "before any traffic" in str(err.value) and "503" in str(err.value)
    assert shifts == [] and alias(clients, name) == ("1", {})


def test_errors_of_the_new_version_during_a_bake_roll_back(
    clients: AwsClients, live_function: dict[str, Any]
) -> None:
    name = live_function["name"]
    put_metric(clients, name, version="2", name="Errors", value=3)  # what version 2 does with its 10 %
    with pytest.raises(RolledBack) as err:
        LambdaReleaser(clients.lambda_, sleep=lambda _: None).deploy(
            function=name, alias="live", image_uri=digest_uri("e"), release="1.1.0", plan=PLAN,
            **checks(clients, name))  # fmt: skip
    assert "at 10%" in str(err.value) and "3 errors" in str(err.value)
    assert alias(clients, name) == ("1", {})


def test_errors_and_throttles_of_the_old_version_do_not_judge_the_new_one(
    clients: AwsClients, live_function: dict[str, Any]
) -> None:
    name = live_function["name"]
    put_metric(clients, name, version="1", name="Errors", value=50)
    put_metric(clients, name, version="1", name="Throttles", value=9)
    result = LambdaReleaser(clients.lambda_, sleep=lambda _: None).deploy(
        function=name, alias="live", image_uri=digest_uri("f"), release="1.1.0", plan=PLAN,
        **checks(clients, name))  # fmt: skip
    assert result.version == "2" and alias(clients, name) == ("2", {})


def test_throttles_and_a_slow_invocation_fail_the_metrics_check(
    clients: AwsClients, live_function: dict[str, Any]
) -> None:
    name = live_function["name"]
    put_metric(clients, name, version="7", name="Throttles", value=2)
    check = VersionMetricsCheck(clients.cloudwatch, name, "live", window_seconds=600)
    with pytest.raises(Exception, match="2 throttles"):
        check("7")
    put_metric(clients, name, version="8", name="Duration", value=2500)
    slow = VersionMetricsCheck(clients.cloudwatch, name, "live", window_seconds=600,
                               limits=MetricLimits(duration_max_ms=1000))
    with pytest.raises(Exception, match="took 2500 ms"):
        slow("8")
    VersionMetricsCheck(clients.cloudwatch, name, "live", window_seconds=600)("9")  # no data: healthy


def test_cli_invokes_the_health_event_and_rolls_back_on_its_failure(
    aws_env: str, live_function: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = tmp_path / "health.json"
    event.write_text(json.dumps(HEALTH_EVENT))
    queue_invoke_result(aws_env, json.dumps({"statusCode": 500}))
    code = main(["lambda-deploy", "--function", live_function["name"], "--image-uri", digest_uri("9"),
                 "--release", "1.1.0", "--bake-seconds", "0", "--health-event", str(event)])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 4 and out["error"] == "RolledBack" and "before any traffic" in out["message"]
    code = main(["lambda-deploy", "--function", live_function["name"], "--image-uri", digest_uri("9"),
                 "--release", "1.1.0", "--bake-seconds", "0", "--health-event", str(event)])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and out["version"] == "3"  # the event echoed back: healthy
