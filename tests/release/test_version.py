from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bot.actions.release import InvalidInput
from bot.actions.release.content import CACHE_HTML, CACHE_IMMUTABLE, CACHE_OTHER, cache_control, content_type
from bot.actions.release.version import git_describe, version_from_describe


@pytest.mark.parametrize(
    ("describe", "version"),
    [
        ("v1.4.0-0-gabcdef123456", "1.4.0"),
        ("v1.4.0-3-gabcdef123456", "1.4.1-dev.3.gabcdef123456"),
        ("v2.0.0-rc.1-0-gabcdef1", "2.0.0-rc.1"),
        ("v2.0.0-rc.1-2-gabcdef1", "2.0.0-rc.1.dev.2.gabcdef1"),
        ("abcdef123456", "0.0.0-dev.0.gabcdef123456"),
    ],
)
def test_version_from_describe(describe: str, version: str) -> None:
    assert version_from_describe(describe) == version


def test_bad_tag_is_rejected() -> None:
    with pytest.raises(InvalidInput):
        version_from_describe("release-7-3-gabc1234")


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_git_describe_on_a_real_repository(tmp_path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    git("-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "--allow-empty", "-m", "one")
    assert git_describe(str(tmp_path)).startswith("0.0.0-dev.1.g")
    git("tag", "v1.2.3")
    assert git_describe(str(tmp_path)) == "1.2.3"
    git("-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "--allow-empty", "-m", "two")
    assert git_describe(str(tmp_path)).startswith("1.2.4-dev.1.g")


@pytest.mark.parametrize(
    ("key", "cache", "ctype"),
    [
        ("index.html", CACHE_HTML, "text/html; charset=utf-8"),
        ("docs/intro", CACHE_HTML, "application/octet-stream"),
        ("_next/static/abc/_buildManifest.js", CACHE_IMMUTABLE, "application/javascript; charset=utf-8"),
        ("assets/app.3f2a9c1d.css", CACHE_IMMUTABLE, "text/css; charset=utf-8"),
        ("robots.txt", CACHE_OTHER, "text/plain; charset=utf-8"),
        ("logo.svg", CACHE_OTHER, "image/svg+xml"),
    ],
)
def test_content_headers(key: str, cache: str, ctype: str) -> None:
    assert cache_control(key) == cache
    assert content_type(key) == ctype
