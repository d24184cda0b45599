"""Static web releases on S3 + CloudFront.

Each release is uploaded once under an immutable prefix ``releases/<id>/``.
The live release is the CloudFront origin path (``/releases/<id>``); the
bucket's ledger (``_releases/ledger.json``) records every kept release, the
live one and what each replaced.  Switching = update the origin path, write the
ledger, invalidate the cache.  The last ``keep`` releases are kept.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .aws import AwsClients, aws_call
from .content import cache_control, content_type
from .errors import InvalidInput, MigrationFailed, NotFound, ReleaseError
from .github import NullReporter, Reporter
from .migrations import MigrationRunner, undo_migrations
from .records import Migration, ReleaseRecord, release_key, validate_release_name

__all__ = ["LEDGER_KEY", "Ledger", "WebReleaser", "verify_build_id"]

log = logging.getLogger(__name__)

LEDGER_KEY = "_releases/ledger.json"
RELEASES_PREFIX = "releases/"
MARKER = "_release.json"


@dataclass(slots=True)
class Ledger:
    live: str | None = None
    releases: list[dict[str, Any]] = field(default_factory=list)

    def names(self) -> list[str]:
        return [str(r["r"]) for r in self.releases]

    def record(self, name: str) -> ReleaseRecord | None:
        for entry in self.releases:
            if entry.get("r") == name:
                return ReleaseRecord.from_json(entry)
        return None

    def to_json(self) -> dict[str, Any]:
        return {"live": self.live, "releases": self.releases}


class WebReleaser:
    def __init__(
        self,
        clients: AwsClients,
        *,
        bucket: str,
        distribution_id: str,
        origin_id: str | None = None,
        keep: int = 5,
        reporter: Reporter | None = None,
    ) -> None:
        if keep < 2:
            raise InvalidInput("keep at least 2 releases so there is something to roll back to")
        self._s3 = clients.s3
        self._cf = clients.cloudfront
        self._bucket = bucket
        self._distribution = distribution_id
        self._origin_id = origin_id
        self._keep = keep
        self._reporter: Reporter = reporter or NullReporter()

    # ------------------------------------------------------------------ ledger
    def ledger(self) -> Ledger:
        try:
            with aws_call(f"read ledger of bucket {self._bucket}"):
                body = self._s3.get_object(Bucket=self._bucket, Key=LEDGER_KEY)["Body"].read()
        except NotFound:
            return Ledger()
        data = json.loads(body)
        return Ledger(live=data.get("live"), releases=list(data.get("releases", [])))

    def _write_ledger(self, ledger: Ledger) -> None:
        with aws_call(f"write ledger of bucket {self._bucket}"):
            self._s3.put_object(
                Bucket=self._bucket,
                Key=LEDGER_KEY,
                Body=json.dumps(ledger.to_json(), indent=1).encode(),
                ContentType="application/json",
                CacheControl="no-store",
            )

    # ----------------------------------------------------------------- publish
    def publish(
        self,
        *,
        source: Path,
        release: str,
        build_id: str,
        migration: Migration | None = None,
        request_id: str = "",
    ) -> str:
        validate_release_name(release)
        if not build_id or len(build_id) > 128:
            raise InvalidInput("build id must be 1-128 characters")
        files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else []
        if not files:
            raise InvalidInput(f"source {source} is not a directory with files in it")
        self._check_targets()
        ledger = self.ledger()
        if release in ledger.names() or self._prefix_has_objects(release):
            raise InvalidInput(f"release {release} already exists; releases are immutable")
        self._reporter.report("in_progress", f"web: uploading release {release} ({len(files)} files)")
        prefix = f"{RELEASES_PREFIX}{release}/"
        try:
            for path in files:
                key = path.relative_to(source).as_posix()
                self._put(prefix + key, path.read_bytes(), key)
            marker = {"release": release, "build_id": build_id, "created": int(time.time())}
            self._put(prefix + MARKER, json.dumps(marker).encode(), MARKER)
        except ReleaseError:
            self._delete_prefix(release)
            raise
        record = ReleaseRecord(
            release=release, previous=ledger.live, migration=migration, request_id=request_id
        )
        entry = record.to_json() | {"b": build_id}
        self._switch(release)
        ledger.releases.append(entry)
        ledger.live = release
        self._prune(ledger)
        self._write_ledger(ledger)
        self._invalidate(release)
        self._reporter.report("success", f"web: release {release} live (build {build_id[:40]})")
        return release

    def _put(self, key: str, body: bytes, name: str) -> None:
        with aws_call(f"upload {key}"):
            self._s3.put_object(
                Bucket=self._bucket,
                Key=key,
                Body=body,
                ContentType=content_type(name),
                CacheControl=cache_control(name),
            )

    def _check_targets(self) -> None:
        try:
            with aws_call(f"check bucket {self._bucket}"):
                self._s3.head_bucket(Bucket=self._bucket)
        except NotFound as exc:
            raise NotFound(f"bucket {self._bucket} does not exist") from exc
        self._distribution_config()

    def _prefix_has_objects(self, release: str) -> bool:
        with aws_call(f"list release {release}"):
            answer = self._s3.list_objects_v2(
                Bucket=self._bucket, Prefix=f"{RELEASES_PREFIX}{release}/", MaxKeys=1
            )
        return int(answer.get("KeyCount", 0)) > 0

    def _delete_prefix(self, release: str) -> None:
        prefix = f"{RELEASES_PREFIX}{release}/"
        with aws_call(f"delete release {release}"):
            paginator = self._s3.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix):
                keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                if keys:
                    self._s3.delete_objects(Bucket=self._bucket, Delete={"Objects": keys, "Quiet": True})

    def _prune(self, ledger: Ledger) -> None:
        protected = {ledger.live}
        live = ledger.record(ledger.live) if ledger.live else None
        if live is not None and live.previous:
            protected.add(live.previous)
        excess = len(ledger.releases) - self._keep
        for entry in list(ledger.releases):
            if excess <= 0:
                break
            name = str(entry["r"])
            if name in protected:
                continue
            self._delete_prefix(name)
            ledger.releases.remove(entry)
            excess -= 1
            log.info("pruned web release release=%s", name)

    # ------------------------------------------------------------- cloudfront
    def _distribution_config(self) -> tuple[dict[str, Any], str]:
        try:
            with aws_call(f"get distribution {self._distribution}"):
                answer = self._cf.get_distribution_config(Id=self._distribution)
        except NotFound as exc:
            raise NotFound(f"distribution {self._distribution} does not exist") from exc
        return dict(answer["DistributionConfig"]), str(answer["ETag"])

    def live_origin_path(self) -> str:
        config, _ = self._distribution_config()
        return str(self._origin(config).get("OriginPath", ""))

    def _origin(self, config: dict[str, Any]) -> dict[str, Any]:
        items: list[dict[str, Any]] = config["Origins"]["Items"]
        for origin in items:
            if self._origin_id is None and str(origin["DomainName"]).startswith(f"{self._bucket}."):
                return origin
            if origin["Id"] == self._origin_id:
                return origin
        raise NotFound(f"distribution {self._distribution} has no origin for bucket {self._bucket}")

    def _switch(self, release: str) -> None:
        config, etag = self._distribution_config()
        self._origin(config)["OriginPath"] = f"/{RELEASES_PREFIX}{release}"
        with aws_call(f"switch distribution {self._distribution} to {release}"):
            self._cf.update_distribution(Id=self._distribution, IfMatch=etag, DistributionConfig=config)

    def _invalidate(self, release: str) -> None:
        with aws_call(f"invalidate distribution {self._distribution}"):
            self._cf.create_invalidation(
                DistributionId=self._distribution,
                InvalidationBatch={
                    "Paths": {"Quantity": 1, "Items": ["/*"]},
                    "CallerReference": f"release-{release}-{time.time_ns()}",
                },
            )

    # ---------------------------------------------------------------- rollback
    def rollback(self, *, to: str | None = None, migration_runner: MigrationRunner | None = None) -> str:
        ledger = self.ledger()
        if ledger.live is None:
            raise NotFound(f"bucket {self._bucket} has no live release to roll back from")
        current = ledger.record(ledger.live)
        if to:
            validate_release_name(to)
        target = self.release_named(ledger, to) if to else (current.previous if current else None)
        if not target:
            raise ReleaseError(f"release {ledger.live} has no recorded previous release; name one")
        if target not in ledger.names():
            raise NotFound(f"release {target} is not among the kept releases ({', '.join(ledger.names())})")
        self._distribution_config()
        chain = self._chain(ledger, ledger.live, target)
        self._reporter.report("in_progress", f"web: rolling back {ledger.live} -> {target}")
        try:
            undo_migrations(chain, migration_runner, before=ledger.record(target))
        except MigrationFailed as exc:
            self._reporter.report("failure", f"web: rollback stopped: {exc}")
            raise
        previous_live = ledger.live
        self._switch(target)
        ledger.live = target
        self._write_ledger(ledger)
        self._invalidate(target)
        self._reporter.report("success", f"web: rolled back from {previous_live} to {target}")
        return target

    @staticmethod
    def release_named(ledger: Ledger, version: str) -> str:
        """The kept release a version names: itself, else the newest ``<version>-run<id>.<attempt>`` (web-ci.yml
        names its releases that way), else ``version`` unchanged (reported as not kept)."""
        names = ledger.names()
        if version in names:
            return version
        key = release_key(version)
        exact = [n for n in names if release_key(n) == key]
        runs = exact or [n for n in names if release_key(n).startswith(f"{key}-run")]
        return runs[-1] if runs else version

    @staticmethod
    def _chain(ledger: Ledger, current: str, target: str) -> list[ReleaseRecord]:
        chain: list[ReleaseRecord] = []
        name: str | None = current
        seen: set[str] = set()
        while name is not None and name != target and name not in seen:
            seen.add(name)
            record = ledger.record(name)
            if record is None:
                break
            chain.append(record)
            name = record.previous
        if name != target and any(r.migration for r in chain):
            raise MigrationFailed(
                f"release {target} is not an ancestor of {current}; cannot tell which migrations to undo; "
                "traffic left unchanged"
            )
        return chain


def verify_build_id(url: str, build_id: str, *, attempts: int = 5, interval: float = 5.0) -> None:
    """Fetch ``<url>/_release.json`` from the deployed site and compare its build id."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InvalidInput(f"site url {url!r} must be an absolute http(s) URL")
    target = url.rstrip("/") + "/" + MARKER
    seen = ""
    for attempt in range(1, attempts + 1):
        try:
            request = urllib.request.Request(target, headers={"Cache-Control": "no-cache"})  # noqa: S310
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (scheme checked)
                seen = str(json.loads(response.read()).get("build_id", ""))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            seen = f"<{type(exc).__name__}>"
        if seen == build_id:
            return
        log.info("site build id mismatch attempt=%d seen=%s", attempt, seen)
        if attempt < attempts:
            time.sleep(interval)
    raise ReleaseError(f"site {url} serves build {seen!r}, expected {build_id!r}")
