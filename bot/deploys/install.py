"""``chatops-bot install-workflows DEST``: lay the delivery pipeline into a repository checkout.

What it writes (paths relative to DEST; see docs/workflows.md):

- ``.github/workflows/<name>.yml`` for the workflows of the chosen services (every ``*.yml`` directly under
  ``workflows/`` is a workflow);
- ``.github/actions/<name>/`` for every composite action under ``workflows/actions/`` (``action.yml`` and its scripts);
- ``.github/zizmor.yml`` from ``workflows/config/zizmor.yml``;
- the config templates ``.github/lambda-functions.json`` and ``.github/release-services.json`` (the user's data:
  written only where absent, unless ``--force``);
- the release engine, vendored: ``.github/chatops-release/chatops_release/*.py`` (a copy of ``bot/actions/release``)
  and ``.github/chatops-release/requirements.txt`` (hash-pinned dependencies, installed with ``--require-hashes``).

Nothing is written when a file would change and ``--force`` was not given: every conflict is checked first.
Nothing is written when any path under DEST that it would write through or to is a symbolic link (even with
``--force``): a link could point outside the checkout.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bot.contract import ENGINE_DIR, ENGINE_MODULE, ENVIRONMENTS, JOB_KINDS, plan_role_variable
from bot.deploys import install_infra
from bot.deploys.install_fs import cannot_be_file, current_bytes, first_symlink, write_inside

__all__ = [
    "ALWAYS",
    "PART_DIRS",
    "PART_JOBS",
    "SERVICES",
    "InstallError",
    "Planned",
    "cmd_install_workflows",
    "drop_jobs",
    "install",
    "parse_services",
    "plan",
    "services_for",
    "source_dirs",
]

# Which workflows each service needs. Workflows not named here (security, rollback, and any new one) are always
# installed, as are all composite actions, the config templates and the engine.
SERVICES: dict[str, tuple[str, ...]] = {
    "api": ("api-ci.yml", "lambda-release.yml"),
    "worker": ("build-and-deploy-lambda.yml", "lambda-release.yml"),
    "web": ("web-ci.yml",),
    "infra": ("infra-ci.yml",),
}
ALWAYS: tuple[str, ...] = ("security.yml", "rollback.yml")
# Services that are a directory of the repository: without ``--services`` they are installed only where that directory
# exists (api and worker always are: their workflows find services/<name>/ themselves).
PART_DIRS: dict[str, str] = {"infra": "infra", "web": "web"}
# Jobs of always-installed workflows that work on one of those directories: written only with that part.
PART_JOBS: dict[str, dict[str, str]] = {
    "security.yml": {"terraform": "infra", "terraform-trivy": "infra", "accessibility": "web"},
}
# source name under workflows/config/ -> path in the repository; user_data: kept if present (unless --force)
_CONFIG_FILES: tuple[tuple[str, str, bool], ...] = (
    ("zizmor.yml", ".github/zizmor.yml", False),
    ("lambda-functions.json", ".github/lambda-functions.json", True),
    ("release-services.json", ".github/release-services.json", True),
)
_VARS = re.compile(r"\bvars\.([A-Za-z_][A-Za-z0-9_]*)")


class InstallError(Exception):
    """install-workflows cannot proceed; the message says why. Nothing was written."""


@dataclass(frozen=True, slots=True)
class Planned:
    """One file to write: ``dest`` is relative to the repository root (POSIX separators)."""

    dest: str
    content: bytes
    user_data: bool = False


@dataclass(frozen=True, slots=True)
class Sources:
    workflows: Path  # the repository's workflows/ directory
    engine: Path  # bot/actions/release


def source_dirs() -> Sources:
    """Locate ``workflows/`` and the engine from the installed ``bot`` package (a checkout of this repository)."""
    package = Path(__file__).resolve().parents[1]  # bot/ (this module is bot/deploys/install.py)
    engine = package / "actions" / "release"
    workflows = package.parent / "workflows"
    if (workflows / "actions").is_dir() and (engine / "requirements.txt").is_file():
        return Sources(workflows=workflows, engine=engine)
    raise InstallError(
        f"cannot find the workflows next to the bot package ({package.parent / 'workflows'}): "
        "run install-workflows from a checkout of the chatops-bot repository"
    )


def parse_services(text: str) -> frozenset[str]:
    """``api,web`` -> the set of services; an unknown name is an :class:`argparse.ArgumentTypeError`."""
    names = {part.strip() for part in text.split(",") if part.strip()}
    unknown = sorted(names - SERVICES.keys())
    if unknown or not names:
        what = ", ".join(repr(u) for u in unknown) if unknown else "an empty list"
        raise argparse.ArgumentTypeError(f"unknown service {what} (choose from {', '.join(sorted(SERVICES))})")
    return frozenset(names)


def _workflow_names(workflows: Path, services: Iterable[str] | None) -> list[str]:
    every = sorted(p.name for p in workflows.glob("*.yml") if p.is_file())
    if services is None:
        return every
    mapped = {name for names in SERVICES.values() for name in names}
    chosen = {name for service in services for name in SERVICES[service]}
    return [name for name in every if name in chosen or name not in mapped]


def services_for(dest: Path, services: Iterable[str] | None) -> frozenset[str]:
    """``--services`` as given, else api and worker plus each part (infra, web) whose directory exists in ``dest``."""
    if services is not None:
        return frozenset(services)
    return frozenset(s for s in SERVICES if s not in PART_DIRS or (dest / PART_DIRS[s]).is_dir())


def drop_jobs(text: str, jobs: Iterable[str]) -> str:
    """``text`` (a workflow) without the named top-level jobs: each ``  <name>:`` block under ``jobs:`` up to the next
    job, comments and all. Unknown names are an error (the workflow and PART_JOBS must agree)."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == "jobs:"), None)
    if start is None:
        raise InstallError("workflow without a top-level jobs: key")
    heads = [i for i in range(start + 1, len(lines)) if lines[i].startswith("  ") and not lines[i].startswith("   ")
             and not lines[i].lstrip().startswith("#") and lines[i].rstrip().endswith(":")]
    names = {lines[i].strip()[:-1]: i for i in heads}
    drop = set(jobs)
    if missing := sorted(drop - names.keys()):
        raise InstallError(f"workflow has no job(s) {', '.join(missing)}")
    keep = [True] * len(lines)
    for name in drop:
        first = names[name]
        later = [i for i in heads if i > first]
        end = later[0] if later else len(lines)
        for i in range(first, end):
            keep[i] = False
    return "".join(line for line, k in zip(lines, keep, strict=True) if k)


