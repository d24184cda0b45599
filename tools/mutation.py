"""``make mutation``: mutmut on the modules that decide who may act and what alerts (docs/testing.md).

    python tools/mutation.py --modules bot/identity/rbac.py ... --tests tests/unit/... [--skip TEST_ID ...]

The Makefile holds the lists (``MUTATE``, ``MUTATION_TESTS``, ``MUTATION_SKIP``). This script writes mutmut's
configuration from them (``setup.cfg``, git-ignored; mutmut 3 reads ``[mutmut]`` there when pyproject has no
``[tool.mutmut]``), runs ``mutmut run``, then prints each module's score counting only the mutants that can change
behaviour: the ones named in ``tools/mutation-equivalent.txt`` (each with the reason it cannot) are left out. It exits
1 when a module scores under ``--min-score`` or when a mutant listed as equivalent was killed (the list is stale).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENT = ROOT / "tools" / "mutation-equivalent.txt"
# what the selected tests read besides bot/ and tests/ (mutmut copies those into mutants/)
ALSO_COPY = ("examples/", "sandbox/", "specs/")
DETECTED = {"killed", "timeout", "segfault"}  # a test run that fails, hangs or dies noticed the mutant
_RESULT = re.compile(r"^\s*(\S+): (.+)$")


def write_config(modules: list[str], tests: list[str], skip: list[str]) -> None:
    def block(key: str, values: list[str] | tuple[str, ...]) -> str:
        return f"{key}=\n" + "".join(f"    {v}\n" for v in values)

    text = (
        "# written by tools/mutation.py from the Makefile's MUTATE and MUTATION_TESTS: edit those, not this\n"
        "[mutmut]\n"
        "source_paths=bot/\n"
        + block("only_mutate", modules)
        + block("pytest_add_cli_args_test_selection", tests)
        + block("pytest_add_cli_args", ["-p", "no:cacheprovider", "-q", *(f"--deselect={t}" for t in skip)])
        + block("also_copy", ALSO_COPY)
    )
    (ROOT / "setup.cfg").write_text(text, encoding="utf-8")


def equivalents() -> dict[str, str]:
    """Mutant name -> why it cannot change behaviour."""
    out: dict[str, str] = {}
    for line in EQUIVALENT.read_text(encoding="utf-8").splitlines():
        name, _, why = line.partition("#")
        if name.strip():
            out[name.strip()] = why.strip()
    return out


def results() -> dict[str, str]:
    """Every mutant's status, from ``mutmut results --all true``."""
    proc = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    return {m.group(1): m.group(2).strip() for m in map(_RESULT.match, proc.stdout.splitlines()) if m}


def module_of(mutant: str, modules: list[str]) -> str | None:
    for path in modules:
        if mutant.startswith(path.removesuffix(".py").replace("/", ".") + "."):
            return path
    return None


def report(modules: list[str], min_score: float) -> int:
    status = results()
    equivalent = equivalents()
    failed = 0
    stale = [n for n, s in status.items() if n in equivalent and s in DETECTED]
    for name in stale:
        print(f"STALE: {name} is listed as equivalent but was {status[name]}")
    print(f"{'module':28} {'mutants':>7} {'equiv':>5} {'detected':>8} {'score':>7}  (raw)")
    for path in modules:
        mine = {n: s for n, s in status.items() if module_of(n, modules) == path}
        counts = Counter(mine.values())
        detected = sum(counts[s] for s in DETECTED)
        eq = sum(1 for n, s in mine.items() if n in equivalent and s not in DETECTED)
        counted = len(mine) - eq
        score = 100.0 * detected / counted if counted else 100.0
        raw = 100.0 * detected / len(mine) if mine else 100.0
        print(f"{path:28} {len(mine):7} {eq:5} {detected:8} {score:6.1f}%  ({raw:.1f}%)")
        for n, s in sorted(mine.items()):
            if s not in DETECTED and n not in equivalent:
                print(f"    {s}: {n}")
        if not mine or "not checked" in counts or score < min_score:
            failed = 1
    return 1 if failed or stale else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modules", nargs="+", required=True)
    ap.add_argument("--tests", nargs="+", required=True)
    ap.add_argument("--skip", nargs="*", default=[], help="test ids left out of the run (slow property tests)")
    ap.add_argument("--max-children", type=int, default=1)
    ap.add_argument("--min-score", type=float, default=95.0)
    ap.add_argument("--report-only", action="store_true", help="score the last run without running mutmut")
    args = ap.parse_args(argv)
    if not args.report_only:  # a report reads the last run's configuration as it was
        write_config(args.modules, args.tests, args.skip)
        # mutmut keeps which tests reach which function (mutants/mutmut-stats.json) from run to run: after a test
        # is renamed or parametrized it runs ids that no longer exist and counts the mutants as survivors
        shutil.rmtree(ROOT / "mutants", ignore_errors=True)
        subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", str(args.max_children)],  # noqa: S603
                       cwd=ROOT, check=True)
    return report(args.modules, args.min_score)


if __name__ == "__main__":
    sys.exit(main())
