"""Release records: what a release was, where it came from, what it migrated.

A Lambda release record lives in the published version's ``Description``
(at most 256 characters, written once when the version is published, so it is
immutable like the version itself).  A web release record lives in the
bucket's ledger (see :mod:`.web`).  Both use the same shape.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .errors import InvalidInput

__all__ = ["MAX_DESCRIPTION", "Migration", "ReleaseRecord", "release_key", "validate_release_name"]

MAX_DESCRIPTION = 256
_RELEASE_NAME = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._+-]{0,63}$")
_REVISION = re.compile(r"^[0-9A-Za-z._:-]{1,40}$")


_TAG_VERSION = re.compile(r"^v(?=[0-9]+\.[0-9]+\.[0-9]+)")


def release_key(name: str) -> str:
    """What makes two release names the same release: the workflows name releases by the semantic version
    (``1.4.1``, from ``version``), people by the git tag (``v1.4.1``, in ``/rollback api production to v1.4.1``)."""
    return _TAG_VERSION.sub("", name)


def validate_release_name(name: str) -> str:
    """Release names become S3 prefixes and descriptions: keep them boring."""
    if not _RELEASE_NAME.fullmatch(name):
        raise InvalidInput(
            f"release name {name!r} must be 1-64 characters of letters, digits, '.', '_', '+', '-'"
        )
    return name


@dataclass(frozen=True, slots=True)
class Migration:
    """A database migration a release applied: schema ``down`` -> ``up``."""

    up: str
    down: str

    def __post_init__(self) -> None:
        for label, value in (("up", self.up), ("down", self.down)):
            if not _REVISION.fullmatch(value):
                raise InvalidInput(f"migration {label} revision {value!r} is malformed")


@dataclass(frozen=True, slots=True)
class ReleaseRecord:
    """One release: its name, the release it replaced, and its migration, if any."""

    release: str
    previous: str | None = None
    migration: Migration | None = None
    request_id: str = ""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"r": self.release}
        if self.previous is not None:
            data["p"] = self.previous
        if self.migration is not None:
            data["mu"] = self.migration.up
            data["md"] = self.migration.down
        if self.request_id:
            data["q"] = self.request_id
        return data

    def encode(self) -> str:
        text = json.dumps(self.to_json(), separators=(",", ":"), sort_keys=True)
        if len(text) > MAX_DESCRIPTION:
            raise InvalidInput(f"release record is {len(text)} characters; the limit is {MAX_DESCRIPTION}")
        return text

    @classmethod
    def from_json(cls, data: object) -> ReleaseRecord | None:
        """Decode a record; ``None`` for anything that is not one of ours."""
        if not isinstance(data, dict):
            return None
        release = data.get("r")
        if not isinstance(release, str):
            return None
        previous = data.get("p")
        up, down = data.get("mu"), data.get("md")
        migration = Migration(up=up, down=down) if isinstance(up, str) and isinstance(down, str) else None
        request_id = data.get("q")
        return cls(
            release=release,
            previous=previous if isinstance(previous, str) else None,
            migration=migration,
            request_id=request_id if isinstance(request_id, str) else "",
        )

    @classmethod
    def decode(cls, text: str) -> ReleaseRecord | None:
        try:
            return cls.from_json(json.loads(text)) if text else None
        except (ValueError, InvalidInput):
            return None
