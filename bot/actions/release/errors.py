"""Exceptions raised by the release engine.

Every boto3 / HTTP failure is translated into one of these at the adapter
boundary (``raise ... from exc``) so callers never see botocore types.
"""

from __future__ import annotations

__all__ = [
    "AwsError",
    "GitHubError",
    "HealthCheckFailed",
    "InvalidInput",
    "MigrationFailed",
    "NotFound",
    "ReleaseError",
    "RolledBack",
]


class ReleaseError(Exception):
    """Base class of every release-engine error."""


class InvalidInput(ReleaseError):
    """An argument is malformed (image reference, percentages, release id...)."""


class NotFound(ReleaseError):
    """A function, version, alias, release or distribution does not exist."""


class AwsError(ReleaseError):
    """An AWS call failed for a reason other than "not found"."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class HealthCheckFailed(ReleaseError):
    """A health check reported the new version unhealthy."""


class RolledBack(ReleaseError):
    """A deploy failed and traffic was put back on the previous version."""

    def __init__(self, message: str, *, restored_version: str) -> None:
        super().__init__(message)
        self.restored_version = restored_version


class MigrationFailed(ReleaseError):
    """The down-migration step failed; traffic was left untouched."""


class GitHubError(ReleaseError):
    """The GitHub Deployments API answered with an error."""

    def __init__(self, message: str, *, status: int = 0) -> None:
        super().__init__(message)
        self.status = status
