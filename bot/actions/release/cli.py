"""``python -m bot.actions.release <subcommand>``: the entry point the workflows call.

Prints one JSON object on stdout per command.  Exit codes: 0 done, 1 release
error, 2 bad input, 3 not found, 4 deploy failed and rolled back, 5 migration
failed (traffic untouched).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .aws import make_clients
from .errors import InvalidInput, MigrationFailed, NotFound, ReleaseError, RolledBack
from .github import DEPLOYMENT_STATES, DeploymentsClient, GitHubReporter, NullReporter, Reporter
from .health import (
    AlarmHealthCheck,
    AllOf,
    HealthCheck,
    HttpHealthCheck,
    InvokeHealthCheck,
    MetricLimits,
    VersionMetricsCheck,
)
from .lambda_release import LambdaReleaser, ShiftPlan
from .migrations import CommandMigrationRunner
from .records import Migration
from .version import git_describe
from .web import WebReleaser, verify_build_id

__all__ = ["main"]

log = logging.getLogger(__name__)

EXIT_CODES: dict[type[ReleaseError], int] = {
    InvalidInput: 2,
    NotFound: 3,
    RolledBack: 4,
    MigrationFailed: 5,
}


@dataclass(slots=True)
class _Tracking:
    """Remembers the last state so the CLI reports an error only if nothing else did."""

    inner: Reporter
    last: str = ""
    states: list[str] = field(default_factory=list)

    def report(self, state: str, description: str) -> None:
        self.last = state
        self.states.append(state)
        self.inner.report(state, description)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m {__package__}", description=__doc__)
    parser.add_argument("--endpoint-url", default=None, help="AWS endpoint (tests); default AWS_ENDPOINT_URL")
    parser.add_argument("--region", default=None)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    _lambda_commands(sub)
    _web_and_github_commands(sub)
    return parser


def _reporting_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "GitHub deployment reporting (GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_API_URL)"
    )
    g.add_argument("--deployment-id", type=int, default=None, help="report to this existing deployment")
    g.add_argument("--environment-url", default="")
    g.add_argument("--log-url", default="", help="default: this workflow run's URL")


def _migration_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--migration-up", default="", help="schema revision this release migrates to")
    p.add_argument("--migration-down", default="", help="schema revision before this release")


def _lambda_commands(sub: Any) -> None:
    p = sub.add_parser("lambda-deploy", help="blue/green deploy of an image digest")
    p.add_argument("--function", required=True)
    p.add_argument("--alias", default="live")
    p.add_argument("--image-uri", required=True, help="registry/repo@sha256:<digest>")
    p.add_argument("--release", required=True, help="release name, e.g. the semantic version")
    p.add_argument("--steps", default="10,50,100")
    p.add_argument("--bake-seconds", type=float, default=60.0)
    p.add_argument("--final-bake-seconds", type=float, default=0.0,
                   help="after 100%%: keep checking health this long; a failure rolls back")
    p.add_argument("--health-url", default="", help="GET before each shift; {version} is substituted")
    p.add_argument("--alarm", action="append", default=[], help="CloudWatch alarm that must not be ALARM")
    p.add_argument("--health-event", type=Path, default=None,
                   help="JSON event to invoke the new version with (by its version qualifier) before any traffic")
    p.add_argument("--max-errors", type=float, default=0.0, help="errors of the new version allowed per bake")
    p.add_argument("--max-throttles", type=float, default=0.0, help="throttles of the new version allowed per bake")
    p.add_argument("--max-duration-ms", type=float, default=None,
                   help="slowest invocation of the new version allowed per bake (ms)")
    p.add_argument("--health-attempts", type=int, default=3)
    p.add_argument("--health-interval", type=float, default=5.0)
    p.add_argument("--request-id", default="")
    _migration_args(p)
    _reporting_args(p)

    p = sub.add_parser("lambda-rollback", help="move the alias back to the previous (or a given) version")
    p.add_argument("--function", required=True)
    p.add_argument("--alias", default="live")
    p.add_argument("--target-version", default="", help="a Lambda version number, or a release name (v1.4.1)")
    p.add_argument("--down-migration-command", default="", help="run before traffic moves; {from} {to}")
    _reporting_args(p)

    p = sub.add_parser("lambda-status", help="alias, weights and recorded release of a function")
    p.add_argument("--function", required=True)
    p.add_argument("--alias", default="live")


def _web_and_github_commands(sub: Any) -> None:
    for name in ("web-publish", "web-rollback", "web-status"):
        p = sub.add_parser(name)
        p.add_argument("--bucket", required=True)
        p.add_argument("--distribution-id", required=True)
        p.add_argument("--origin-id", default=None)
        p.add_argument("--keep", type=int, default=5)
        if name == "web-publish":
            p.add_argument("--source", required=True, type=Path)
            p.add_argument("--release", required=True)
            p.add_argument("--build-id", default="")
            p.add_argument("--build-id-file", type=Path, default=None)
            p.add_argument("--request-id", default="")
            _migration_args(p)
        if name == "web-rollback":
            p.add_argument("--to", default="", help="a release name, or a version (its newest <version>-run release)")
            p.add_argument("--down-migration-command", default="")
        if name != "web-status":
            _reporting_args(p)

    p = sub.add_parser("web-verify", help="fetch the deployed site's _release.json and compare build ids")
    p.add_argument("--url", required=True)
    p.add_argument("--build-id", default="")
    p.add_argument("--build-id-file", type=Path, default=None)
    p.add_argument("--attempts", type=int, default=10)
    p.add_argument("--interval", type=float, default=15.0)

    p = sub.add_parser("deployment-create", help="create a GitHub deployment; prints its id")
    p.add_argument("--ref", required=True)
    p.add_argument("--environment", required=True)
    p.add_argument("--description", default="")
    p.add_argument("--request-id", default="")
    p.add_argument("--service", default="")

    p = sub.add_parser("deployment-status", help="add a status to a GitHub deployment")
    p.add_argument("--deployment-id", type=int, required=True)
    p.add_argument("--state", required=True, choices=sorted(DEPLOYMENT_STATES))
    p.add_argument("--description", default="")
    p.add_argument("--environment-url", default="")
    p.add_argument("--log-url", default="")

    p = sub.add_parser("version", help="semantic version of HEAD from git tags")
    p.add_argument("--repo", default=".")


def _run_url() -> str:
    keys = ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    server, repo, run = (os.environ.get(k, "") for k in keys)
    return f"{server}/{repo}/actions/runs/{run}" if server and repo and run else ""


def _github() -> DeploymentsClient:
    client = DeploymentsClient.from_env()
    if client is None:
        raise InvalidInput("GITHUB_TOKEN and GITHUB_REPOSITORY must be set to talk to GitHub deployments")
    return client


def _reporter(args: argparse.Namespace) -> _Tracking:
    deployment_id: int | None = getattr(args, "deployment_id", None)
    if deployment_id is None:
        return _Tracking(NullReporter())
    reporter = GitHubReporter(
        client=_github(),
        deployment_id=deployment_id,
        log_url=args.log_url or _run_url(),
        environment_url=args.environment_url,
    )
    return _Tracking(reporter)


def _build_id(args: argparse.Namespace) -> str:
    if args.build_id_file is not None:
        try:
            return str(args.build_id_file.read_text().strip())
        except OSError as exc:
            raise InvalidInput(f"cannot read build id file {args.build_id_file}") from exc
    return str(args.build_id)


def _migration(args: argparse.Namespace) -> Migration | None:
    if bool(args.migration_up) != bool(args.migration_down):
        raise InvalidInput("give both --migration-up and --migration-down, or neither")
    return Migration(up=args.migration_up, down=args.migration_down) if args.migration_up else None


def _runner(args: argparse.Namespace) -> CommandMigrationRunner | None:
    return CommandMigrationRunner(args.down_migration_command) if args.down_migration_command else None


def _dispatch(args: argparse.Namespace, reporter: _Tracking) -> dict[str, Any]:
    command: str = args.command
    if command == "version":
        return {"version": git_describe(args.repo)}
    if command == "web-verify":
        verify_build_id(args.url, _build_id(args), attempts=args.attempts, interval=args.interval)
        return {"verified": True, "url": args.url}
    if command == "deployment-create":
        client = _github()
        payload = {"request_id": args.request_id, "service": args.service}
        deployment_id = client.create_deployment(
            ref=args.ref, environment=args.environment, description=args.description, payload=payload
        )
        return {"deployment_id": deployment_id}
    if command == "deployment-status":
        _github().create_status(
            args.deployment_id,
            state=args.state,
            description=args.description,
            log_url=args.log_url or _run_url(),
            environment_url=args.environment_url,
        )
        return {"deployment_id": args.deployment_id, "state": args.state}
    clients = make_clients(region=args.region, endpoint_url=args.endpoint_url)
    if command.startswith("lambda-"):
        releaser = LambdaReleaser(clients.lambda_, reporter=reporter)
        if command == "lambda-status":
            return releaser.status(function=args.function, alias=args.alias)
        if command == "lambda-rollback":
            rolled = releaser.rollback(
                function=args.function,
                alias=args.alias,
                target_version=args.target_version or None,
                migration_runner=_runner(args),
            )
            return {"function": rolled.function, "from_version": rolled.from_version, "to": rolled.to_version,
                    "release": rolled.to_release}
        return _lambda_deploy(args, releaser, clients)
    web = WebReleaser(
        clients,
        bucket=args.bucket,
        distribution_id=args.distribution_id,
        origin_id=args.origin_id,
        keep=args.keep,
        reporter=reporter,
    )
    if command == "web-publish":
        release = web.publish(
            source=args.source,
            release=args.release,
            build_id=_build_id(args),
            migration=_migration(args),
            request_id=args.request_id,
        )
        return {"release": release, "origin_path": web.live_origin_path()}
    if command == "web-rollback":
        release = web.rollback(to=args.to or None, migration_runner=_runner(args))
        return {"release": release, "requested": args.to or "previous", "origin_path": web.live_origin_path()}
    ledger = web.ledger()
    return {"live": ledger.live, "releases": ledger.names(), "origin_path": web.live_origin_path()}


def _health_event(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        event = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read the health event {path}: {type(exc).__name__}") from exc
    if not isinstance(event, dict):
        raise InvalidInput(f"the health event {path} must be a JSON object")
    return event


def _lambda_deploy(args: argparse.Namespace, releaser: LambdaReleaser, clients: Any) -> dict[str, Any]:
    """Checks: the service (URL, alarms) before each step; the new version alone by invoking it with the health
    event before any traffic, and by its own CloudWatch metrics (ExecutedVersion) during every bake."""
    checks: list[HealthCheck] = []
    if args.health_url:
        checks.append(HttpHealthCheck(args.health_url, attempts=args.health_attempts, interval=args.health_interval))
    if args.alarm:
        checks.append(AlarmHealthCheck(clients.cloudwatch, tuple(args.alarm)))
    event = _health_event(args.health_event)
    if not checks and event is None:
        raise InvalidInput("give --health-event, --health-url and/or --alarm: blue/green without a health check "
                           "is blind")
    probe = InvokeHealthCheck(clients.lambda_, args.function, event) if event is not None else None
    limits = MetricLimits(errors=args.max_errors, throttles=args.max_throttles, duration_max_ms=args.max_duration_ms)
    watch = VersionMetricsCheck(clients.cloudwatch, args.function, args.alias,
                                window_seconds=max(60.0, args.bake_seconds), limits=limits)
    result = releaser.deploy(
        function=args.function,
        alias=args.alias,
        image_uri=args.image_uri,
        release=args.release,
        plan=ShiftPlan.parse(args.steps, bake_seconds=args.bake_seconds, final_bake_seconds=args.final_bake_seconds),
        health=AllOf(checks),
        migration=_migration(args),
        request_id=args.request_id,
        probe=probe,
        watch=watch,
    )
    return {"function": result.function, "version": result.version, "previous": result.previous_version}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr)
    reporter: _Tracking | None = None
    try:
        reporter = _reporter(args)
        result = _dispatch(args, reporter)
    except ReleaseError as exc:
        if reporter is not None and reporter.last not in ("failure", "error"):
            reporter.report("error", str(exc))
        code = next((c for t, c in EXIT_CODES.items() if isinstance(exc, t)), 1)
        print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
        print(f"release: {exc}", file=sys.stderr)
        return code
    print(json.dumps(result, sort_keys=True))
    return 0
