"""Issue 23 item 10: ``vars.MIGRATION_UP``/``MIGRATION_DOWN`` do what the docs say (against moto's Lambda).

lambda-release.yml passes the two repository/environment variables to every ``lambda-deploy``; they stay set across
releases, so each release records the same revisions. A release migrated only when its ``up`` differs from the
release it replaced: rolling back over releases that merely repeat the revision runs no down-migration (and needs
none), and rolling back past the release that changed it runs the down-migration exactly once.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from bot.actions.release import AwsClients, CommandMigrationRunner, LambdaReleaser, Migration, ShiftPlan

from .conftest import digest_uri

FAST = ShiftPlan(steps=(100,), bake_seconds=0)
SCHEMA_42 = Migration(up="0042", down="0041")


def _deploy(clients: AwsClients, function: str, char: str, release: str, migration: Migration | None) -> None:
    LambdaReleaser(clients.lambda_, sleep=lambda _: None).deploy(
        function=function, alias="live", image_uri=digest_uri(char), release=release, plan=FAST,
        health=lambda _: None, migration=migration)


def _runner(log: Path) -> CommandMigrationRunner:
    script = "import sys; open(sys.argv[1], 'a').write(sys.argv[2] + '->' + sys.argv[3] + chr(10))"
    return CommandMigrationRunner(f'"{sys.executable}" -c "{script}" "{log}" {{from}} {{to}}')


def test_a_release_repeating_the_variables_did_not_migrate(clients: AwsClients, live_function: dict[str, Any],
                                                           tmp_path: Path) -> None:
    name = live_function["name"]
    _deploy(clients, name, "b", "1.1.0", SCHEMA_42)  # version 2: the migration 0041 -> 0042
    _deploy(clients, name, "c", "1.2.0", SCHEMA_42)  # version 3: variables unchanged, same schema
    _deploy(clients, name, "d", "1.3.0", SCHEMA_42)  # version 4: same
    releaser = LambdaReleaser(clients.lambda_)

    # 4 -> 3: same schema on both sides; no down-migration runs, and none needs to be configured
    result = releaser.rollback(function=name, alias="live")
    assert (result.to_version, result.migrations_undone) == ("3", ())

    # 3 -> 1 (release 1.0.0, before the migration): undone once, for version 2 only
    log = tmp_path / "ran"
    result = releaser.rollback(function=name, alias="live", target_version="1", migration_runner=_runner(log))
    assert result.migrations_undone == (SCHEMA_42,)
    assert log.read_text() == "0042->0041\n"


def test_a_changed_revision_is_a_second_migration(clients: AwsClients, live_function: dict[str, Any],
                                                 tmp_path: Path) -> None:
    name = live_function["name"]
    _deploy(clients, name, "b", "1.1.0", SCHEMA_42)
    _deploy(clients, name, "c", "1.2.0", Migration(up="0043", down="0042"))
    log = tmp_path / "ran"
    result = LambdaReleaser(clients.lambda_).rollback(function=name, alias="live", target_version="1",
                                                      migration_runner=_runner(log))
    assert log.read_text() == "0043->0042\n0042->0041\n"
    assert result.migrations_undone == (Migration(up="0043", down="0042"), SCHEMA_42)
