"""Engine paths the release tests do not take, run only under the recorder (test_aws_permissions.py passes this
file to the recorded pytest run next to tests/release): a function's first deploy, which creates its alias."""

from __future__ import annotations

import uuid

import boto3

from bot.actions.release import AlarmHealthCheck, AwsClients, LambdaReleaser, ShiftPlan
from tests.release.conftest import clients, digest_uri, moto_endpoint

__all__ = ["clients", "moto_endpoint"]  # the fixtures this file borrows


def test_first_deploy_creates_the_alias(clients: AwsClients, moto_endpoint: str) -> None:
    # defect 3: the first deploy of a function calls lambda:CreateAlias
    name = f"first-{uuid.uuid4().hex[:8]}"
    iam = boto3.client("iam", endpoint_url=moto_endpoint, region_name="us-east-1")
    role_arn = iam.create_role(RoleName=f"{name}-exec", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    clients.lambda_.create_function(
        FunctionName=name, Role=role_arn, PackageType="Image", Code={"ImageUri": digest_uri("a")}
    )
    alarm = f"{name}-errors"
    clients.cloudwatch.put_metric_alarm(
        AlarmName=alarm, MetricName="Errors", Namespace="AWS/Lambda", Statistic="Sum", Period=60,
        EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold",
    )  # fmt: skip
    result = LambdaReleaser(clients.lambda_, sleep=lambda _: None).deploy(
        function=name,
        alias="live",
        image_uri=digest_uri("b"),
        release="1.0.0",
        plan=ShiftPlan(steps=(100,), bake_seconds=0),
        health=AlarmHealthCheck(clients.cloudwatch, (alarm,)),
    )
    assert result.previous_version is None
    assert clients.lambda_.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == result.version
