"""Where the published fixtures and the pinned API schemas live: verbatim copies in this repository
(``tests/fixtures/published`` and ``specs``, each with its SOURCES.md), so a clone is self-contained."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPECS_DIR = Path(os.environ.get("CHATOPS_SPECS_DIR") or ROOT / "specs")
PUBLISHED_FIXTURES = ROOT / "tests" / "fixtures" / "published"