@dataclass(frozen=True, slots=True)
class InfraLayout:
    """``--with-infra``: where the Terraform root goes (relative to DEST) and what its module sources pin."""

    directory: str
    source: install_infra.InfraSource


def plan(services: Iterable[str] | None = None, sources: Sources | None = None,
         infra: InfraLayout | None = None) -> list[Planned]:
    """Every file install-workflows writes, in a stable order. ``services=None`` means all (every job too); else
    the jobs of PART_JOBS whose part is not among ``services`` are left out. ``infra``: also the Terraform root."""
    src = sources or source_dirs()
    chosen = None if services is None else frozenset(services)
    out = []
    for name in _workflow_names(src.workflows, chosen):
        content = (src.workflows / name).read_bytes()
        unwanted = [job for job, part in PART_JOBS.get(name, {}).items() if chosen is not None and part not in chosen]
        if unwanted:
            content = drop_jobs(content.decode("utf-8"), unwanted).encode("utf-8")
        if infra is not None:
            content = install_infra.point_workflow_at(name, content.decode("utf-8"), infra.directory).encode("utf-8")
        out.append(Planned(f".github/workflows/{name}", content))
    for action in sorted(src.workflows.glob("actions/*/action.yml")):
        for path in sorted(action.parent.rglob("*")):  # action.yml and the scripts it runs from its own directory
            if path.is_file() and "__pycache__" not in path.parts and not path.name.endswith(".pyc"):
                rel = path.relative_to(action.parent).as_posix()
                out.append(Planned(f".github/actions/{action.parent.name}/{rel}", path.read_bytes()))
    for name, dest, user_data in _CONFIG_FILES:
        out.append(Planned(dest, (src.workflows / "config" / name).read_bytes(), user_data=user_data))
    for module in sorted(src.engine.glob("*.py")):
        out.append(Planned(f"{ENGINE_DIR}/{ENGINE_MODULE}/{module.name}", module.read_bytes()))
    out.append(Planned(f"{ENGINE_DIR}/requirements.txt", (src.engine / "requirements.txt").read_bytes()))
    if infra is not None:
        terraform = src.workflows.parent / "infra"
        out += [Planned(dest, content, user_data=user_data)
                for dest, content, user_data in install_infra.infra_files(terraform, infra.source, infra.directory)]
    return out


