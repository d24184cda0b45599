"""Semantic version of a build from ``git describe`` output.

A commit tagged ``v1.4.0`` builds ``1.4.0``; an untagged commit three commits
after it builds the pre-release ``1.4.1-dev.3.g<sha>`` (valid semver and a
valid container tag); with no tag at all, ``0.0.0-dev.<n>.g<sha>``.
"""

from __future__ import annotations

import re
import subprocess

from .errors import InvalidInput, ReleaseError

__all__ = ["git_describe", "version_from_describe"]

_DESCRIBE = re.compile(
    r"^v?(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<pre>[0-9A-Za-z.-]+?))?-(?P<distance>\d+)-g(?P<sha>[0-9a-f]{4,40})$"
)
_BARE_SHA = re.compile(r"^[0-9a-f]{4,40}$")


def version_from_describe(describe: str, *, commit_count: int = 0) -> str:
    """Map ``git describe --tags --long --match 'v*'`` output (or a bare sha) to a version."""
    text = describe.strip()
    if _BARE_SHA.fullmatch(text):
        return f"0.0.0-dev.{commit_count}.g{text[:12]}"
    match = _DESCRIBE.fullmatch(text)
    if match is None:
        raise InvalidInput(f"cannot read a semantic version from {text!r}; tags must look like v1.2.3")
    major, minor, patch = int(match["major"]), int(match["minor"]), int(match["patch"])
    distance, sha, pre = int(match["distance"]), match["sha"][:12], match["pre"]
    if distance == 0:
        return f"{major}.{minor}.{patch}" + (f"-{pre}" if pre else "")
    if pre:
        return f"{major}.{minor}.{patch}-{pre}.dev.{distance}.g{sha}"
    return f"{major}.{minor}.{patch + 1}-dev.{distance}.g{sha}"


def git_describe(repo: str = ".") -> str:
    """Version of ``HEAD`` in ``repo`` (needs full history: checkout with fetch-depth 0)."""
    try:
        describe = subprocess.run(  # noqa: S603 (fixed argv)
            ["git", "-C", repo, "describe", "--tags", "--long", "--match", "v[0-9]*", "--always"],  # noqa: S607
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        count = subprocess.run(  # noqa: S603 (fixed argv)
            ["git", "-C", repo, "rev-list", "--count", "HEAD"],  # noqa: S607
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise ReleaseError(f"git describe failed in {repo}: {type(exc).__name__}") from exc
    return version_from_describe(describe, commit_count=int(count.strip() or 0))
