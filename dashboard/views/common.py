"""What several presenters share: text made safe for Markdown, numbers as people read them,
long text on one line, and where a vector came from in one sentence."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# Shown in a narrow window over a table wider than it (the app's CSS and the report's show it
# only there): the columns on the right are a sideways scroll away.
SCROLL_CUE = "The table is wider than the window: scroll it sideways for more columns →"

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|<>~])")


def md(text: object) -> str:
    """User-provided text made inert inside Markdown: no HTML, no formatting."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


def number(value: float | int | None, digits: int = 4) -> str:
    """A number as people read it: rounded to ``digits`` places, whole numbers without ".0"."""
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    rounded = round(float(value), digits) + 0.0  # + 0.0 turns -0.0 into 0.0
    return f"{rounded:.{digits}f}".rstrip("0").rstrip(".")


def one_line(text: str, limit: int = 240) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def vector_origin(lineage: Mapping[str, Any]) -> str:
    """Where a vector came from, in one plain sentence (plain text: escape it for Markdown/HTML).

    An imported file is named with the start of its sha256 and the model its maker named
    (``controlvector.model_hint``); a vector built here names its example set.
    """
    if lineage.get("source") == "imported":
        digest = str(lineage.get("source_sha256") or "")
        hint = str(lineage.get("model_hint") or "") or "a model it does not name"
        return (
            f"Imported from {lineage.get('source_file') or 'a GGUF file'} "
            f"(sha256 {digest[:16]}…, made for {hint})"
        )
    name = str(lineage.get("dataset_name") or "")
    digest = str(lineage.get("dataset_hash") or "")
    where = f"the example set '{name}'" if name else "an example set"
    if digest:
        where += f" (content hash {digest[:16]}…)"
    return f"Built in this lab from {where}"
