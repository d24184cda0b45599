"""Down-migration coordination for rollbacks.

Rolling back past a release that migrated the database runs the configured
down-migration step first; if it fails (or none is configured) the rollback
stops with :class:`MigrationFailed` before any traffic moves.

A release record's migration (``--migration-up R --migration-down R0``, from the workflows' ``vars.MIGRATION_UP``
and ``vars.MIGRATION_DOWN``) names the schema revision the release runs against and the one before it. Those
variables stay set across releases, so a release *migrated* only when its ``up`` differs from the ``up`` of the
release it replaced: a run of releases recording the same revision is one migration, undone once, by the oldest
of them (:func:`migrated`).
"""

from __future__ import annotations

import logging
import shlex
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .errors import InvalidInput, MigrationFailed
from .records import Migration, ReleaseRecord

__all__ = ["CommandMigrationRunner", "MigrationRunner", "undo_migrations"]

log = logging.getLogger(__name__)

MigrationRunner = Callable[[Migration], None]
"""Brings the schema from ``migration.up`` back to ``migration.down``; raises on failure."""


@dataclass(frozen=True, slots=True)
class CommandMigrationRunner:
    """Runs a command (no shell); ``{from}`` and ``{to}`` in it become the revisions.

    Example: ``alembic downgrade {to}`` or ``./manage.py migrate app {to}``.
    """

    command: str
    timeout: float = 900.0

    def __post_init__(self) -> None:
        if not shlex.split(self.command):
            raise InvalidInput("down-migration command is empty")

    def __call__(self, migration: Migration) -> None:
        argv = [
            part.replace("{from}", migration.up).replace("{to}", migration.down)
            for part in shlex.split(self.command)
        ]
        log.info("running down-migration from=%s to=%s", migration.up, migration.down)
        try:
            result = subprocess.run(argv, check=False, timeout=self.timeout)  # noqa: S603 (operator-configured)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise MigrationFailed(
                f"down-migration {migration.up} -> {migration.down} could not run: {type(exc).__name__}"
            ) from exc
        if result.returncode != 0:
            raise MigrationFailed(
                f"down-migration {migration.up} -> {migration.down} exited {result.returncode}"
            )


def migrated(releases: Sequence[ReleaseRecord], before: ReleaseRecord | None = None) -> list[ReleaseRecord]:
    """The releases of ``releases`` (newest first, each replacing the next; the last replacing ``before``) that
    changed the schema revision: a migration whose ``up`` equals its predecessor's is the same schema, not a new
    migration."""
    out: list[ReleaseRecord] = []
    for i, record in enumerate(releases):
        if record.migration is None:
            continue
        predecessor = releases[i + 1] if i + 1 < len(releases) else before
        if predecessor is not None and predecessor.migration is not None \
                and predecessor.migration.up == record.migration.up:
            continue
        out.append(record)
    return out


def undo_migrations(releases: Sequence[ReleaseRecord], runner: MigrationRunner | None, *,
                    before: ReleaseRecord | None = None) -> list[Migration]:
    """Undo the migrations of ``releases`` (newest first; ``before``: the release they go back to). Returns what
    was undone."""
    pending = migrated(releases, before)
    if pending and runner is None:
        names = ", ".join(r.release for r in pending)
        raise MigrationFailed(
            f"release(s) {names} migrated the database but no down-migration step is configured; "
            "traffic left unchanged"
        )
    undone: list[Migration] = []
    for record in pending:
        assert record.migration is not None and runner is not None
        try:
            runner(record.migration)
        except MigrationFailed as exc:
            raise MigrationFailed(f"{exc}; traffic left unchanged") from exc
        except Exception as exc:
            raise MigrationFailed(
                f"down-migration of release {record.release} failed: {type(exc).__name__}; "
                "traffic left unchanged"
            ) from exc
        undone.append(record.migration)
    return undone
