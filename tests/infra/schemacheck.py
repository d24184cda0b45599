"""Every resource, data and provider block in infra/ against the real provider schema (tests/infra/provider_schema.py).

Reads the .tf files with python-hcl2, keeping its ``__is_block__`` marks so that a nested block (``reviewers { }``)
and an argument (``tags = { }``) are told apart as Terraform tells them apart. Each ``check_*`` returns a list of
violations (empty = pass), so the mutation tests can run the same code over a broken copy.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sandbox import hcl

from tests.infra.provider_schema import Block, Provider

# Terraform's meta-arguments (https://developer.hashicorp.com/terraform/language/meta-arguments), not in any schema.
RESOURCE_META_ARGUMENTS = frozenset({"count", "for_each", "provider", "depends_on"})
RESOURCE_META_BLOCKS = frozenset({"lifecycle", "provisioner", "connection"})
DATA_META_BLOCKS = frozenset({"lifecycle"})
PROVIDER_META_ARGUMENTS = frozenset({"alias"})
DYNAMIC_ARGUMENTS = frozenset({"for_each", "iterator", "labels"})
_HCL2_KEYS = frozenset({"__is_block__", "__comments__", "__inline_comments__", "__start_line__", "__end_line__"})

Schemas = Callable[[str], Provider]


def _unquote(label: str) -> str:
    return label[1:-1] if len(label) >= 2 and label[0] == label[-1] == '"' else label


def _is_block(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) and v.get("__is_block__") for v in value)


def load_raw(path: Path) -> dict[str, Any]:
    return dict(hcl.load(path))


def tf_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.tf") if ".terraform" not in p.parts and ".venv-checkov" not in p.parts)


def blocks_of(parsed: dict[str, Any]) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """(kind, type, name, body) of every resource and data block, and (provider, name, '', body) of providers."""
    for kind in ("resource", "data"):
        for block in parsed.get(kind, []):
            for type_, named in block.items():
                for name, body in named.items():
                    yield kind, _unquote(type_), _unquote(name), body
    for block in parsed.get("provider", []):
        for name, body in block.items():
            yield "provider", _unquote(name), "", body


def provider_of(type_: str) -> str:
    """Terraform's default: a resource type's provider is the prefix before its first underscore."""
    return type_.split("_", 1)[0]


def check_body(where: str, body: dict[str, Any], schema: Block | None, *, meta: frozenset[str] = frozenset(),
               meta_blocks: frozenset[str] = frozenset()) -> list[str]:
    """One block body against its schema (None: the provider declares the block but not its contents)."""
    if schema is None:
        return []
    errors: list[str] = []
    for key, value in body.items():
        if key in _HCL2_KEYS or key in meta or key in meta_blocks:
            continue
        if key == "dynamic":
            errors.extend(_check_dynamic(where, value, schema))
        elif _is_block(value):
            if key not in schema.blocks:
                hint = " (it is an argument: write `{key} = ...`)" if key in schema.arguments else ""
                errors.append(f"{where}: no block type named {key!r}{hint}")
                continue
            for i, nested in enumerate(value):
                errors.extend(check_body(f"{where}.{key}[{i}]", nested, schema.blocks[key]))
        elif key not in schema.arguments:
            hint = " (it is a block: write `{key} { ... }`)" if key in schema.blocks else ""
            errors.append(f"{where}: no argument named {key!r}{hint}")
    missing = sorted(schema.required - set(body))
    if missing:
        errors.append(f"{where}: missing required argument(s) {', '.join(missing)}")
    return errors


def _check_dynamic(where: str, value: Any, schema: Block) -> list[str]:
    errors: list[str] = []
    for block in value:
        for label, dyn in block.items():
            if label in _HCL2_KEYS:
                continue
            name = _unquote(label)
            if name not in schema.blocks:
                errors.append(f"{where}: dynamic {name!r}: no block type named {name!r}")
                continue
            unknown = sorted(set(dyn) - DYNAMIC_ARGUMENTS - {"content"} - _HCL2_KEYS)
            if unknown:
                errors.append(f"{where}: dynamic {name!r}: unexpected {', '.join(unknown)}")
            for content in dyn.get("content", []):
                errors.extend(check_body(f"{where}.dynamic[{name}].content", content, schema.blocks[name]))
    return errors


def check_file(path: Path, schemas: Schemas, *, root: Path) -> list[str]:
    errors: list[str] = []
    for kind, type_, name, body in blocks_of(load_raw(path)):
        where = f"{path.relative_to(root)}: {kind} {type_}{'.' + name if name else ''}"
        provider_name = type_ if kind == "provider" else provider_of(type_)
        try:
            provider = schemas(provider_name)
        except KeyError:
            errors.append(f"{where}: no schema is checked for provider {provider_name!r}")
            continue
        if kind == "provider":
            errors.extend(check_body(where, body, provider.config, meta=PROVIDER_META_ARGUMENTS))
            continue
        table = provider.resources if kind == "resource" else provider.data_sources
        if type_ not in table:
            errors.append(
                f"{where}: {provider.source} {provider.version} has no {'resource' if kind == 'resource' else 'data source'}"
                f" type {type_!r}"
            )
            continue
        errors.extend(
            check_body(where, body, table[type_], meta=RESOURCE_META_ARGUMENTS,
                       meta_blocks=RESOURCE_META_BLOCKS if kind == "resource" else DATA_META_BLOCKS)
        )
    return errors


def check_tree(root: Path, schemas: Schemas) -> list[str]:
    return [e for path in tf_files(root) for e in check_file(path, schemas, root=root)]


def required_providers(path: Path) -> dict[str, dict[str, str]]:
    """required_providers of one versions.tf: local name -> {source, version}."""
    found: dict[str, dict[str, str]] = {}
    for terraform in load_raw(path).get("terraform", []):
        for block in terraform.get("required_providers", []):
            for name, spec in block.items():
                if name not in _HCL2_KEYS:
                    found[name] = {k: _unquote(str(v)) for k, v in spec.items() if k not in _HCL2_KEYS}
    return found


def check_pins(root: Path, schemas: Schemas) -> list[str]:
    """Every required_providers entry pins exactly the provider version whose schema is checked."""
    errors: list[str] = []
    for path in sorted(root.rglob("versions.tf")):
        for name, spec in required_providers(path).items():
            where = f"{path.relative_to(root)}: required_providers.{name}"
            try:
                provider = schemas(name)
            except KeyError:
                errors.append(f"{where}: no schema is checked for this provider")
                continue
            if spec.get("source") != provider.source:
                errors.append(f"{where}: source {spec.get('source')!r}, the checked schema is {provider.source!r}")
            pinned = re.fullmatch(r"=?\s*(\S+)", spec.get("version", "").strip())
            if pinned is None or pinned.group(1) != provider.version:
                errors.append(
                    f"{where}: version {spec.get('version')!r} is not the checked schema's exact version "
                    f"{provider.version!r} ({provider.name} package {provider.package_version})"
                )
    return errors
