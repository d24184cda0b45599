from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from bot.actions.release import (
    AwsClients,
    CommandMigrationRunner,
    InvalidInput,
    Migration,
    MigrationFailed,
    NotFound,
    ReleaseError,
    WebReleaser,
    verify_build_id,
)
from bot.actions.release.content import CACHE_HTML, CACHE_IMMUTABLE
from bot.actions.release.web import LEDGER_KEY


def build(tmp_path: Path, build_id: str) -> Path:
    out = tmp_path / build_id
    (out / "_next" / "static" / "chunks").mkdir(parents=True)
    (out / "index.html").write_text(f"<html>{build_id}</html>")
    (out / "about").mkdir()
    (out / "about" / "index.html").write_text("<html>about</html>")
    (out / "_next" / "static" / "chunks" / "main-0a1b2c3d4e5f.js").write_text("console.log(1)")
    (out / "favicon.ico").write_bytes(b"\x00\x00")
    return out


def origin_path(clients: AwsClients, distribution: str) -> str:
    config = clients.cloudfront.get_distribution_config(Id=distribution)["DistributionConfig"]
    return str(config["Origins"]["Items"][0]["OriginPath"])


def live(clients: AwsClients, bucket: str) -> str:
    return str(json.loads(clients.s3.get_object(Bucket=bucket, Key=LEDGER_KEY)["Body"].read())["live"])


def invalidations(clients: AwsClients, distribution: str) -> int:
    listed = clients.cloudfront.list_invalidations(DistributionId=distribution)["InvalidationList"]
    return len(listed.get("Items", []))


def test_release_release_rollback_points_at_first(
    clients: AwsClients, site: dict[str, str], tmp_path: Path, moto_endpoint: str
) -> None:
    web = WebReleaser(clients, bucket=site["bucket"], distribution_id=site["distribution"])
    web.publish(source=build(tmp_path, "build-one"), release="r1", build_id="build-one")
    assert origin_path(clients, site["distribution"]) == "/releases/r1"
    web.publish(source=build(tmp_path, "build-two"), release="r2", build_id="build-two")
    assert origin_path(clients, site["distribution"]) == "/releases/r2"
    assert live(clients, site["bucket"]) == "r2"

    assert web.rollback() == "r1"
    assert origin_path(clients, site["distribution"]) == "/releases/r1"
    assert live(clients, site["bucket"]) == "r1"
    assert invalidations(clients, site["distribution"]) == 3
    # the first release's files are intact and still served from its prefix
    body = clients.s3.get_object(Bucket=site["bucket"], Key="releases/r1/index.html")["Body"].read()
    assert body == b"<html>build-one</html>"
    # CloudFront reads the bucket through its origin access; an anonymous GET stands in for it here
    clients.s3.put_object_acl(Bucket=site["bucket"], Key="releases/r1/_release.json", ACL="public-read")
    verify_build_id(f"{moto_endpoint}/{site['bucket']}/releases/r1", "build-one", attempts=1)
    with pytest.raises(ReleaseError, match="expected 'build-two'"):
        verify_build_id(f"{moto_endpoint}/{site['bucket']}/releases/r1", "build-two", attempts=1)


def test_content_types_and_cache_headers(clients: AwsClients, site: dict[str, str], tmp_path: Path) -> None:
    web = WebReleaser(clients, bucket=site["bucket"], distribution_id=site["distribution"])
    web.publish(source=build(tmp_path, "b1"), release="1.0.0", build_id="b1")
    head = clients.s3.head_object
    html = head(Bucket=site["bucket"], Key="releases/1.0.0/about/index.html")
    assert html["ContentType"].startswith("text/html") and html["CacheControl"] == CACHE_HTML
    js = head(Bucket=site["bucket"], Key="releases/1.0.0/_next/static/chunks/main-0a1b2c3d4e5f.js")
    assert js["ContentType"].startswith("application/javascript") and js["CacheControl"] == CACHE_IMMUTABLE
    assert head(Bucket=site["bucket"], Key="releases/1.0.0/favicon.ico")["ContentType"] == "image/x-icon"


def test_releases_are_immutable_and_pruned(clients: AwsClients, site: dict[str, str], tmp_path: Path) -> None:
    web = WebReleaser(clients, bucket=site["bucket"], distribution_id=site["distribution"], keep=2)
    for name in ("r1", "r2", "r3"):
        web.publish(source=build(tmp_path, f"b-{name}"), release=name, build_id=f"b-{name}")
    assert web.ledger().names() == ["r2", "r3"]
    listed = clients.s3.list_objects_v2(Bucket=site["bucket"], Prefix="releases/r1/")
    assert listed["KeyCount"] == 0
    with pytest.raises(InvalidInput, match="immutable"):
        web.publish(source=build(tmp_path, "again"), release="r3", build_id="again")
    with pytest.raises(NotFound, match="r1"):
        web.rollback(to="r1")
    assert origin_path(clients, site["distribution"]) == "/releases/r3"


def test_bad_web_inputs_change_nothing(clients: AwsClients, site: dict[str, str], tmp_path: Path) -> None:
    good = WebReleaser(clients, bucket=site["bucket"], distribution_id=site["distribution"])
    with pytest.raises(NotFound, match="distribution"):
        WebReleaser(clients, bucket=site["bucket"], distribution_id="E0000000000").publish(
            source=build(tmp_path, "x"), release="r1", build_id="x"
        )
    with pytest.raises(NotFound, match="bucket"):
        WebReleaser(clients, bucket="no-such-bucket-here", distribution_id=site["distribution"]).publish(
            source=build(tmp_path, "y"), release="r1", build_id="y"
        )
    with pytest.raises(InvalidInput):
        good.publish(source=tmp_path / "missing", release="r1", build_id="z")
    with pytest.raises(InvalidInput):
        good.publish(source=build(tmp_path, "w"), release="../r1", build_id="w")
    with pytest.raises(NotFound, match="no live release"):
        good.rollback()
    assert clients.s3.list_objects_v2(Bucket=site["bucket"])["KeyCount"] == 0
    assert origin_path(clients, site["distribution"]) == ""


def test_web_rollback_with_failing_down_migration(
    clients: AwsClients, site: dict[str, str], tmp_path: Path
) -> None:
    web = WebReleaser(clients, bucket=site["bucket"], distribution_id=site["distribution"])
    web.publish(source=build(tmp_path, "m1"), release="r1", build_id="m1")
    web.publish(
        source=build(tmp_path, "m2"), release="r2", build_id="m2", migration=Migration(up="7", down="6")
    )
    with pytest.raises(MigrationFailed, match="traffic left unchanged"):
        web.rollback(migration_runner=CommandMigrationRunner(f'"{sys.executable}" -c "raise SystemExit(1)"'))
    assert origin_path(clients, site["distribution"]) == "/releases/r2"
    assert live(clients, site["bucket"]) == "r2"
