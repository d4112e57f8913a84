"""A text progress bar on stderr for the command line (the UI uses its own)."""

from __future__ import annotations

import sys
from collections.abc import Callable


def stderr_progress_bar(label: str) -> Callable[[int, int], None]:
    """A ``progress(done, total)`` callback that redraws one line on stderr."""

    def report(done: int, total: int) -> None:
        width = 30
        filled = int(width * done / max(total, 1))
        sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return report
