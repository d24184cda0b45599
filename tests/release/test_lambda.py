from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from bot.actions.release import (
    AlarmHealthCheck,
    AwsClients,
    CommandMigrationRunner,
    DeploymentsClient,
    GitHubReporter,
    HealthCheckFailed,
    HttpHealthCheck,
    InvalidInput,
    LambdaReleaser,
    Migration,
    MigrationFailed,
    NotFound,
    ReleaseError,
    RolledBack,
    ShiftPlan,
)

from .conftest import digest_uri
from .fakes import FakeGitHub, HealthEndpoint

FAST = ShiftPlan(steps=(10, 50, 100), bake_seconds=0)


def alias(clients: AwsClients, function: str) -> tuple[str, dict[str, float]]:
    answer = clients.lambda_.get_alias(FunctionName=function, Name="live")
    return answer["FunctionVersion"], answer.get("RoutingConfig", {}).get("AdditionalVersionWeights", {})


def versions(clients: AwsClients, function: str) -> list[str]:
    listed = clients.lambda_.list_versions_by_function(FunctionName=function)["Versions"]
    return [v["Version"] for v in listed if v["Version"] != "$LATEST"]


def reporter_for(github: FakeGitHub) -> tuple[GitHubReporter, int]:
    client = DeploymentsClient(repository=github.repository, token=github.token, api_url=github.url)
    deployment_id = client.create_deployment(ref="main", environment="staging", description="api")
    reporter = GitHubReporter(
        client=client,
        deployment_id=deployment_id,
        log_url="https://github.com/acme/shop/actions/runs/1",
        environment_url="https://api.staging.example.com",
    )
    return reporter, deployment_id


def test_healthy_deploy_ends_fully_on_new_version(
    clients: AwsClients, live_function: dict[str, Any], health: HealthEndpoint, github: FakeGitHub
) -> None:
    reporter, deployment_id = reporter_for(github)
    shifts: list[tuple[str, dict[str, float]]] = []

    def bake(_: float) -> None:
        shifts.append(alias(clients, live_function["name"]))

    releaser = LambdaReleaser(clients.lambda_, reporter=reporter, sleep=bake)
    result = releaser.deploy(
        function=live_function["name"],
        alias="live",
        image_uri=digest_uri("b"),
        release="1.1.0",
        plan=FAST,
        health=HttpHealthCheck(f"{health.url}/health/{{version}}", interval=0),
    )
    assert result.version == "2" and result.previous_version == "1"
    assert alias(clients, live_function["name"]) == ("2", {})
    assert shifts == [("1", {"2": 0.1}), ("1", {"2": 0.5})]
    assert health.paths == ["/health/2"] * 3  # one check before each of the three steps
    states = github.states(deployment_id)
    assert states[0] == "in_progress" and states[-1] == "success"
    assert github.statuses[deployment_id][-1]["environment_url"] == "https://api.staging.example.com"
    assert github.errors == []
    status = releaser.status(function=live_function["name"], alias="live")
    assert status["release"] == "1.1.0" and status["previous_version"] == "1"


def test_failing_health_check_at_first_step_leaves_old_version(
    clients: AwsClients, live_function: dict[str, Any], health: HealthEndpoint, github: FakeGitHub
) -> None:
    health.status = 500
    reporter, deployment_id = reporter_for(github)
    releaser = LambdaReleaser(clients.lambda_, reporter=reporter, sleep=lambda _: None)
    with pytest.raises(RolledBack) as caught:
        releaser.deploy(
            function=live_function["name"],
            alias="live",
            image_uri=digest_uri("c"),
            release="1.1.0",
            plan=FAST,
            health=HttpHealthCheck(f"{health.url}/health", attempts=2, interval=0),
        )
    assert caught.value.restored_version == "1"
    assert alias(clients, live_function["name"]) == ("1", {})
    last = github.statuses[deployment_id][-1]
    assert last["state"] == "failure"
    assert "rolled back" in last["description"] and "HTTP 500" in last["description"]
    assert len(last["description"]) <= 140


