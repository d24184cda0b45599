"""A real Docker engine for the image tests, set up the way this machine allows.

No image can be pulled here, so the base is made from Debian's packages (debootstrap) and imported, with one
more layer carrying the host's CA bundle (the package index is reached through a TLS proxy the host trusts).
If no engine answers, one is installed (apt-get, as root) and started for this session, then stopped by its
pid. Where that is impossible the tests skip with a visible notice, except when CI is set: then they fail.
Containers run with ``--network host`` or ``--network none`` only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BASE = "chatops-test/base:bookworm"
RAW_BASE = "chatops-test/base-raw:bookworm"
IMAGE = "chatops-bot:test"
PACKAGES = {"dockerd": "docker.io", "debootstrap": "debootstrap", "docker-compose": "docker-compose"}
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"container tests cannot run: {reason}")
    pytest.skip(f"container tests NOT run: {reason}")


def run(*cmd: str, check: bool = True, timeout: float = 600, **kw: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, **kw)  # type: ignore[call-overload]
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} -> {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done  # type: ignore[no-any-return]


def _engine_answers() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


def _install_missing() -> None:
    missing = [pkg for binary, pkg in PACKAGES.items() if not shutil.which(binary)]
    if not missing:
        return
    if os.geteuid() != 0:
        _unavailable(f"{', '.join(missing)} not installed and not root to apt-get them")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(["apt-get", "install", "-y", "-qq", *missing], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, env=env)
        done = subprocess.run(["apt-get", "install", "-y", "-qq", *missing], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        _unavailable(f"apt-get install {' '.join(missing)} failed: {done.stderr[-500:]}")


@pytest.fixture(scope="session")
def docker_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    if _engine_answers():
        yield
        return
    _install_missing()
    if os.geteuid() != 0:
        _unavailable("no Docker engine answers and starting one needs root")
    state = tmp_path_factory.mktemp("dockerd")
    log = (state / "dockerd.log").open("w")
    proc = subprocess.Popen(["dockerd", "--host", "unix:///var/run/docker.sock"], stdout=log, stderr=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _engine_answers():
        if proc.poll() is not None:
            _unavailable(f"dockerd exited {proc.returncode}: {(state / 'dockerd.log').read_text()[-800:]}")
        time.sleep(0.5)
    if not _engine_answers():
        proc.terminate()
        _unavailable("dockerd did not answer within 60 s")
    try:
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _debian_mirror() -> str:
    for source in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        if not source.is_file():
            continue
        for line in source.read_text().splitlines():
            line = line.strip()
            if line.startswith("URIs:") and "security" not in line:
                return line.split()[1]
            if line.startswith("deb ") and "security" not in line:
                return next(p for p in line.split()[1:] if "://" in p)
    return "http://deb.debian.org/debian"


def _image_exists(name: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", name], capture_output=True).returncode == 0


@pytest.fixture(scope="session")
def base_image(docker_engine: None) -> str:
    """Debian bookworm with python3 + venv, from this machine's mirror, trusting the host's CAs."""
    if _image_exists(BASE):
        return BASE
    if not _image_exists(RAW_BASE):
        if not shutil.which("debootstrap"):
            _install_missing()
        with tempfile.TemporaryDirectory(prefix="chatops-rootfs-") as rootfs:
            run("debootstrap", "--variant=minbase", "--include=python3,python3-venv,ca-certificates",
                "bookworm", rootfs, _debian_mirror(), timeout=900)
            tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
            run("docker", "import", "-", RAW_BASE, stdin=tar.stdout)
            tar.wait()
    with tempfile.TemporaryDirectory(prefix="chatops-base-") as ctx:
        shutil.copy(HOST_CA, Path(ctx) / "ca-certificates.crt")
        (Path(ctx) / "Dockerfile").write_text(
            f"FROM {RAW_BASE}\nCOPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt\n")
        run("docker", "build", "-q", "--network", "host", "-t", BASE, ctx)
    return BASE


@pytest.fixture(scope="session")
def bot_image(base_image: str) -> str:
    """The repository's own Dockerfile, built as a user would, on the local base."""
    run("docker", "build", "--network", "host", "--build-arg", f"BASE_IMAGE={base_image}", "-t", IMAGE, str(ROOT),
        timeout=1200)
    return IMAGE
