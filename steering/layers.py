"""Layer choices as text: parse what a user typed, and show a list back in the same compact form."""

from __future__ import annotations

from collections.abc import Sequence

from steering.errors import SteeringError


def parse_layers(spec: str | Sequence[int] | None, num_layers: int) -> list[int]:
    """``all``, ``A-B`` (inclusive), ``I,J,...`` or a list, checked against the model's depth.

    Every number is checked against the depth before any list is built, so a short spec such as
    ``0-10000000`` costs nothing, and messages name at most a few bad values.
    """
    if spec is None or (isinstance(spec, str) and spec.strip().lower() in ("", "all")):
        return list(range(num_layers))
    last = num_layers - 1
    if isinstance(spec, str):
        if len(spec) > MAX_SPEC_CHARS:
            raise SteeringError(
                f"The layer list is too long ({len(spec)} characters): use a range like 10-20."
            )
        spans = [_span(part.strip(), spec) for part in spec.split(",")]
    else:
        spans = [(int(i), int(i)) for i in spec]
    bad = [f"{low}-{high}" if low != high else str(low)
           for low, high in spans if not (0 <= low <= high <= last)]  # fmt: skip
    if bad:
        shown = ", ".join(bad[:MAX_NAMED]) + (
            f" and {len(bad) - MAX_NAMED} more" if len(bad) > MAX_NAMED else ""
        )
        raise SteeringError(f"Layer(s) {shown} do not exist: this model has layers 0-{last}.")
    if not spans:
        raise SteeringError("No layers chosen.")
    return sorted({i for low, high in spans for i in range(low, high + 1)})


MAX_SPEC_CHARS = 1000
MAX_NAMED = 3


def _span(part: str, spec: str) -> tuple[int, int]:
    """One part of a layer spec: ``"7"`` -> (7, 7), ``"10-20"`` -> (10, 20)."""
    try:
        if "-" in part[1:]:
            low, high = (int(x) for x in part.split("-", 1))
        else:
            low = high = int(part)
    except ValueError as error:
        raise SteeringError(
            f"Layers '{spec[:40]}' not understood: use 'all', a range like 10-20, or a list like 8,12,16."
        ) from error
    if high < low:
        raise SteeringError(
            f"The layer range {low}-{high} runs backwards: write it as {high}-{low}."
        )
    return low, high


def layers_text(layers: Sequence[int]) -> str:
    """``[12, 13, 14]`` -> ``"12-14"``; ``[3, 7]`` -> ``"3,7"`` (both read back by parse_layers)."""
    layers = sorted(layers)
    if not layers:
        return ""
    if len(layers) > 1 and layers == list(range(layers[0], layers[-1] + 1)):
        return f"{layers[0]}-{layers[-1]}"
    return ",".join(str(i) for i in layers)
