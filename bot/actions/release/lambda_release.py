"""Blue/green Lambda releases through a weighted alias.

``deploy`` points ``$LATEST`` at an image digest, waits for the update,
publishes a version whose description records the release (and the version it
replaces), then shifts the alias in steps, running the health check before
each step.  Any failure puts the alias fully back on the previous version in a
single ``UpdateAlias`` call.  ``rollback`` moves the alias to the recorded
previous version (or a chosen one), undoing database migrations first.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .aws import aws_call
from .errors import HealthCheckFailed, InvalidInput, MigrationFailed, NotFound, ReleaseError, RolledBack
from .github import NullReporter, Reporter
from .health import HealthCheck
from .migrations import MigrationRunner, undo_migrations
from .records import Migration, ReleaseRecord, release_key, validate_release_name

__all__ = [
    "AliasState",
    "DeployResult",
    "LambdaReleaser",
    "RollbackResult",
    "ShiftPlan",
    "parse_image_ref",
]

log = logging.getLogger(__name__)

_IMAGE_REF = re.compile(
    r"^(?P<registry>[a-z0-9][a-z0-9.-]*(?::[0-9]{1,5})?)/(?P<repository>[a-z0-9][a-z0-9._/-]*)"
    r"@sha256:(?P<digest>[0-9a-f]{64})$"
)
_VERSION = re.compile(r"^[1-9][0-9]{0,9}$")
_NAME = re.compile(r"^[A-Za-z0-9_:.-]{1,140}$")
_MAX_CHAIN = 100


def parse_image_ref(image_uri: str) -> str:
    """Accept only ``registry/repository@sha256:<64 hex>``; returns it unchanged."""
    if not _IMAGE_REF.fullmatch(image_uri):
        raise InvalidInput(
            f"image reference {image_uri!r} is malformed; expected registry/repository@sha256:<64 hex digits>"
        )
    return image_uri


def _check_name(kind: str, value: str) -> str:
    if not _NAME.fullmatch(value):
        raise InvalidInput(f"{kind} {value!r} is malformed")
    return value


@dataclass(frozen=True, slots=True)
class ShiftPlan:
    """Traffic percentages for the new version, ending at 100, with bake time after each."""

    steps: tuple[int, ...] = (10, 50, 100)
    bake_seconds: float = 60.0
    # after 100 %: keep checking health for this long; a failure still rolls back to the previous version
    final_bake_seconds: float = 0.0

    def __post_init__(self) -> None:
        if not self.steps or self.steps[-1] != 100:
            raise InvalidInput("traffic steps must end at 100")
        if any(not 0 < s <= 100 for s in self.steps) or list(self.steps) != sorted(set(self.steps)):
            raise InvalidInput("traffic steps must be strictly increasing percentages in 1..100")
        if self.bake_seconds < 0 or self.final_bake_seconds < 0:
            raise InvalidInput("bake time cannot be negative")

    @classmethod
    def parse(cls, text: str, *, bake_seconds: float, final_bake_seconds: float = 0.0) -> ShiftPlan:
        try:
            steps = tuple(int(part) for part in text.split(",") if part.strip())
        except ValueError as exc:
            raise InvalidInput(f"traffic steps {text!r} must be comma-separated integers") from exc
        return cls(steps=steps, bake_seconds=bake_seconds, final_bake_seconds=final_bake_seconds)


@dataclass(frozen=True, slots=True)
class _Checks:
    health: HealthCheck  # before every step (the service as a whole: URL, alarms)
    probe: HealthCheck | None = None  # the new version alone, before any traffic
    watch: HealthCheck | None = None  # the new version alone, during every bake


@dataclass(frozen=True, slots=True)
class AliasState:
    version: str
    weights: dict[str, float] = field(default_factory=dict)
    revision_id: str = ""


@dataclass(frozen=True, slots=True)
class DeployResult:
    function: str
    alias: str
    version: str
    previous_version: str | None
    release: str


@dataclass(frozen=True, slots=True)
class RollbackResult:
    function: str
    alias: str
    from_version: str
    to_version: str
    migrations_undone: tuple[Migration, ...]
    to_release: str | None = None  # the release the target version's record names


class LambdaReleaser:
    """Release operations on one Lambda client; reports each step to ``reporter``."""

    def __init__(
        self,
        lambda_client: Any,
        *,
        reporter: Reporter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        update_wait_seconds: int = 300,
    ) -> None:
        self._lambda = lambda_client
        self._reporter: Reporter = reporter or NullReporter()
        self._sleep = sleep
        self._update_wait_seconds = update_wait_seconds

    # ----------------------------------------------------------------- queries
    def alias_state(self, function: str, alias: str) -> AliasState | None:
        try:
            with aws_call(f"get alias {alias} of function {function}"):
                answer = self._lambda.get_alias(FunctionName=function, Name=alias)
        except NotFound:
            return None
        weights = (answer.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        return AliasState(
            version=str(answer["FunctionVersion"]),
            weights={str(k): float(v) for k, v in weights.items()},
            revision_id=str(answer.get("RevisionId", "")),
        )

    def record_of(self, function: str, version: str) -> ReleaseRecord | None:
        with aws_call(f"get version {version} of function {function}"):
            config = self._lambda.get_function_configuration(FunctionName=function, Qualifier=version)
        return ReleaseRecord.decode(str(config.get("Description", "")))

    def status(self, *, function: str, alias: str) -> dict[str, Any]:
        """What the bot shows for ``/deploy status``."""
        _check_name("function", function)
        _check_name("alias", alias)
        self._require_function(function)
        state = self.alias_state(function, alias)
        if state is None:
            raise NotFound(f"alias {alias} of function {function} does not exist")
        record = self.record_of(function, state.version)
        return {
            "function": function,
            "alias": alias,
            "version": state.version,
            "weights": state.weights,
            "release": record.release if record else None,
            "previous_version": record.previous if record else None,
            "migration": (
                {"up": record.migration.up, "down": record.migration.down}
                if record and record.migration
                else None
            ),
        }

    # ------------------------------------------------------------------ deploy
    def deploy(
        self,
        *,
        function: str,
        alias: str,
        image_uri: str,
        release: str,
        plan: ShiftPlan,
        health: HealthCheck,
        migration: Migration | None = None,
        request_id: str = "",
        probe: HealthCheck | None = None,
        watch: HealthCheck | None = None,
    ) -> DeployResult:
        """``health`` runs before every step; ``probe`` judges the new version alone before it gets any traffic
        (e.g. invoking it by its version qualifier); ``watch`` judges it during every bake, while it has traffic
        (e.g. its own CloudWatch metrics). Any failure puts the alias back on the previous version."""
        _check_name("function", function)
        _check_name("alias", alias)
        parse_image_ref(image_uri)
        validate_release_name(release)
        config = self._require_function(function)
        if config.get("PackageType") != "Image":
            raise InvalidInput(f"function {function} is not an image function")
        blue = self.alias_state(function, alias)
        if blue is not None and blue.weights:
            raise ReleaseError(
                f"alias {alias} of {function} is mid-shift ({blue.weights}); roll back or finish it first"
            )
        record = ReleaseRecord(
            release=release,
            previous=blue.version if blue else None,
            migration=migration,
            request_id=request_id,
        )
        description = record.encode()
        self._reporter.report("in_progress", f"{function}: updating to {image_uri.rsplit('@', 1)[1][:19]}")
        green = self._publish(function, image_uri, description)
        if blue is not None and green == blue.version:
            self._reporter.report("success", f"{function}: version {green} already live on {alias}")
            return DeployResult(function, alias, green, record.previous, release)
        try:
            self._shift(function, alias, blue, green, plan, _Checks(health, probe, watch))
        except (HealthCheckFailed, ReleaseError) as exc:
            if blue is None:
                self._reporter.report("failure", f"{function} {release}: {exc}; alias {alias} not created")
                raise
            self._restore(function, alias, blue.version)
            message = f"{function} {release} failed: {exc}; rolled back {alias} to version {blue.version}"
            self._reporter.report("failure", message)
            raise RolledBack(message, restored_version=blue.version) from exc
        self._reporter.report("success", f"{function} {release}: {alias} on version {green} (100%)")
        return DeployResult(function, alias, green, record.previous, release)

    def _require_function(self, function: str) -> dict[str, Any]:
        try:
            with aws_call(f"get function {function}"):
                answer = self._lambda.get_function_configuration(FunctionName=function)
        except NotFound as exc:
            raise NotFound(f"function {function} does not exist") from exc
        return dict(answer)

    def _publish(self, function: str, image_uri: str, description: str) -> str:
        with aws_call(f"update function {function} code"):
            updated = self._lambda.update_function_code(FunctionName=function, ImageUri=image_uri)
        delay = 2
        with aws_call(f"wait for function {function} update"):
            self._lambda.get_waiter("function_updated_v2").wait(
                FunctionName=function,
                WaiterConfig={"Delay": delay, "MaxAttempts": max(1, self._update_wait_seconds // delay)},
            )
        with aws_call(f"publish version of function {function}"):
            published = self._lambda.publish_version(
                FunctionName=function, CodeSha256=updated["CodeSha256"], Description=description
            )
        version = str(published["Version"])
        log.info("published version function=%s version=%s", function, version)
        return version

    def _shift(
        self,
        function: str,
        alias: str,
        blue: AliasState | None,
        green: str,
        plan: ShiftPlan,
        checks: _Checks,
    ) -> None:
        revision = blue.revision_id if blue else ""
        if checks.probe is not None:
            try:
                checks.probe(green)
            except HealthCheckFailed as exc:
                raise HealthCheckFailed(f"before any traffic: {exc}") from exc
        for percent in plan.steps:
            try:
                checks.health(green)
            except HealthCheckFailed as exc:
                raise HealthCheckFailed(f"before {percent}%: {exc}") from exc
            if blue is None:
                with aws_call(f"create alias {alias} of {function}"):
                    self._lambda.create_alias(FunctionName=function, Name=alias, FunctionVersion=green)
                self._reporter.report("in_progress", f"{function}: created {alias} on version {green}")
                return
            if percent == 100:
                revision = self._update_alias(function, alias, green, {}, revision)
                self._final_bake(function, alias, green, plan, checks)
            else:
                revision = self._update_alias(function, alias, blue.version, {green: percent / 100}, revision)
                self._reporter.report("in_progress", f"{function}: {percent}% of {alias} on version {green}")
                self._bake(green, plan.bake_seconds, checks.watch, f"at {percent}%")

    def _bake(self, green: str, seconds: float, watch: HealthCheck | None, where: str) -> None:
        """Wait ``seconds`` with the current weights; with ``watch``, check the new version about every 30 s (at
        least five times, and once even without a bake), so a failing version is caught during the bake."""
        if watch is None:
            self._sleep(seconds)
            return
        interval = min(30.0, seconds / 5) if seconds > 0 else 0.0
        watched = 0.0
        while True:
            if interval:
                self._sleep(interval)
                watched += interval
            try:
                watch(green)
            except HealthCheckFailed as exc:
                raise HealthCheckFailed(f"{where} ({watched:.0f}s into the bake): {exc}") from exc
            if watched >= seconds:
                return

    def _final_bake(self, function: str, alias: str, green: str, plan: ShiftPlan, checks: _Checks) -> None:
        """Watch the new version with all the traffic for ``final_bake_seconds`` (checked about every 30 s, at
        least five times); a failing check raises, and ``deploy`` puts the alias back on the previous version."""
        if plan.final_bake_seconds <= 0:
            return
        self._reporter.report("in_progress", f"{function}: 100% of {alias} on version {green}; watching health")
        interval = min(30.0, plan.final_bake_seconds / 5)
        watched = 0.0
        while watched < plan.final_bake_seconds:
            self._sleep(interval)
            watched += interval
            try:
                checks.health(green)
                if checks.watch is not None:
                    checks.watch(green)
            except HealthCheckFailed as exc:
                raise HealthCheckFailed(f"after 100% ({watched:.0f}s into the bake): {exc}") from exc

    def _update_alias(
        self, function: str, alias: str, version: str, weights: dict[str, float], revision: str
    ) -> str:
        kwargs: dict[str, Any] = {
            "FunctionName": function,
            "Name": alias,
            "FunctionVersion": version,
            "RoutingConfig": {"AdditionalVersionWeights": weights},
        }
        if revision:
            kwargs["RevisionId"] = revision
        with aws_call(f"update alias {alias} of {function}"):
            answer = self._lambda.update_alias(**kwargs)
        return str(answer.get("RevisionId", ""))

    def _restore(self, function: str, alias: str, version: str) -> None:
        """All traffic back on ``version`` in one call (no revision check: this must win)."""
        self._update_alias(function, alias, version, {}, "")
        log.warning("alias restored function=%s alias=%s version=%s", function, alias, version)

    # ---------------------------------------------------------------- rollback
    def rollback(
        self,
        *,
        function: str,
        alias: str,
        target_version: str | None = None,
        migration_runner: MigrationRunner | None = None,
    ) -> RollbackResult:
        _check_name("function", function)
        _check_name("alias", alias)
        if target_version and not _VERSION.fullmatch(target_version):
            validate_release_name(target_version)  # a release name (e.g. v1.4.1), mapped below
        self._require_function(function)
        if target_version and not _VERSION.fullmatch(target_version):
            target_version = self.version_of_release(function, target_version)
        state = self.alias_state(function, alias)
        if state is None:
            raise NotFound(f"alias {alias} of function {function} does not exist")
        current = next(iter(state.weights)) if state.weights else state.version
        current_record = self.record_of(function, current)
        if not target_version:
            if state.weights:
                target_version = state.version
            elif current_record is None or current_record.previous is None:
                raise ReleaseError(
                    f"no previous version recorded for {function} version {current}; give a target version"
                )
            else:
                target_version = current_record.previous
        try:
            target_record = self.record_of(function, target_version)
        except NotFound as exc:
            raise NotFound(f"version {target_version} of function {function} does not exist") from exc
        to_release = target_record.release if target_record else None
        if target_version == state.version and not state.weights:
            self._reporter.report("success", f"{function}: {alias} already on version {target_version}")
            return RollbackResult(function, alias, current, target_version, (), to_release)
        chain = self._chain(function, current, target_version)
        self._reporter.report("in_progress", f"{function}: rolling back {alias} {current}->{target_version}")
        try:
            undone = undo_migrations(chain, migration_runner, before=target_record)
        except MigrationFailed as exc:
            self._reporter.report("failure", f"{function}: rollback stopped: {exc}")
            raise
        self._restore(function, alias, target_version)
        self._reporter.report("success", f"{function}: rolled back {alias} {current}->{target_version}")
        return RollbackResult(function, alias, current, target_version, tuple(undone), to_release)

    def version_of_release(self, function: str, release: str) -> str:
        """The newest published version whose release record names ``release`` (release names are what people
        use: ``/rollback api production to v1.4.1``). Raises NotFound when no published version is that release."""
        newest: int | None = None
        with aws_call(f"list versions of function {function}"):
            pages = self._lambda.get_paginator("list_versions_by_function").paginate(FunctionName=function)
            for page in pages:
                for v in page.get("Versions", []):
                    number = str(v.get("Version", ""))
                    record = ReleaseRecord.decode(str(v.get("Description", "")))
                    if _VERSION.fullmatch(number) and record and release_key(record.release) == release_key(release):
                        newest = max(newest or 0, int(number))
        if newest is None:
            raise NotFound(f"no published version of function {function} is release {release}")
        return str(newest)

    def _chain(self, function: str, current: str, target: str) -> Sequence[ReleaseRecord]:
        """Records from ``current`` back to (not including) ``target``, newest first."""
        chain: list[ReleaseRecord] = []
        version: str | None = current
        seen: set[str] = set()
        while version is not None and version != target and version not in seen and len(seen) < _MAX_CHAIN:
            seen.add(version)
            record = self.record_of(function, version)
            if record is None:
                break
            chain.append(record)
            version = record.previous
        if version != target and any(r.migration for r in chain):
            raise MigrationFailed(
                f"version {target} is not an ancestor of {current}; cannot tell which migrations to undo; "
                "traffic left unchanged"
            )
        return chain
