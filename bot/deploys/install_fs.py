"""install-workflows' writes, which never leave the checkout: a symbolic link anywhere under the destination is
refused, and each file is written through directory descriptors opened with ``O_NOFOLLOW`` (a link swapped in after
the check fails instead of being followed), then renamed into place."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def current_bytes(path: Path) -> bytes | None:
    return path.read_bytes() if path.exists() else None


def first_symlink(dest: Path, rel: str) -> str | None:
    """The first path under ``dest`` on the way to ``rel`` (``rel`` included) that is a symbolic link, or None.

    A link anywhere under the destination could point out of the checkout (``.github/actions -> /etc``); the
    installer refuses it rather than writing through it or replacing it (docs/workflows.md)."""
    current = dest
    for part in Path(rel).parts:
        current = current / part
        if current.is_symlink():
            return current.relative_to(dest).as_posix()
        if not current.exists():
            return None
    return None


def cannot_be_file(dest: Path, rel: str) -> bool:
    """True when ``rel`` cannot become a regular file: it is a directory, or a parent is not a directory."""
    target = dest / rel
    if target.is_dir() and not target.is_symlink():
        return True
    parent = target.parent
    while parent != dest:
        if parent.exists() and not parent.is_dir():
            return True
        parent = parent.parent
    return False


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def _open_parent(dest: Path, rel: str) -> int:
    """A descriptor of ``rel``'s directory, created as needed, reached one component at a time with
    ``O_NOFOLLOW``: a link swapped in after the check fails here (ELOOP/ENOTDIR) instead of being followed."""
    fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in Path(rel).parts[:-1]:
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o755, dir_fd=fd)
            child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_inside(dest: Path, rel: str, content: bytes) -> None:
    name = Path(rel).name
    tmp = f".{name}.{secrets.token_hex(6)}.tmp"
    parent = _open_parent(dest, rel)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
            os.replace(tmp, name, src_dir_fd=parent, dst_dir_fd=parent)  # a link at ``name`` is replaced, not followed
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=parent)
            raise
    finally:
        os.close(parent)
