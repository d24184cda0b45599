"""``chatops-bot install-workflows``: the layout it writes, how it refuses, and that the vendored engine runs alone."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

from bot.contract import ENGINE_DIR, ENGINE_MODULE, ENVIRONMENTS, JOB_KINDS, plan_role_variable
from bot.deploys.install import ALWAYS, SERVICES
from tests.contract.conftest import ROOT, git, run_install

WORKFLOWS_DIR = ROOT / "workflows"
ENGINE_SRC = ROOT / "bot" / "actions" / "release"


def expected_layout() -> dict[str, Path]:
    """Installed path -> source file, derived from the source tree alone (not from bot.deploys.install)."""
    layout = {f".github/workflows/{p.name}": p for p in WORKFLOWS_DIR.glob("*.yml")}
    layout |= {f".github/actions/{p.relative_to(WORKFLOWS_DIR / 'actions').as_posix()}": p
               for p in WORKFLOWS_DIR.glob("actions/*/**/*") if p.is_file() and p.suffix != ".pyc"}
    layout |= {
        ".github/zizmor.yml": WORKFLOWS_DIR / "config" / "zizmor.yml",
        ".github/lambda-functions.json": WORKFLOWS_DIR / "config" / "lambda-functions.json",
        ".github/release-services.json": WORKFLOWS_DIR / "config" / "release-services.json",
        f"{ENGINE_DIR}/requirements.txt": ENGINE_SRC / "requirements.txt",
    }
    layout |= {f"{ENGINE_DIR}/{ENGINE_MODULE}/{p.name}": p for p in ENGINE_SRC.glob("*.py")}
    return layout


def files_under(repo: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under .github (the whole installed tree)."""
    return {p.relative_to(repo).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((repo / ".github").rglob("*")) if p.is_file()}


def installed_workflows(repo: Path) -> set[str]:
    return {p.name for p in (repo / ".github" / "workflows").glob("*.yml")}


def test_layout_is_every_source_file_byte_identical(installed_repo: Path) -> None:
    layout = expected_layout()
    assert len([k for k in layout if k.startswith(".github/workflows/")]) >= 7
    assert set(files_under(installed_repo)) == set(layout)
    for dest, source in layout.items():
        assert (installed_repo / dest).read_bytes() == source.read_bytes(), dest


def test_every_file_directly_under_workflows_is_a_workflow() -> None:
    for path in WORKFLOWS_DIR.iterdir():
        if path.is_dir():
            continue
        assert path.suffix == ".yml", f"{path.name}: only workflows belong directly under workflows/"
        assert "jobs" in yaml.safe_load(path.read_text()), f"{path.name} is not a workflow (no jobs)"


def test_each_workflow_is_assigned_to_a_service_or_always_installed() -> None:
    assigned = set(ALWAYS) | {name for names in SERVICES.values() for name in names}
    assert {p.name for p in WORKFLOWS_DIR.glob("*.yml")} == assigned


def test_the_engine_imports_only_itself_boto3_and_the_standard_library(installed_repo: Path) -> None:
    allowed = set(sys.stdlib_module_names) | {"boto3", "botocore", "__future__"}
    for path in (installed_repo / ENGINE_DIR / ENGINE_MODULE).glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name}:{node.lineno} imports {name}"


