"""Issue 11 defect 7: ``/rollback api production to v1.4.1`` reaches the engine as a release name. The engine maps it
to what to roll back to (the newest Lambda version whose release record names it; the newest web release named
``<version>`` or ``<version>-run<id>.<attempt>``), against moto's server, through the CLI the workflows call."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.actions.release import AwsClients, LambdaReleaser, ShiftPlan
from bot.actions.release.cli import main

from .conftest import digest_uri
from .test_web import build

FAST = ShiftPlan(steps=(100,), bake_seconds=0)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main(list(argv))
    out = capsys.readouterr().out.strip().splitlines()
    return code, json.loads(out[-1])


def alias_version(clients: AwsClients, function: str) -> str:
    return str(clients.lambda_.get_alias(FunctionName=function, Name="live")["FunctionVersion"])


def release(clients: AwsClients, function: str, name: str, image: str) -> None:
    LambdaReleaser(clients.lambda_, sleep=lambda _: None).deploy(
        function=function, alias="live", image_uri=digest_uri(image), release=name, plan=FAST,
        health=lambda _: None)  # fmt: skip


def test_lambda_rollback_to_a_release_name(
    aws_env: str, clients: AwsClients, live_function: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    name = live_function["name"]  # version 1 = release 1.0.0
    for rel, image in (("v1.4.1", "b"), ("v1.4.2", "c"), ("v1.4.1", "d"), ("v1.4.3", "e")):
        release(clients, name, rel, image)  # versions 2..5; v1.4.1 was published twice (2 and 4)
    assert alias_version(clients, name) == "5"
    code, out = run(capsys, "lambda-rollback", "--function", name, "--target-version", "v1.4.1")
    assert code == 0, out
    assert out["to"] == "4" and out["release"] == "v1.4.1" and out["from_version"] == "5"
    assert alias_version(clients, name) == "4"

    code, out = run(capsys, "lambda-rollback", "--function", name, "--target-version", "3")  # a number: a version
    assert code == 0 and out["to"] == "3" and out["release"] == "v1.4.2"
    assert alias_version(clients, name) == "3"


def test_lambda_rollback_to_an_unknown_release_exits_3_and_changes_nothing(
    aws_env: str, clients: AwsClients, live_function: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    name = live_function["name"]
    release(clients, name, "v1.4.2", "b")
    code, out = run(capsys, "lambda-rollback", "--function", name, "--target-version", "v1.4.1")
    assert code == 3
    assert out["error"] == "NotFound" and "release v1.4.1" in out["message"] and name in out["message"]
    assert alias_version(clients, name) == "2"
    code, out = run(capsys, "lambda-rollback", "--function", name, "--target-version", "$LATEST")
    assert code == 2 and alias_version(clients, name) == "2"


def test_web_rollback_to_a_version_finds_its_run_named_release(
    aws_env: str, site: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    where = ("--bucket", site["bucket"], "--distribution-id", site["distribution"])
    for name in ("v1.4.1-run100.1", "v1.4.1-run104.2", "v1.4.2-run110.1"):  # web-ci.yml's release names
        src = build(tmp_path, name)
        (tmp_path / f"{name}.id").write_text(f"build-{name}\n")
        code, out = run(capsys, "web-publish", *where, "--source", str(src), "--release", name,
                        "--build-id-file", str(tmp_path / f"{name}.id"))
        assert code == 0, out
    code, out = run(capsys, "web-rollback", *where, "--to", "v1.4.1")
    assert code == 0, out
    assert out["release"] == "v1.4.1-run104.2" and out["requested"] == "v1.4.1"
    assert out["origin_path"] == "/releases/v1.4.1-run104.2"
    code, out = run(capsys, "web-rollback", *where, "--to", "v1.4.2-run110.1")  # an exact name still works
    assert code == 0 and out["release"] == "v1.4.2-run110.1"
    code, out = run(capsys, "web-rollback", *where, "--to", "v1.3.9")
    assert code == 3 and "v1.3.9" in out["message"]
    code, out = run(capsys, "web-status", *where)
    assert out["live"] == "v1.4.2-run110.1"


def test_a_tag_name_finds_the_release_the_workflow_named_by_its_version(
    aws_env: str, clients: AwsClients, live_function: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # the workflows name a release by `version` (git tag v1.4.1 -> "1.4.1"); people name it by the tag
    name = live_function["name"]
    for rel, image in (("1.4.1", "b"), ("1.4.2", "c")):
        release(clients, name, rel, image)
    code, out = run(capsys, "lambda-rollback", "--function", name, "--target-version", "v1.4.1")
    assert code == 0, out
    assert out["to"] == "2" and out["release"] == "1.4.1"
    code, out = run(capsys, "lambda-rollback", "--function", name, "--target-version", "v1.4")  # not a version
    assert code == 3 and alias_version(clients, name) == "2"
