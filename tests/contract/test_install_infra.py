"""Issue 23 item 9: ``install-workflows --with-infra DIR`` lays out the Terraform root, module sources pinned to a tag.

Tried as a new user: a scratch repository with only ``services/api``; the laid-out root parses (python-hcl2, as
tests/infra), its provider, resource and data blocks check against the real provider schemas and pins
(tests/infra/schemacheck.py), every module ``source`` is a Git source pinned to a tag of this repository in the form
https://developer.hashicorp.com/terraform/language/modules/sources#generic-git-repository documents
(``git::https://<host>/<repo>.git//<sub-directory>?ref=<tag>``: sub-directory after ``//``, query after it), every
argument a module block passes is a variable of that module, and no installed job points at a missing path.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.deploys.install_infra import InfraInstallError, default_source
from tests.contract.conftest import ROOT, git, run_install
from tests.contract.test_install_fits import _missing_paths
from tests.contract.test_installed_lint import run, tool
from tests.infra import provider_schema, schemacheck
from tests.infra.provider_schema import Provider

REPO, TAG = "acme-oss/chatops-bot", "v0.1.0"
_PINNED = re.compile(r"git::https://github\.com/(?P<repo>[^/]+/[^/]+)\.git//infra/modules/(?P<module>[a-z0-9-]+)"
                     r"\?ref=(?P<ref>v\d+\.\d+\.\d+)")


def schemas(name: str) -> Provider:
    if name not in provider_schema.PACKAGES:
        raise KeyError(name)
    return provider_schema.load(name)


@pytest.fixture(scope="module")
def api_with_infra(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("api-infra") / "repo"
    (repo / "services" / "api").mkdir(parents=True)
    (repo / "services" / "api" / "app.py").write_text("print('api')\n")
    git(repo, "init", "-q", "-b", "main")
    done = run_install(repo, "--services", "api", "--with-infra", "infra", "--infra-repo", REPO, "--infra-ref", TAG)
    assert done.returncode == 0, done.stdout + done.stderr
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "install")
    return repo


def _module_blocks(root: Path) -> list[tuple[str, dict[str, Any]]]:
    return [(schemacheck._unquote(name), body) for path in schemacheck.tf_files(root)
            for block in schemacheck.load_raw(path).get("module", []) for name, body in block.items()]


def test_the_root_is_laid_out_with_every_module_source_pinned(api_with_infra: Path) -> None:
    root = api_with_infra / "infra" / "examples" / "complete"
    assert sorted(p.name for p in root.glob("*.tf")) == sorted(
        p.name for p in (ROOT / "infra" / "examples" / "complete").glob("*.tf"))
    modules = _module_blocks(root)
    assert len(modules) == len(_module_blocks(ROOT / "infra" / "examples" / "complete")) >= 5
    for name, body in modules:
        source = schemacheck._unquote(str(body["source"]))
        match = _PINNED.fullmatch(source)
        assert match, f"module {name}: source {source!r} is not pinned to a tag"
        assert (match["repo"], match["ref"]) == (REPO, TAG)
        assert (ROOT / "infra" / "modules" / match["module"]).is_dir(), source
    assert not (api_with_infra / "infra" / "modules").exists()  # fetched at the tag by terraform init, not copied
    envs = {p.name for p in (api_with_infra / "infra" / "environments").iterdir()}
    assert {"dev.tfvars", "production.tfvars", "dev.s3.tfbackend", "production.s3.tfbackend"} <= envs


def test_the_laid_out_root_checks_against_the_provider_schemas(api_with_infra: Path) -> None:
    root = api_with_infra / "infra"
    assert schemacheck.tf_files(root), "nothing parsed"
    assert schemacheck.check_tree(root, schemas) == []
    assert schemacheck.check_pins(root, schemas) == []


def test_module_arguments_are_variables_of_the_pinned_modules(api_with_infra: Path) -> None:
    meta = {"source", "count", "for_each", "providers", "depends_on", "version"}
    for name, body in _module_blocks(api_with_infra / "infra" / "examples" / "complete"):
        match = _PINNED.fullmatch(schemacheck._unquote(str(body["source"])))
        assert match
        variables = {schemacheck._unquote(v) for path in (ROOT / "infra" / "modules" / match["module"]).glob("*.tf")
                     for block in schemacheck.load_raw(path).get("variable", []) for v in block}
        passed = {k for k in body if k not in meta and not k.startswith("__")}
        assert passed <= variables, f"module {name}: {sorted(passed - variables)} are not variables"


def test_infra_jobs_are_installed_and_point_at_what_exists(api_with_infra: Path) -> None:
    assert (api_with_infra / ".github" / "workflows" / "infra-ci.yml").is_file()
    security = yaml.safe_load((api_with_infra / ".github/workflows/security.yml").read_text())
    assert {"terraform", "terraform-trivy"} <= set(security["jobs"])
    assert _missing_paths(api_with_infra) == []
    done = run([tool("actionlint"), "-no-color", "-shellcheck=", "-pyflakes="], api_with_infra)
    assert done.returncode == 0, done.stdout + done.stderr
    done = run([tool("zizmor"), "--offline", "."], api_with_infra)
    assert done.returncode == 0, done.stdout + done.stderr


def test_another_directory_moves_the_workflow_paths_with_it(tmp_path: Path) -> None:
    (tmp_path / "services" / "api").mkdir(parents=True)
    done = run_install(tmp_path, "--with-infra", "deploy/terraform", "--infra-repo", REPO, "--infra-ref", TAG)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "deploy/terraform/examples/complete/main.tf").is_file()
    infra_ci = yaml.safe_load((tmp_path / ".github/workflows/infra-ci.yml").read_text())
    assert infra_ci["env"]["TF_ROOT"] == "deploy/terraform/examples/complete"
    for name in ("infra-ci.yml", "security.yml"):  # what the jobs run (comments aside) names no infra/ path
        text = json.dumps(yaml.safe_load((tmp_path / ".github/workflows" / name).read_text()))
        assert not re.findall(r"(?<![\w/.-])infra(?=/|[\s\"])", text), name


@pytest.mark.parametrize(("args", "message"), [
    (["--with-infra", "../outside", "--infra-repo", REPO], "inside the repository"),
    (["--with-infra", "infra", "--infra-repo", REPO, "--infra-ref", "main"], "not a release tag"),
    (["--with-infra", "infra", "--infra-repo", "not a repo"], "OWNER/NAME"),
    (["--infra-ref", TAG], "only go with --with-infra"),
])
def test_bad_options_are_refused_and_nothing_is_written(tmp_path: Path, args: list[str], message: str) -> None:
    done = run_install(tmp_path, *args)
    assert done.returncode == 1 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert not any(tmp_path.iterdir())


def test_the_default_repository_is_the_checkouts_github_origin(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "chatops-bot"\nversion = "1.4.2"\n')
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    with pytest.raises(InfraInstallError, match="--infra-repo"):
        default_source(tmp_path, repo=None, ref=None)
    git(tmp_path, "remote", "add", "origin", "git@github.com:acme-oss/chatops-bot.git")
    assert default_source(tmp_path, repo=None, ref=None).url("github-oidc") == (
        "git::https://github.com/acme-oss/chatops-bot.git//infra/modules/github-oidc?ref=v1.4.2")
