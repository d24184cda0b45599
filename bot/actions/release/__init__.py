"""Release engine: blue/green Lambda, S3 + CloudFront web releases, rollback, GitHub deployment status.

The workflows call it as ``python -m bot.actions.release <subcommand>``; the bot
imports :class:`LambdaReleaser` and :class:`WebReleaser` for ``/rollback`` and
``/deploy status`` (run them in ``asyncio.to_thread``: boto3 blocks).
"""

from __future__ import annotations

from .aws import AwsClients, make_clients
from .errors import (
    AwsError,
    GitHubError,
    HealthCheckFailed,
    InvalidInput,
    MigrationFailed,
    NotFound,
    ReleaseError,
    RolledBack,
)
from .github import DeploymentsClient, GitHubReporter, NullReporter, Reporter
from .health import (
    AlarmHealthCheck,
    AllOf,
    HealthCheck,
    HttpHealthCheck,
    InvokeHealthCheck,
    MetricLimits,
    VersionMetricsCheck,
)
from .lambda_release import DeployResult, LambdaReleaser, RollbackResult, ShiftPlan, parse_image_ref
from .migrations import CommandMigrationRunner, MigrationRunner
from .records import Migration, ReleaseRecord
from .web import WebReleaser, verify_build_id

__all__ = [
    "AlarmHealthCheck",
    "AllOf",
    "AwsClients",
    "AwsError",
    "CommandMigrationRunner",
    "DeployResult",
    "DeploymentsClient",
    "GitHubError",
    "GitHubReporter",
    "HealthCheck",
    "HealthCheckFailed",
    "HttpHealthCheck",
    "InvalidInput",
    "InvokeHealthCheck",
    "LambdaReleaser",
    "MetricLimits",
    "Migration",
    "MigrationFailed",
    "MigrationRunner",
    "NotFound",
    "NullReporter",
    "ReleaseError",
    "ReleaseRecord",
    "Reporter",
    "RollbackResult",
    "RolledBack",
    "ShiftPlan",
    "VersionMetricsCheck",
    "WebReleaser",
    "make_clients",
    "parse_image_ref",
    "verify_build_id",
]
