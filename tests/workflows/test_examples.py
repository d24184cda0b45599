"""The shipped examples run for real: the Next.js site's Jest + React Testing Library tests (what web-ci.yml runs
before the build) and the test-report script on the JUnit file jest-junit writes."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.cache import cache_dir

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "examples" / "web"
REPORT = ROOT / "workflows" / "actions" / "test-report" / "report.py"


def _npm() -> str:
    npm = shutil.which("npm")
    if npm is None:
        if os.environ.get("CI"):
            pytest.fail("npm is needed for the example web app's tests")
        pytest.skip("example web app tests NOT run: npm is not installed")
    return npm


def _cached_install(npm: str) -> Path:
    """`npm ci` of the example's package.json and lockfile, made once per change of either (or of node) in a cache
    outside the repository, as the debootstrap base is: a fresh clone reuses it (395 MB, 23 s of `npm ci` each time
    before). Built in a scratch directory and renamed into place, so a run that dies half-way leaves nothing used."""
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    key = hashlib.sha256(b"".join((WEB / f).read_bytes() for f in ("package.json", "package-lock.json"))
                         + node.encode()).hexdigest()[:16]
    cache = cache_dir() / f"web-node_modules-{key}"
    if not (cache / "node_modules" / ".package-lock.json").is_file():
        scratch = cache.with_name(f"{cache.name}.tmp-{os.getpid()}")
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(WEB / name, scratch / name)
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=scratch, capture_output=True, text=True,
                              timeout=600)  # exactly as the workflow installs
        assert done.returncode == 0, done.stderr[-2000:]
        if not cache.exists():
            scratch.rename(cache)
        shutil.rmtree(scratch, ignore_errors=True)
    return cache / "node_modules"


@pytest.fixture(scope="module")
def jest_run() -> subprocess.CompletedProcess[str]:
    npm = _npm()
    cached, modules = _cached_install(npm), WEB / "node_modules"
    if modules.is_symlink() or modules.is_file():
        modules.unlink()
    shutil.rmtree(modules, ignore_errors=True)  # whatever was there, from whichever lockfile
    # hard links (0.7 s; one file system) or else a copy: jest and node see an ordinary node_modules
    if subprocess.run(["cp", "-al", str(cached), str(modules)], check=False, capture_output=True).returncode:
        shutil.rmtree(modules, ignore_errors=True)
        shutil.copytree(cached, modules, symlinks=True)
    shutil.rmtree(WEB / "reports", ignore_errors=True)
    return subprocess.run([npm, "test"], cwd=WEB, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "CI": "true"})


def test_the_example_component_tests_pass_with_coverage_and_junit(jest_run: subprocess.CompletedProcess[str]) -> None:
    assert jest_run.returncode == 0, jest_run.stdout[-3000:] + jest_run.stderr[-3000:]
    junit = (WEB / "reports" / "junit.xml").read_text()
    assert junit.count("<testcase") == 4 and "<failure" not in junit
    assert (WEB / "reports" / "coverage" / "lcov.info").is_file()


def test_the_coverage_threshold_lives_in_the_jest_config() -> None:
    config = (WEB / "jest.config.js").read_text()
    assert re.search(r"coverageThreshold:\s*\{\s*global:\s*\{[^}]*lines:\s*80", config)
    assert '"test": "jest --ci --coverage"' in (WEB / "package.json").read_text()


def test_pinned_exactly_with_a_lockfile() -> None:
    import json

    package = json.loads((WEB / "package.json").read_text())
    versions = {**package.get("dependencies", {}), **package.get("devDependencies", {})}
    assert versions and all(re.fullmatch(r"\d+\.\d+\.\d+", v) for v in versions.values()), versions
    assert (WEB / "package-lock.json").is_file()


def test_report_script_reads_jest_junit(jest_run: subprocess.CompletedProcess[str]) -> None:
    done = subprocess.run([sys.executable, str(REPORT), "web component tests", str(WEB / "reports" / "junit.xml")],
                          capture_output=True, text=True)
    md = re.sub(r"\| [0-9.]+ s \|", "| T s |", done.stdout)
    assert md.splitlines()[:5] == [
        "### ✅ web component tests",
        "",
        "| tests | passed | failed | errors | skipped | time |",
        "|---:|---:|---:|---:|---:|---:|",
        "| 4 | 4 | 0 | 0 | 0 | T s |",
    ]
