"""Teams mention stripping: the old regular expressions against ``strip_markup`` on hostile texts.

Run: ``python -m bench.mentions``. Prints seconds per call; the old pair is quadratic on ``"<at>" * n``.
"""

from __future__ import annotations

import re
import time

from bot.egress.teams_bot import strip_markup

_OLD_MENTION = re.compile(r"<at>.*?</at>", re.IGNORECASE | re.DOTALL)
_OLD_TAG = re.compile(r"<[^>]+>")


def _old(text: str) -> str:
    return _OLD_TAG.sub(" ", _OLD_MENTION.sub(" ", text))


def _seconds(fn: object, text: str) -> float:
    started = time.perf_counter()
    fn(text)  # type: ignore[operator]
    return time.perf_counter() - started


def main() -> None:
    print(f"{'input':<22}{'old regex s':>14}{'strip_markup s':>16}")
    for unit in ("<at>", "<"):
        for kb in (16, 32, 128):
            text = unit * (kb * 1024 // len(unit))
            old = f"{_seconds(_old, text):.4f}" if kb <= 32 else "(skipped)"
            print(f"{unit!r} x {kb} KB".ljust(22) + f"{old:>14}{_seconds(strip_markup, text):>16.4f}")


if __name__ == "__main__":
    main()
