"""The bot's exception tree. Third-party errors are translated at the adapter (``raise ... from exc``)."""

from __future__ import annotations

from collections.abc import Mapping


class ChatOpsError(Exception):
    """Base of every error the bot raises on purpose."""


class ConfigError(ChatOpsError):
    """The configuration is invalid. ``problems`` lists one line per problem, each naming its key path;
    ``lines`` (key path -> line in the file, when it was read from one) lets ``bot.config_yaml.located`` add the
    line to each."""

    def __init__(self, problems: list[str], *, lines: Mapping[str, int] | None = None) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
        self.lines: Mapping[str, int] = lines or {}


class StoreError(ChatOpsError):
    """The store could not complete an operation."""


class StoreUnavailable(StoreError):
    """The database cannot be reached now (connection refused, killed or lost): the operation was not done, or
    its outcome is unknown. Ingress answers 503 with Retry-After (never an acknowledgement), /readyz answers 503,
    and the next operation connects afresh (issue 24 item 5)."""


class StoreConflict(StoreUnavailable):
    """A concurrent transaction conflicted with this one and the database rolled this one back (PostgreSQL broke a
    deadlock, SQLSTATE 40P01, or a serialization failure, 40001: "applications using this level must be prepared to
    retry transactions due to serialization failures", https://www.postgresql.org/docs/current/transaction-iso.html).
    Nothing of it was done; doing it again is the remedy (a webhook is retried, ingress answers 503)."""


class DeliveryError(ChatOpsError):
    """A chat platform refused or failed a delivery."""

    def __init__(self, message: str, *, transient: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after


class GitHubError(ChatOpsError):
    """A GitHub API call failed. ``transient`` is true for 5xx, 429 and timeouts."""

    def __init__(self, message: str, *, transient: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.status = status


class VerificationError(ChatOpsError):
    """An inbound request failed authentication (signature, key, token)."""
