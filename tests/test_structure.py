"""Issue 26 item 3: small units. No function in bot/, chatops/ or handlers/ over 60 lines, no module over 400.

What is over the limit today is listed below with its size: an offender may shrink or leave the list, never grow,
and nothing new may join it (a unit that passes a limit must be split, not added here). When a listed unit gets
under its limit, the test asks for its line to be deleted, so the list only goes down."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "chatops", "handlers")
MAX_FUNCTION = 60
MAX_MODULE = 400

# name -> lines when listed; shrink the number when you shrink the unit
KNOWN_FUNCTIONS: dict[str, int] = {
}
KNOWN_MODULES: dict[str, int] = {
    "bot/config.py": 662,
    "bot/store/store.py": 407,
    "bot/actions/release/lambda_release.py": 431,
}


def _units() -> tuple[dict[str, int], dict[str, int]]:
    functions: dict[str, int] = {}
    modules: dict[str, int] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            source = path.read_text()
            modules[rel] = source.count("\n")

            def walk(node: ast.AST, prefix: str, rel: str = rel) -> None:
                for child in ast.iter_child_nodes(node):
                    if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                        name = f"{prefix}{child.name}"
                        functions[f"{rel}::{name}"] = (child.end_lineno or child.lineno) - child.lineno + 1
                        walk(child, name + ".")
                    elif isinstance(child, ast.ClassDef):
                        walk(child, f"{prefix}{child.name}.")

            walk(ast.parse(source), "")
    return functions, modules


def _check(kind: str, sizes: dict[str, int], known: dict[str, int], limit: int) -> list[str]:
    problems = []
    for name, size in sorted(sizes.items()):
        if size <= limit:
            continue
        if name not in known:
            problems.append(f"new {kind} over {limit} lines: {name} ({size}); split it")
        elif size > known[name]:
            problems.append(f"{kind} {name} grew from {known[name]} to {size} lines; it may only shrink")
    for name, was in sorted(known.items()):
        if sizes.get(name, 0) <= limit:
            problems.append(f"{kind} {name} is no longer over {limit} lines (was {was}): delete its line above")
    return problems


def test_functions_and_modules_only_shrink() -> None:
    functions, modules = _units()
    problems = _check("function", functions, KNOWN_FUNCTIONS, MAX_FUNCTION)
    problems += _check("module", modules, KNOWN_MODULES, MAX_MODULE)
    assert problems == [], "\n".join(problems)


def test_the_check_sees_an_offender() -> None:
    """The walker measures what it should: a 61-line function and a 401-line module are caught."""
    assert _check("function", {"x.py::f": 61}, {}, MAX_FUNCTION) == [
        "new function over 60 lines: x.py::f (61); split it"]
    assert _check("module", {"x.py": 400}, {}, MAX_MODULE) == []
    assert _check("module", {"x.py": 500}, {"x.py": 450}, MAX_MODULE) == [
        "module x.py grew from 450 to 500 lines; it may only shrink"]
    functions, modules = _units()
    assert "bot/domain.py" in modules and "chatops/app.py::build_app" in functions
    assert any(name.startswith("handlers/") for name in functions)


def test_the_slow_first_list_names_existing_test_files() -> None:
    """tests/conftest.py starts these files first; a renamed one would silently go back to the end of the run."""
    from tests.conftest import SLOW_FIRST

    missing = [path for path in SLOW_FIRST if not (ROOT / path).is_file()]
    assert not missing, f"tests/conftest.py SLOW_FIRST names files that do not exist: {missing}"