def test_the_vendored_engine_runs_where_bot_is_not_importable(installed_repo: Path, tmp_path: Path) -> None:
    # -S: no site processing, so the editable install's finder for `bot` is not loaded; boto3 comes from the
    # environment's site-packages given explicitly, the engine from ENGINE_DIR. -P: the cwd is not on sys.path.
    site_dirs = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    env = {"PATH": os.environ.get("PATH", ""),
           "PYTHONPATH": os.pathsep.join([str(installed_repo / ENGINE_DIR), *sorted(site_dirs)])}
    probe = (
        "import importlib.util, runpy, sys\n"
        "assert importlib.util.find_spec('bot') is None, 'bot is importable'\n"
        "sys.argv = ['chatops_release', '--help']\n"
        "try:\n"
        "    runpy.run_module('chatops_release', run_name='__main__', alter_sys=True)\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
        "loaded = sorted(m for m in sys.modules if m == 'bot' or m.startswith('bot.'))\n"
        "assert not loaded, loaded\n"
        "print('engine at', importlib.util.find_spec('chatops_release').origin)\n"
    )
    done = subprocess.run([sys.executable, "-S", "-P", "-c", probe], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "lambda-deploy" in done.stdout
    assert f"engine at {installed_repo / ENGINE_DIR / ENGINE_MODULE}" in done.stdout
    # and the way the workflows call it
    done = subprocess.run([sys.executable, "-S", "-P", "-m", ENGINE_MODULE, "--help"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and "lambda-rollback" in done.stdout, done.stdout + done.stderr


def test_the_vendored_engine_versions_the_checkout(installed_repo: Path, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(installed_repo), str(clone))
    git(clone, "tag", "v1.4.0")
    env = {**os.environ, "PYTHONPATH": str(clone / ENGINE_DIR)}
    done = subprocess.run([sys.executable, "-P", "-m", ENGINE_MODULE, "version", "--repo", str(clone)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"version": "1.4.0"}


def test_it_prints_the_variables_to_set_and_the_checks(tmp_path: Path) -> None:
    done = run_install(tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for kind in JOB_KINDS.values():
        names = [plan_role_variable(e) for e in ENVIRONMENTS] if "<ENV>" in kind.variable else [kind.variable]
        for name in names:
            assert name in out, name
    for needle in ("docs/secrets-and-variables.md", "infra/examples/complete", "manage_github", "github-environments",
                   "zizmor --offline --config", "actionlint"):
        assert needle in out, needle


def test_rerun_is_idempotent(tmp_path: Path) -> None:
    assert run_install(tmp_path).returncode == 0
    before = files_under(tmp_path)
    again = run_install(tmp_path)
    assert again.returncode == 0, again.stderr
    assert "0 file(s) written" in again.stdout
    assert files_under(tmp_path) == before


def test_changed_files_are_refused_by_name_and_nothing_is_written(tmp_path: Path) -> None:
    assert run_install(tmp_path).returncode == 0
    workflow = tmp_path / ".github" / "workflows" / "rollback.yml"
    engine = tmp_path / ENGINE_DIR / ENGINE_MODULE / "cli.py"
    workflow.write_text("# mine\n")
    engine.write_text("# mine\n")
    removed = tmp_path / ".github" / "actions" / "retry" / "action.yml"
    removed.unlink()
    before = files_under(tmp_path)

    done = run_install(tmp_path)
    assert done.returncode == 1
    assert ".github/workflows/rollback.yml" in done.stderr
    assert f"{ENGINE_DIR}/{ENGINE_MODULE}/cli.py" in done.stderr
    assert "--force" in done.stderr and "Traceback" not in done.stderr
    assert ".github/actions/retry/action.yml" not in done.stderr  # missing is not a conflict...
    assert files_under(tmp_path) == before  # ...but it was not written either: nothing was

    forced = run_install(tmp_path, "--force")
    assert forced.returncode == 0, forced.stderr
    assert workflow.read_bytes() == (WORKFLOWS_DIR / "rollback.yml").read_bytes()
    assert engine.read_bytes() == (ENGINE_SRC / "cli.py").read_bytes()
    assert removed.read_bytes() == (WORKFLOWS_DIR / "actions" / "retry" / "action.yml").read_bytes()


def test_config_templates_are_the_users_data(tmp_path: Path) -> None:
    assert run_install(tmp_path).returncode == 0
    mine = tmp_path / ".github" / "lambda-functions.json"
    mine.write_text('[{"name": "billing"}]\n')
    done = run_install(tmp_path)
    assert done.returncode == 0, done.stderr
    assert "kept .github/lambda-functions.json" in done.stdout
    assert mine.read_text() == '[{"name": "billing"}]\n'
    assert run_install(tmp_path, "--force").returncode == 0
    assert mine.read_bytes() == (WORKFLOWS_DIR / "config" / "lambda-functions.json").read_bytes()


def test_a_symlinked_file_is_refused_even_with_force(tmp_path: Path) -> None:
    outside = tmp_path / "outside.yml"
    outside.write_text("outside\n")
    repo = tmp_path / "repo"
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "security.yml").symlink_to(outside)
    for args in ((), ("--force",)):
        refused = run_install(repo, *args)
        assert refused.returncode == 1, refused.stdout
        assert "symbolic link" in refused.stderr and ".github/workflows/security.yml" in refused.stderr
    assert outside.read_text() == "outside\n"
    assert sorted(p.name for p in (repo / ".github" / "workflows").iterdir()) == ["security.yml"]  # nothing written


@pytest.mark.parametrize("link", [".github", ".github/actions", ".github/chatops-release",
                                  ".github/actions/aws-oidc"])
def test_a_symlinked_directory_under_dest_is_refused(tmp_path: Path, link: str) -> None:
    """Issue 22 item 10: ``.github/actions -> elsewhere`` made the installer write outside the checkout."""
    outside = tmp_path / "outside"
    outside.mkdir()
    repo = tmp_path / "repo"
    (repo / link).parent.mkdir(parents=True, exist_ok=True)
    (repo / link).symlink_to(outside, target_is_directory=True)
    for args in ((), ("--force",)):
        refused = run_install(repo, *args)
        assert refused.returncode == 1, refused.stdout
        assert "symbolic link" in refused.stderr and link in refused.stderr and "Traceback" not in refused.stderr
    assert list(outside.iterdir()) == []
    assert [p for p in repo.rglob("*") if p.is_file()] == []


@pytest.mark.parametrize(("services", "workflows"), [
    ("web", {"web-ci.yml"}),
    ("api,infra", {"api-ci.yml", "lambda-release.yml", "infra-ci.yml"}),
    ("worker", {"build-and-deploy-lambda.yml", "lambda-release.yml"}),
])
def test_services_choose_the_workflows(tmp_path: Path, services: str, workflows: set[str]) -> None:
    done = run_install(tmp_path, "--services", services)
    assert done.returncode == 0, done.stderr
    assert installed_workflows(tmp_path) == workflows | set(ALWAYS)
    layout = expected_layout()
    rest = {k for k in layout if not k.startswith(".github/workflows/")}
    assert rest <= set(files_under(tmp_path))  # actions, templates and the engine always


@pytest.mark.parametrize("services", ["api,mobile", "", " , "])
def test_an_unknown_service_is_a_usage_error(tmp_path: Path, services: str) -> None:
    done = run_install(tmp_path, "--services", services)
    assert done.returncode == 2
    assert "usage:" in done.stderr and "unknown service" in done.stderr and "api, infra, web, worker" in done.stderr
    assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_dest_must_be_an_existing_directory(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    done = run_install(missing)
    assert done.returncode == 1 and "no such directory" in done.stderr and "Traceback" not in done.stderr
    assert not missing.exists()
    afile = tmp_path / "file"
    afile.write_text("x")
    done = run_install(afile)
    assert done.returncode == 1 and "not a directory" in done.stderr
    assert afile.read_text() == "x"


def test_a_file_in_the_way_of_a_directory_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "workflows").write_text("not a directory\n")
    done = run_install(tmp_path)
    assert done.returncode == 1 and ".github/workflows/" in done.stderr and "Traceback" not in done.stderr
    assert sorted(p.name for p in (tmp_path / ".github").iterdir()) == ["workflows"]