def test_failure_mid_shift_puts_all_traffic_back(clients: AwsClients, live_function: dict[str, Any]) -> None:
    calls: list[str] = []

    def flaky(version: str) -> None:
        calls.append(version)
        if len(calls) == 2:
            raise HealthCheckFailed("error rate 12%")

    releaser = LambdaReleaser(clients.lambda_, sleep=lambda _: None)
    with pytest.raises(RolledBack, match="before 50%"):
        releaser.deploy(
            function=live_function["name"],
            alias="live",
            image_uri=digest_uri("d"),
            release="1.2.0",
            plan=FAST,
            health=flaky,
        )
    assert alias(clients, live_function["name"]) == ("1", {})


def test_alarm_in_alarm_state_rolls_back(clients: AwsClients, live_function: dict[str, Any]) -> None:
    name = f"{live_function['name']}-errors"
    clients.cloudwatch.put_metric_alarm(
        AlarmName=name,
        MetricName="Errors",
        Namespace="AWS/Lambda",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
    )
    clients.cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="test")
    releaser = LambdaReleaser(clients.lambda_, sleep=lambda _: None)
    with pytest.raises(RolledBack, match="ALARM"):
        releaser.deploy(
            function=live_function["name"],
            alias="live",
            image_uri=digest_uri("e"),
            release="1.2.0",
            plan=FAST,
            health=AlarmHealthCheck(clients.cloudwatch, (name,)),
        )
    assert alias(clients, live_function["name"]) == ("1", {})


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"function": "no-such-function"}, NotFound),
        ({"image_uri": "api:latest"}, InvalidInput),
        ({"image_uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/api@sha256:abc"}, InvalidInput),
        ({"release": "../../etc"}, InvalidInput),
        ({"alias": "bad alias!"}, InvalidInput),
    ],
)
def test_bad_deploy_inputs_change_nothing(
    clients: AwsClients, live_function: dict[str, Any], kwargs: dict[str, str], error: type[Exception]
) -> None:
    args: dict[str, Any] = {
        "function": live_function["name"],
        "alias": "live",
        "image_uri": digest_uri("f"),
        "release": "2.0.0",
        "plan": FAST,
        "health": lambda _: None,
    }
    args.update(kwargs)
    with pytest.raises(error):
        LambdaReleaser(clients.lambda_).deploy(**args)
    assert alias(clients, live_function["name"]) == ("1", {})
    assert versions(clients, live_function["name"]) == ["1"]


@pytest.mark.parametrize("steps", ["10,50", "50,10,100", "0,100", "ten,100", ""])
def test_bad_traffic_steps(steps: str) -> None:
    with pytest.raises(InvalidInput):
        ShiftPlan.parse(steps, bake_seconds=0)


def deploy_v2(clients: AwsClients, function: str, migration: Migration | None = None) -> None:
    LambdaReleaser(clients.lambda_, sleep=lambda _: None).deploy(
        function=function,
        alias="live",
        image_uri=digest_uri("9"),
        release="1.1.0",
        plan=FAST,
        health=lambda _: None,
        migration=migration,
    )
    assert alias(clients, function) == ("2", {})


def test_rollback_goes_to_recorded_previous_version(
    clients: AwsClients, live_function: dict[str, Any]
) -> None:
    deploy_v2(clients, live_function["name"])
    result = LambdaReleaser(clients.lambda_).rollback(function=live_function["name"], alias="live")
    assert (result.from_version, result.to_version) == ("2", "1")
    assert alias(clients, live_function["name"]) == ("1", {})
    with pytest.raises(ReleaseError, match="no previous version"):
        LambdaReleaser(clients.lambda_).rollback(function=live_function["name"], alias="live")


def test_rollback_to_missing_version_changes_nothing(
    clients: AwsClients, live_function: dict[str, Any]
) -> None:
    deploy_v2(clients, live_function["name"])
    with pytest.raises(NotFound, match="version 7"):
        LambdaReleaser(clients.lambda_).rollback(
            function=live_function["name"], alias="live", target_version="7"
        )
    with pytest.raises(InvalidInput):
        LambdaReleaser(clients.lambda_).rollback(
            function=live_function["name"], alias="live", target_version="$LATEST"
        )
    assert alias(clients, live_function["name"]) == ("2", {})


