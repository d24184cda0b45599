"""The repository's copies of the published fixtures and schemas are verbatim: byte-identical to the
workplace's shared originals whenever those are present next to the checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.paths import PUBLISHED_FIXTURES, ROOT, SPECS_DIR

ORIGINAL = ROOT.parent / "shared"


@pytest.mark.parametrize(("copy", "original"), [(PUBLISHED_FIXTURES, ORIGINAL / "fixtures"),
                                                (SPECS_DIR, ORIGINAL / "specs")])
def test_copies_are_verbatim(copy: Path, original: Path) -> None:
    if not original.is_dir():
        pytest.skip(f"NOTICE: {original} is not next to this checkout; nothing to compare")
    originals = {p.relative_to(original): p.read_bytes() for p in original.rglob("*") if p.is_file()}
    copies = {p.relative_to(copy): p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    assert set(copies) >= set(originals)
    assert all(copies[k] == v for k, v in originals.items())
