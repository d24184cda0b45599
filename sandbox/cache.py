"""Where the tests and the rehearsal keep what they can rebuild from its inputs, outside the repository so fresh
clones reuse it (issue 27 item 1): ``$XDG_CACHE_HOME/chatops`` (``~/.cache/chatops``). Each entry is named by a
hash of its inputs; infra/scripts/checkov.sh keeps its venv there too."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "chatops"
