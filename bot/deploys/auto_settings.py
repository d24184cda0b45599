"""``services.<svc>.auto_deploy: {environment: dev, branch: main}`` (issue 25 item 2), read from the config's raw YAML
like ``bot.deploys.settings``: every problem names its key; ``check-config``, start-up and reload report them all at
once (``bot.runtime.validate``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bot.config import Config
from bot.errors import ConfigError

AUTO_KEYS = ("environment", "branch")
# A branch name as `git check-ref-format --branch` takes it (https://git-scm.com/docs/git-check-ref-format): no
# control characters, spaces, ~ ^ : ? * [ \, no "..", "@{" or "//", not starting with "-" or "/" and not ending with
# "/", "." or ".lock", no component starting with "."; and no wildcard (one branch, named exactly).
_BRANCH_CHARS = re.compile(r"^[^\x00-\x20\x7f~^:?*\[\\]{1,255}$")


@dataclass(frozen=True, slots=True)
class AutoDeploy:
    service: str
    environment: str
    branch: str


def branch_problem(name: str) -> str:
    """Why ``name`` is not a branch name git would take ("" = it is one)."""
    if not _BRANCH_CHARS.match(name):
        return "must be a branch name (no spaces, wildcards or ~ ^ : ? * [ \\; at most 255 characters)"
    if name.startswith(("-", "/")) or name.endswith(("/", ".", ".lock")) or name == "@":
        return "must be a branch name (not starting with - or /, not ending with /, . or .lock)"
    if ".." in name or "@{" in name or "//" in name or any(p.startswith(".") for p in name.split("/")):
        return "must be a branch name (no '..', '@{', '//' or a part starting with '.')"
    if name.startswith("refs/"):
        return "must be a branch name like main, not a ref (refs/heads/main)"
    return ""


def _one(config: Config, name: str, spec: Any, problems: list[str]) -> AutoDeploy | None:
    path = f"services.{name}.auto_deploy"
    if not isinstance(spec, dict):
        problems.append(f"{path}: must be a mapping like {{environment: dev, branch: main}}")
        return None
    problems += [f"{path}.{k}: unknown key (known: {', '.join(AUTO_KEYS)})" for k in spec if k not in AUTO_KEYS]
    service = config.services[name]
    env = spec.get("environment")
    ok = True
    if not isinstance(env, str) or not env:
        problems.append(f"{path}.environment: is required: the environment each green push is deployed to")
        ok = False
    elif env not in config.environments:
        problems.append(f"{path}.environment: unknown environment {env!r} (known: "
                        f"{', '.join(sorted(config.environments))})")
        ok = False
    elif env not in service.environments:
        problems.append(f"{path}.environment: {name} does not deploy to {env!r} (services.{name}.environments: "
                        f"{', '.join(service.environments)})")
        ok = False
    branch = spec.get("branch")
    if not isinstance(branch, str) or not branch:
        problems.append(f"{path}.branch: is required: the branch whose green pushes are deployed, like main")
        ok = False
    elif branch_problem(branch):
        problems.append(f"{path}.branch: {branch_problem(branch)}")
        ok = False
    return AutoDeploy(name, str(env), str(branch)) if ok else None


def _parse(config: Config) -> tuple[dict[str, AutoDeploy], list[str]]:
    problems: list[str] = []
    out: dict[str, AutoDeploy] = {}
    raw = config.raw.get("services")
    for name, spec in (raw.items() if isinstance(raw, dict) else ()):
        if isinstance(spec, dict) and spec.get("auto_deploy") is not None and name in config.services:
            found = _one(config, str(name), spec["auto_deploy"], problems)
            if found is not None:
                out[found.service] = found
    return out, problems


def auto_deploys(config: Config) -> dict[str, AutoDeploy]:
    """Service name -> its auto-deploy setting. Raises ConfigError naming every problem."""
    out, problems = _parse(config)
    if problems:
        raise ConfigError(problems)
    return out


def configured(config: Config) -> dict[str, AutoDeploy]:
    """The valid settings (validated at start-up and reload: a bad one is left out here, never guessed)."""
    return _parse(config)[0]
