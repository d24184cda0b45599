"""``install-workflows --with-infra DIR``: lay the Terraform root of this repository into the user's repository.

What it writes (paths relative to the repository root; DIR is ``infra`` unless given otherwise):

- ``DIR/examples/complete/*.tf``: the root module of this repository (infra/examples/complete), with every module
  ``source`` rewritten from the local path ``../../modules/<name>`` to a Git source pinned to a tag of this
  repository: ``git::https://github.com/<owner>/<repo>.git//infra/modules/<name>?ref=<tag>``. The form is
  Terraform's "Generic Git Repository" source with a sub-directory (``//``) and a ``ref`` (a tag), as documented at
  https://developer.hashicorp.com/terraform/language/modules/sources#generic-git-repository and
  https://developer.hashicorp.com/terraform/language/modules/sources#modules-in-package-sub-directories
  ("the special ``//`` syntax ... any query string arguments go after the sub-directory");
- ``DIR/environments/<env>.tfvars`` and ``<env>.s3.tfbackend`` (the user's data: written only where absent, unless
  ``--force``), and ``DIR/scripts/set-events-api-key.sh`` (stores the EventBridge API key; docs/security-alerts.md).

The modules themselves are not copied: ``terraform init`` fetches them at the tag, so an upgrade is a change of
``ref``. The repository and tag default to this checkout's ``origin`` remote (a GitHub URL) and ``v<version>`` of
pyproject.toml; ``--infra-repo`` and ``--infra-ref`` override them. When DIR is not ``infra`` the installed
infra-ci.yml and security.yml are pointed at DIR.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

__all__ = [
    "REPO_PATTERN",
    "TAG_PATTERN",
    "InfraSource",
    "default_source",
    "infra_files",
    "pinned_source",
    "point_workflow_at",
    "valid_dir",
]

REPO_PATTERN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")
# tags of this repository are v<semver> (docs/release-engine.md: "tag v1.4.1"); a pre-release suffix is allowed
TAG_PATTERN = re.compile(r"v\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]{1,40})?")
_LOCAL_SOURCE = re.compile(r'^(\s*source\s*=\s*)"\.\./\.\./modules/([a-z0-9-]+)"', re.M)
_ANY_SOURCE = re.compile(r'^\s*source\s*=\s*"([^"]*)"', re.M)
_GITHUB_REMOTE = re.compile(r"(?:https://github\.com/|git@github\.com:|ssh://git@github\.com/)"
                            r"(?P<repo>[^/\s]+/[^/\s]+?)(?:\.git)?/?$")
# The infra paths of the installed workflows, exactly as they appear (tests/contract keeps this table and the
# workflows in step: every entry must be found).
WORKFLOW_PATHS: dict[str, tuple[str, ...]] = {
    "infra-ci.yml": ('paths: ["infra/**"', "TF_ROOT: infra/examples/complete", "-diff infra\n"),
    "security.yml": ("--directory infra ", "--exit-code 1 infra\n"),
}


_SCRIPTS = ("set-events-api-key.sh",)


class InfraInstallError(Exception):
    """The Terraform root cannot be laid out; the message says why. Nothing was written."""


@dataclass(frozen=True, slots=True)
class InfraSource:
    repo: str  # owner/name of this repository on GitHub
    ref: str  # a tag, v<semver>

    def url(self, module: str) -> str:
        return pinned_source(self.repo, module, self.ref)


def pinned_source(repo: str, module: str, ref: str) -> str:
    return f"git::https://github.com/{repo}.git//infra/modules/{module}?ref={ref}"


def valid_dir(text: str) -> str:
    """DIR as a clean relative POSIX path inside the repository (no ``..``, not absolute, not ``.github``)."""
    path = PurePosixPath(text.strip().rstrip("/"))
    if not text.strip() or path.is_absolute() or ".." in path.parts or path.parts[0] in (".", ".github", ".git"):
        raise InfraInstallError(f"--with-infra {text!r}: give a directory inside the repository, such as infra")
    if not all(re.fullmatch(r"[A-Za-z0-9_.-]+", part) for part in path.parts):
        raise InfraInstallError(f"--with-infra {text!r}: use letters, digits, '.', '_' and '-' only")
    return path.as_posix()


def _origin_repo(checkout: Path) -> str:
    git = shutil.which("git")
    if git is None:
        return ""
    try:
        done = subprocess.run([git, "-C", str(checkout), "remote", "get-url", "origin"],  # noqa: S603 - fixed argv
                              capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    match = _GITHUB_REMOTE.search(done.stdout.strip()) if done.returncode == 0 else None
    return match.group("repo") if match else ""


def default_source(checkout: Path, *, repo: str | None, ref: str | None) -> InfraSource:
    """The repository and tag the module sources are pinned to (see the module doc)."""
    repo = repo or _origin_repo(checkout)
    if not repo:
        raise InfraInstallError("cannot tell which GitHub repository the modules come from (this checkout has no "
                                "GitHub 'origin' remote): give --infra-repo OWNER/NAME")
    if not REPO_PATTERN.fullmatch(repo):
        raise InfraInstallError(f"--infra-repo {repo!r} is not OWNER/NAME of a GitHub repository")
    if not ref:
        version = tomllib.loads((checkout / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
        ref = f"v{version}"
    if not TAG_PATTERN.fullmatch(ref):
        raise InfraInstallError(f"--infra-ref {ref!r} is not a release tag like v1.4.2 (module sources are pinned "
                                "to a tag, never a branch)")
    return InfraSource(repo=repo, ref=ref)


def pin_sources(text: str, source: InfraSource, *, name: str) -> str:
    """``text`` (a .tf file) with every ``../../modules/<m>`` source pinned; any other local source is an error."""
    pinned = _LOCAL_SOURCE.sub(lambda m: f'{m.group(1)}"{source.url(m.group(2))}"', text)
    for value in _ANY_SOURCE.findall(pinned):
        if value.startswith((".", "/")):
            raise InfraInstallError(f"{name}: module source {value!r} cannot be pinned")
    return pinned


def infra_files(infra: Path, source: InfraSource, directory: str) -> list[tuple[str, bytes, bool]]:
    """(dest, content, user_data) for everything ``--with-infra`` writes, from this repository's ``infra``."""
    out: list[tuple[str, bytes, bool]] = []
    root = infra / "examples" / "complete"
    for tf in sorted(root.glob("*.tf")):
        text = pin_sources(tf.read_text(encoding="utf-8"), source, name=f"infra/examples/complete/{tf.name}")
        out.append((f"{directory}/examples/complete/{tf.name}", text.encode("utf-8"), False))
    for env in sorted([*infra.glob("environments/*.tfvars"), *infra.glob("environments/*.s3.tfbackend")]):
        out.append((f"{directory}/environments/{env.name}", env.read_bytes(), True))
    for script in _SCRIPTS:  # checkov.sh is this repository's own check (its venv, its skip list): not shipped
        out.append((f"{directory}/scripts/{script}", (infra / "scripts" / script).read_bytes(), False))
    return out


def point_workflow_at(name: str, text: str, directory: str) -> str:
    """An installed workflow's infra paths pointed at ``directory`` (unchanged when it is ``infra``)."""
    if directory == "infra":
        return text
    for needle in WORKFLOW_PATHS.get(name, ()):
        if needle not in text:
            raise InfraInstallError(f"{name} no longer has {needle.strip()!r}: "
                                    "bot/deploys/install_infra.py is out of step")
        text = text.replace(needle, needle.replace("infra", directory, 1))
    return text
