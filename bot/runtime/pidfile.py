"""The pid file that ``python -m bot reload`` reads (``CHATOPS_PID_FILE``).

Written safely (issue 22 item 8):

- only in a directory owned by the bot's user and writable by nobody else (checked on the opened directory, so
  what is checked is where the file is created); the default is ``$XDG_RUNTIME_DIR`` or a private
  ``chatops-bot-<uid>`` directory under the system's temporary directory, created with mode 0700;
- created with ``O_CREAT|O_EXCL|O_NOFOLLOW``: a symbolic link at the path is never written through; a file left
  by a bot that died without cleaning up (SIGKILL) is replaced only when its pid is not a running bot;
- removed on exit only while it still holds this process's pid.

Read with ``O_NOFOLLOW``, and :func:`is_this_bot` checks the process's command line before anyone signals it:
a recycled pid that now belongs to another program is never signalled.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

log = logging.getLogger(__name__)
ENV_PID_FILE = "CHATOPS_PID_FILE"
NAME = "chatops-bot.pid"


class PidFileError(Exception):
    """The pid file cannot be written or read safely; the message says why."""


def default_pid_file(env: Mapping[str, str]) -> Path:
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / NAME
    return Path(tempfile.gettempdir()) / f"chatops-bot-{os.geteuid()}" / NAME


def pid_file(env: Mapping[str, str]) -> Path:
    return Path(env.get(ENV_PID_FILE) or default_pid_file(env))


def _open_private_dir(path: Path, *, create: bool) -> int:
    """A descriptor of ``path`` after checking it is a directory of this user that nobody else may write."""
    if create:
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise PidFileError(f"cannot open the directory {path} ({exc.strerror})") from exc
    st = os.fstat(fd)
    if st.st_uid != os.geteuid() or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        os.close(fd)
        raise PidFileError(f"{path} must be a directory owned by uid {os.geteuid()} that only it may write "
                           f"(owner uid {st.st_uid}, mode {stat.S_IMODE(st.st_mode):o})")
    return fd


def _read(dir_fd: int, name: str) -> int | None:
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dir_fd)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        text = fh.read(64).decode("ascii", errors="replace").strip()
    return int(text) if text.isdigit() else None


class PidFile:
    """This process's pid file, held open by its directory until :meth:`remove`."""

    def __init__(self, path: Path, dir_fd: int) -> None:
        self.path = path
        self._dir_fd = dir_fd

    @classmethod
    def create(cls, path: Path, *, default: bool) -> PidFile:
        dir_fd = _open_private_dir(path.parent, create=default)
        try:
            cls._create_in(dir_fd, path)
        except BaseException:
            os.close(dir_fd)
            raise
        return cls(path, dir_fd)

    @staticmethod
    def _create_in(dir_fd: int, path: Path) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        for _attempt in range(2):
            try:
                fd = os.open(path.name, flags, 0o644, dir_fd=dir_fd)
            except FileExistsError:
                holder = _read(dir_fd, path.name)
                if holder is not None and holder != os.getpid() and is_this_bot(holder):
                    raise PidFileError(f"{path} names a running bot (pid {holder})") from None
                os.unlink(path.name, dir_fd=dir_fd)  # stale (a bot killed without clean-up), or not a pid at all
                log.warning("replaced a stale pid file %s (pid %s is not a running bot)", path, holder)
                continue
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(f"{os.getpid()}\n")
            return
        raise PidFileError(f"{path} keeps being re-created by someone else")

    def remove(self) -> None:
        try:
            if _read(self._dir_fd, self.path.name) == os.getpid():
                with contextlib.suppress(OSError):
                    os.unlink(self.path.name, dir_fd=self._dir_fd)
        finally:
            os.close(self._dir_fd)


def write_pid_file(env: Mapping[str, str]) -> PidFile | None:
    """Create this process's pid file; a problem is logged (``reload`` will not find us) and serving goes on."""
    path = pid_file(env)
    try:
        return PidFile.create(path, default=not env.get(ENV_PID_FILE))
    except (PidFileError, OSError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        log.warning("not writing the pid file %s: %s (`python -m bot reload` will not find this process; "
                    "kill -HUP still reloads)", path, reason)
        return None


def read_pid(path: Path) -> int:
    """The pid recorded in ``path`` (never through a symbolic link)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise PidFileError(f"{path} missing or unreadable ({exc.strerror})") from exc
    with os.fdopen(fd, "rb") as fh:
        text = fh.read(64).decode("ascii", errors="replace").strip()
    if not text.isdigit():
        raise PidFileError(f"{path} does not hold a pid")
    return int(text)


def is_bot_command_line(argv: Sequence[str]) -> bool:
    """``python -m bot serve ...`` or ``chatops-bot serve ...`` (the console script, possibly run by python)."""
    for i, arg in enumerate(argv):
        if arg != "serve":
            continue
        before = list(argv[:i])
        if before[-2:] == ["-m", "bot"] or (before and Path(before[-1]).name == "chatops-bot"):
            return True
    return False


def is_this_bot(pid: int) -> bool:
    """True when ``pid`` runs the bot's ``serve`` (from ``/proc/<pid>/cmdline``); unknown means no."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return is_bot_command_line([part.decode(errors="replace") for part in raw.split(b"\0") if part])
