"""The real Terraform providers' schemas, read from the jsii manifests of the prebuilt CDKTF bindings.

``@cdktf/provider-aws`` and ``@cdktf/provider-github`` (exact versions in tools/provider-schemas/package.json,
installed by ``make install``) are generated from ``terraform providers schema -json`` of one provider version.
Each resource class's docs link names its Terraform type and that version, e.g.
``Represents a {@link https://registry.terraform.io/providers/integrations/github/6.9.0/docs/resources/
repository_environment github_repository_environment}``; its ``...Config`` struct lists the arguments and nested
blocks, each with a docs link whose anchor is the Terraform name (``#can_admins_bypass``). A nested block's summary
reads ``"<name> block."``; a struct-typed property without it is a nested *attribute* (``name = {...}``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PACKAGES = ROOT / "tools" / "provider-schemas"
PACKAGES = {"aws": "@cdktf/provider-aws", "github": "@cdktf/provider-github"}

_CLASS_LINK = re.compile(
    r"\{@link https://registry\.terraform\.io/providers/(?P<source>[\w-]+/[\w-]+)/(?P<version>[\w.-]+)/docs"
    r"(?:/(?P<kind>resources|data-sources)/\S+)? (?P<type>\w+)\}"
)
_ARG_LINK = re.compile(r"\{@link https://registry\.terraform\.io/providers/\S+#(?P<name>\w+) ")


@dataclass(frozen=True)
class Block:
    """One schema block: its arguments (attributes you may set) and nested blocks (None = schema-less)."""

    arguments: frozenset[str]
    required: frozenset[str]
    blocks: dict[str, Block | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Provider:
    name: str  # the local name: aws, github
    source: str  # hashicorp/aws
    version: str  # the provider version the manifest was generated from
    package_version: str
    config: Block
    resources: dict[str, Block]
    data_sources: dict[str, Block]


class SchemaPackageMissing(RuntimeError):
    pass


def _struct_fqns(type_ref: dict[str, Any]) -> list[str]:
    if "fqn" in type_ref:
        return [type_ref["fqn"]]
    if "union" in type_ref:
        return [f for t in type_ref["union"]["types"] for f in _struct_fqns(t)]
    if "collection" in type_ref:
        return _struct_fqns(type_ref["collection"]["elementtype"])
    return []


def _snake(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower()


def _block(types: dict[str, Any], fqn: str) -> Block:
    arguments: set[str] = set()
    required: set[str] = set()
    blocks: dict[str, Block | None] = {}
    for prop in types[fqn].get("properties", []):
        docs = prop.get("docs", {})
        link = _ARG_LINK.search(docs.get("summary", "") + " " + docs.get("remarks", ""))
        name = link.group("name") if link else _snake(prop["name"])
        if docs.get("summary", "").endswith(" block."):
            nested = [f for f in _struct_fqns(prop["type"]) if types.get(f, {}).get("datatype")]
            blocks[name] = _block(types, nested[0]) if nested else None
        else:
            arguments.add(name)
            if not prop.get("optional"):
                required.add(name)
    return Block(arguments=frozenset(arguments), required=frozenset(required), blocks=blocks)


def _config_fqn(cls: dict[str, Any]) -> str:
    params = cls.get("initializer", {}).get("parameters", [])
    config = [p for p in params if p["name"] == "config"]
    return str(config[0]["type"]["fqn"])


@cache
def load(name: str) -> Provider:
    """The schema of one provider (aws or github) from its installed package; raises when it is not installed."""
    manifest = SCHEMA_PACKAGES / "node_modules" / PACKAGES[name] / ".jsii"
    if not manifest.is_file():
        raise SchemaPackageMissing(
            f"{manifest} is missing: run `make install` (npm ci in tools/provider-schemas) to fetch the provider schemas"
        )
    with manifest.open() as fh:
        assembly = json.load(fh)
    types: dict[str, Any] = assembly["types"]
    resources: dict[str, Block] = {}
    data_sources: dict[str, Block] = {}
    config: Block | None = None
    source = version = ""
    for cls in types.values():
        base = cls.get("base")
        if cls.get("kind") != "class" or base not in (
            "cdktf.TerraformResource", "cdktf.TerraformDataSource", "cdktf.TerraformProvider"
        ):
            continue
        link = _CLASS_LINK.search(cls.get("docs", {}).get("summary", ""))
        if link is None:
            raise ValueError(f"{cls['fqn']}: no registry link in its docs summary")
        source, version = link.group("source"), link.group("version")
        block = _block(types, _config_fqn(cls))
        if base == "cdktf.TerraformProvider":
            config = block
        elif base == "cdktf.TerraformResource":
            resources[link.group("type")] = block
        else:
            data_sources[link.group("type")] = block
    if config is None:
        raise ValueError(f"{manifest}: no provider class")
    return Provider(
        name=name,
        source=source,
        version=version,
        package_version=str(assembly["version"]),
        config=config,
        resources=resources,
        data_sources=data_sources,
    )