def test_failed_down_migration_leaves_traffic_where_it_was(
    clients: AwsClients, live_function: dict[str, Any]
) -> None:
    deploy_v2(clients, live_function["name"], Migration(up="0042", down="0041"))
    failing = CommandMigrationRunner(f'"{sys.executable}" -c "raise SystemExit(3)"')
    with pytest.raises(MigrationFailed, match="exited 3"):
        LambdaReleaser(clients.lambda_).rollback(
            function=live_function["name"], alias="live", migration_runner=failing
        )
    assert alias(clients, live_function["name"]) == ("2", {})
    with pytest.raises(MigrationFailed, match="no down-migration step"):
        LambdaReleaser(clients.lambda_).rollback(function=live_function["name"], alias="live")
    assert alias(clients, live_function["name"]) == ("2", {})


def test_down_migration_runs_before_traffic_moves(
    clients: AwsClients, live_function: dict[str, Any], tmp_path: Path
) -> None:
    deploy_v2(clients, live_function["name"], Migration(up="0042", down="0041"))
    marker = tmp_path / "migrated"
    script = "import pathlib,sys; pathlib.Path(sys.argv[1]).write_text(sys.argv[2] + '->' + sys.argv[3])"
    runner = CommandMigrationRunner(f'"{sys.executable}" -c "{script}" "{marker}" {{from}} {{to}}')
    result = LambdaReleaser(clients.lambda_).rollback(
        function=live_function["name"], alias="live", migration_runner=runner
    )
    assert marker.read_text() == "0042->0041"
    assert result.migrations_undone == (Migration(up="0042", down="0041"),)
    assert alias(clients, live_function["name"]) == ("1", {})


def test_deploy_refuses_alias_mid_shift_and_rollback_clears_it(
    clients: AwsClients, live_function: dict[str, Any]
) -> None:
    name = live_function["name"]
    deploy_v2(clients, name)
    clients.lambda_.update_alias(
        FunctionName=name,
        Name="live",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}},
    )
    with pytest.raises(ReleaseError, match="mid-shift"):
        deploy_v2(clients, name)
    result = LambdaReleaser(clients.lambda_).rollback(function=name, alias="live")
    assert (result.from_version, result.to_version) == ("2", "1")
    assert alias(clients, name) == ("1", {})


def test_health_is_watched_after_100_percent_and_a_failure_rolls_back(
    clients: AwsClients, live_function: dict[str, Any]
) -> None:
    """Issue 15 item 5: after the last shift the engine keeps checking health for the final bake period."""
    checks: list[str] = []
    slept: list[float] = []

    def fails_once_everything_moved(version: str) -> None:
        checks.append(version)
        if len(checks) == 5:  # 3 checks before the steps, then the bake's second check
            raise HealthCheckFailed("p99 latency 4 s")

    plan = ShiftPlan(steps=(10, 50, 100), bake_seconds=0, final_bake_seconds=300)
    releaser = LambdaReleaser(clients.lambda_, sleep=slept.append)
    with pytest.raises(RolledBack, match=r"after 100% \(60s into the bake\): p99 latency 4 s"):
        releaser.deploy(function=live_function["name"], alias="live", image_uri=digest_uri("e"), release="1.3.0",
                        plan=plan, health=fails_once_everything_moved)
    assert alias(clients, live_function["name"]) == ("1", {})
    assert slept[-2:] == [30.0, 30.0]  # checked every 30 s at most (300 s / 5 = 60 s, capped at 30 s)


def test_a_healthy_final_bake_checks_at_least_five_times_and_keeps_the_new_version(
    clients: AwsClients, live_function: dict[str, Any]
) -> None:
    checks: list[str] = []
    plan = ShiftPlan(steps=(100,), bake_seconds=0, final_bake_seconds=10)
    LambdaReleaser(clients.lambda_, sleep=lambda _: None).deploy(
        function=live_function["name"], alias="live", image_uri=digest_uri("f"), release="1.3.1", plan=plan,
        health=checks.append)
    assert len(checks) == 1 + 5
    assert alias(clients, live_function["name"])[1] == {}
    assert alias(clients, live_function["name"])[0] != "1"