@dataclass(frozen=True, slots=True)
class Outcome:
    written: list[str]
    unchanged: list[str]
    kept: list[str]  # user data already present, left alone
    stale: list[str]  # engine modules in DEST that this version does not ship


def install(dest: Path, *, services: Iterable[str] | None = None, force: bool = False,
            infra: InfraLayout | None = None) -> Outcome:
    """Write the pipeline into ``dest``. Raises :class:`InstallError` (nothing written) on a bad DEST or conflicts.
    With ``infra`` the Terraform root is laid out too, and the infra service (infra-ci, the Terraform scans) is
    installed whatever ``services`` says."""
    if not dest.exists():
        raise InstallError(f"{dest}: no such directory (give the root of a repository checkout)")
    if not dest.is_dir():
        raise InstallError(f"{dest}: not a directory (give the root of a repository checkout)")
    chosen = services_for(dest, services)
    if infra is not None:
        chosen = chosen | {"infra"}
    files = plan(chosen, infra=infra)
    written: list[str] = []
    unchanged: list[str] = []
    kept: list[str] = []
    todo: list[Planned] = []
    conflicts: list[str] = []
    links = sorted({link for item in files if (link := first_symlink(dest, item.dest))})
    if links:
        raise InstallError(f"refusing to write through symbolic link(s) under {dest}: {', '.join(links)} (a link "
                           "could point outside the checkout; replace it with a real directory or file, or remove "
                           "it); nothing was written")
    blocked = [item.dest for item in files if cannot_be_file(dest, item.dest)]
    if blocked:
        raise InstallError(f"cannot write a file at {', '.join(blocked)} in {dest} (a directory or a file is in the "
                           "way); nothing was written")
    for item in files:
        current = current_bytes(dest / item.dest)
        if current == item.content:
            unchanged.append(item.dest)
        elif current is None or force:
            todo.append(item)
        elif item.user_data:
            kept.append(item.dest)
        else:
            conflicts.append(item.dest)
    if conflicts:
        listing = "\n".join(f"  {c}" for c in conflicts)
        raise InstallError(
            f"{len(conflicts)} file(s) in {dest} differ from what install-workflows would write; "
            f"nothing was written. Review them, then re-run with --force to overwrite:\n{listing}"
        )
    for item in todo:
        write_inside(dest, item.dest, item.content)
        written.append(item.dest)
    shipped = {Path(f.dest).name for f in files if f.dest.startswith(f"{ENGINE_DIR}/{ENGINE_MODULE}/")}
    engine_dir = dest / ENGINE_DIR / ENGINE_MODULE
    stale = sorted(f"{ENGINE_DIR}/{ENGINE_MODULE}/{p.name}" for p in engine_dir.glob("*.py") if p.name not in shipped)
    return Outcome(written=written, unchanged=unchanged, kept=kept, stale=stale)


def _read_variables(dest: Path) -> list[str]:
    names: set[str] = set()
    for path in [*dest.glob(".github/workflows/*.yml"), *dest.glob(".github/actions/*/action.yml")]:
        names.update(_VARS.findall(path.read_text(encoding="utf-8", errors="replace")))
    return sorted(names)


