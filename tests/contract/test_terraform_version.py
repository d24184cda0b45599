"""The Terraform that infra-ci installs runs every feature infra/ uses, and required_version says so (issue 23, item 3).

Feature minimums, from Terraform's upgrade guides:
- S3 backend ``use_lockfile``: "The S3 backend now supports S3 native state locking as an opt-in, experimental
  feature" (https://developer.hashicorp.com/terraform/language/v1.10.x/upgrade-guides); "S3 native state locking is
  now generally available. The use_lockfile argument ..." (https://developer.hashicorp.com/terraform/language/v1.11.x/
  upgrade-guides). We require the release where it is generally available: 1.11.0.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox import hcl
from sandbox.paths import ROOT

INFRA = ROOT / "infra"
WORKFLOWS = ROOT / "workflows"
Version = tuple[int, int, int]

# backend argument -> the first Terraform release where it is generally available (sources in the docstring).
S3_BACKEND_FEATURES: dict[str, Version] = {"use_lockfile": (1, 11, 0)}


def parse_version(text: str) -> Version:
    match = re.fullmatch(r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?", text.strip())
    if match is None:
        raise ValueError(f"not a version: {text!r}")
    major, minor, patch = (int(g or 0) for g in match.groups())
    return major, minor, patch


def satisfies(version: Version, constraint: str) -> bool:
    """Terraform's version constraint syntax (=, !=, >, >=, <, <=, ~>), comma = and."""
    for part in constraint.split(","):
        match = re.fullmatch(r"\s*(=|!=|>=|<=|>|<|~>)?\s*(\S+)\s*", part)
        if match is None:
            raise ValueError(f"not a constraint: {part!r}")
        op, wanted_text = match.group(1) or "=", match.group(2)
        wanted = parse_version(wanted_text)
        if op == "~>":
            # ~> 1.11.0 allows 1.11.x; ~> 1.11 allows 1.x from 1.11 on.
            precision = wanted_text.count(".")
            upper = (wanted[0] + 1, 0, 0) if precision <= 1 else (wanted[0], wanted[1] + 1, 0)
            ok = wanted <= version < upper
        else:
            ok = {
                "=": version == wanted, "!=": version != wanted, ">": version > wanted,
                ">=": version >= wanted, "<": version < wanted, "<=": version <= wanted,
            }[op]
        if not ok:
            return False
    return True


def required_versions() -> dict[Path, str]:
    found: dict[Path, str] = {}
    for path in sorted(INFRA.rglob("versions.tf")):
        for block in hcl.load(path).get("terraform", []):
            if "required_version" in block:
                found[path] = str(block["required_version"]).strip('"')
    return found


def installed_terraforms() -> dict[str, Version]:
    """Every Terraform version a shipped workflow installs: where -> version."""
    found: dict[str, Version] = {}
    for path in sorted(WORKFLOWS.rglob("*.yml")):
        doc: Any = yaml.safe_load(path.read_text())
        if not isinstance(doc, dict):
            continue
        jobs = doc.get("jobs") or {}
        steps = [(f"{path.name}:{name}", s) for name, job in jobs.items() for s in job.get("steps", [])]
        steps += [(path.name, s) for s in (doc.get("runs") or {}).get("steps", [])]
        for where, step in steps:
            if str(step.get("uses", "")).startswith("hashicorp/setup-terraform@"):
                found[where] = parse_version(str((step.get("with") or {})["terraform_version"]))
    return found


def features_used() -> dict[str, Version]:
    """Feature -> the Terraform it needs, for every feature infra/ uses (the per-environment S3 backend files)."""
    used: dict[str, Version] = {}
    for path in sorted(INFRA.rglob("*.s3.tfbackend")):
        for line in path.read_text().splitlines():
            key = line.split("=", 1)[0].strip()
            if "=" in line and not line.lstrip().startswith("#") and key in S3_BACKEND_FEATURES:
                used[f"{path.name}: {key}"] = S3_BACKEND_FEATURES[key]
    return used


def test_infra_uses_the_s3_lockfile() -> None:
    # The premise of the minimum below; if the backends stop using it, this test says so instead of going stale.
    assert any("use_lockfile" in k for k in features_used())


def test_required_version_is_one_constraint_that_admits_every_feature() -> None:
    constraints = required_versions()
    assert len(constraints) >= 6 and len(set(constraints.values())) == 1, constraints
    constraint = next(iter(constraints.values()))
    for feature, minimum in features_used().items():
        below = (minimum[0], minimum[1] - 1, 99) if minimum[1] else (minimum[0] - 1, 99, 99)
        assert not satisfies(below, constraint), (
            f"required_version {constraint!r} admits Terraform {below}, which lacks {feature} (needs {minimum})"
        )
        assert satisfies(minimum, constraint)


def test_infra_ci_installs_a_terraform_that_meets_required_version_and_every_feature() -> None:
    installed = installed_terraforms()
    assert any(w.startswith("infra-ci.yml:") for w in installed), installed
    needed = max(features_used().values())
    for where, version in installed.items():
        assert version >= needed, f"{where} installs Terraform {version}, infra/ needs >= {needed}"
        for path, constraint in required_versions().items():
            assert satisfies(version, constraint), f"{where}: {version} fails {path.relative_to(ROOT)}: {constraint}"


@pytest.mark.parametrize(("version", "constraint", "expected"), [
    ("1.9.8", ">= 1.11.0, < 2.0.0", False),
    ("1.11.4", ">= 1.11.0, < 2.0.0", True),
    ("2.0.0", ">= 1.11.0, < 2.0.0", False),
    ("1.12.1", "~> 1.11.0", False),
    ("1.11.9", "~> 1.11.0", True),
    ("1.12.0", "~> 1.11", True),
    ("1.10.5", ">= 1.6.0, < 2.0.0", True),
])
def test_constraint_reader(version: str, constraint: str, expected: bool) -> None:
    assert satisfies(parse_version(version), constraint) is expected
