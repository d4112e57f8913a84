"""Progress reporting: the one callback type the engine takes, and a text bar for the command line."""

from __future__ import annotations

import sys
from collections.abc import Callable

ProgressCallback = Callable[[int, int], None]
"""``progress(done, total)``: called as work advances; the UI and the CLI each pass their own."""


def stderr_progress_bar(label: str) -> ProgressCallback:
    """A ``progress(done, total)`` callback that redraws one line on stderr."""

    def report(done: int, total: int) -> None:
        width = 30
        filled = int(width * done / max(total, 1))
        sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return report