def next_steps(dest: Path) -> str:
    """What to set after installing: role variables per scope (bot/contract.py), user-set ones, the lint
    commands."""
    env_kinds = [k for k in JOB_KINDS.values() if k.scope == "environment"]
    repo_kinds = [k for k in JOB_KINDS.values() if k.scope == "repository"]
    role_vars = {k.variable for k in JOB_KINDS.values()} | {plan_role_variable(e) for e in ENVIRONMENTS}
    lines = [
        "Next steps:",
        "1. GitHub Actions variables with the AWS role ARNs (one role per job kind):",
        f"   environment variables of each environment ({', '.join(ENVIRONMENTS)}):",
        *(f"     {k.variable:<28} {k.name} jobs (role chatops-<env>-github-{k.role_suffix})" for k in env_kinds),
        "   repository variables:",
    ]
    for k in repo_kinds:
        if "<ENV>" in k.variable:  # one per environment's account
            lines += [f"     {plan_role_variable(e):<28} {k.name} jobs (role chatops-{e}-github-{k.role_suffix})"
                      for e in ENVIRONMENTS]
        else:
            lines.append(f"     {k.variable:<28} {k.name} jobs (role chatops-<env>-github-{k.role_suffix})")
    other = [v for v in _read_variables(dest) if v not in role_vars]
    lines += [
        "   Terraform sets all of them: apply infra/examples/complete with manage_github = true",
        "   (module github-environments; see docs/oidc.md).",
        "2. The variables you set yourself are listed in docs/secrets-and-variables.md.",
        textwrap.fill(f"The installed files also read: {', '.join(other) if other else '(nothing else)'}.",
                      width=110, initial_indent="   ", subsequent_indent="     "),
        "3. Edit .github/lambda-functions.json and .github/release-services.json for your services.",
        "4. Check the result, then commit .github/ (jobs run the engine from the commit they deploy):",
        f"     cd {dest} && actionlint -shellcheck=shellcheck",
        f"     zizmor --offline --config {dest}/.github/zizmor.yml {dest}/.github",
    ]
    return "\n".join(lines)


def _report(dest: Path, outcome: Outcome) -> None:
    print(f"install-workflows: {len(outcome.written)} file(s) written, {len(outcome.unchanged)} unchanged in {dest}")
    for path in outcome.written:
        print(f"  wrote {path}")
    for path in outcome.kept:
        print(f"  kept {path} (yours; --force replaces it with the template)")
    for path in outcome.stale:
        print(f"  warning: {path} is not part of this engine version; delete it", file=sys.stderr)
    print()
    print(next_steps(dest))


def infra_layout(directory: str | None, *, repo: str | None, ref: str | None) -> InfraLayout | None:
    """``--with-infra DIR [--infra-repo] [--infra-ref]`` as an :class:`InfraLayout` (None without ``--with-infra``)."""
    if directory is None:
        if repo or ref:
            raise InstallError("--infra-repo and --infra-ref only go with --with-infra DIR")
        return None
    checkout = source_dirs().workflows.parent
    try:
        return InfraLayout(install_infra.valid_dir(directory),
                           install_infra.default_source(checkout, repo=repo, ref=ref))
    except install_infra.InfraInstallError as exc:
        raise InstallError(str(exc)) from exc


def cmd_install_workflows(dest: str, *, services: frozenset[str] | None, force: bool, with_infra: str | None = None,
                          infra_repo: str | None = None, infra_ref: str | None = None) -> int:
    """The CLI body: 0 on success, 1 (with the reason on stderr) when nothing could be written."""
    path = Path(dest)
    try:
        layout = infra_layout(with_infra, repo=infra_repo, ref=infra_ref)
        outcome = install(path, services=services, force=force, infra=layout)
    except (InstallError, install_infra.InfraInstallError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot write into {dest}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    _report(path, outcome)
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``install-workflows`` on the ``chatops-bot`` sub-command parser."""
    p = sub.add_parser("install-workflows", help="install the GitHub Actions workflows and release engine into a repo")
    p.add_argument("dest", help="root of the repository checkout to install into")
    p.add_argument("--services", type=parse_services, default=None,
                   help=f"comma-separated subset of {','.join(sorted(SERVICES))} (default: api and worker, plus "
                        "infra and web where the repository has infra/ or web/)")
    p.add_argument("--force", action="store_true", help="overwrite files that differ (and your config templates)")
    p.add_argument("--with-infra", metavar="DIR", default=None,
                   help="also lay out the Terraform root in DIR (relative to DEST, e.g. infra): DIR/examples/complete "
                        "with module sources pinned to a tag of this repository, DIR/environments/*")
    p.add_argument("--infra-repo", metavar="OWNER/NAME", default=None,
                   help="GitHub repository the modules come from (default: this checkout's origin remote)")
    p.add_argument("--infra-ref", metavar="TAG", default=None,
                   help="tag the module sources are pinned to (default: v<version> of this checkout)")
