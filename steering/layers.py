"""Layer choices as text: parse what a user typed, and show a list back in the same compact form."""

from __future__ import annotations

from collections.abc import Sequence

from steering.errors import SteeringError


def parse_layers(spec: str | Sequence[int] | None, num_layers: int) -> list[int]:
    """``all``, ``A-B`` (inclusive), ``I,J,...`` or a list, checked against the model's depth."""
    if spec is None or (isinstance(spec, str) and spec.strip().lower() in ("", "all")):
        return list(range(num_layers))
    if isinstance(spec, str):
        layers: list[int] = []
        try:
            for part in spec.split(","):
                part = part.strip()
                if "-" in part[1:]:
                    low, high = part.split("-", 1)
                    layers.extend(range(int(low), int(high) + 1))
                else:
                    layers.append(int(part))
        except ValueError as error:
            raise SteeringError(
                f"Layers '{spec}' not understood: use 'all', a range like 10-20, or a list like 8,12,16."
            ) from error
    else:
        layers = [int(i) for i in spec]
    bad = [i for i in layers if not 0 <= i < num_layers]
    if bad:
        raise SteeringError(
            f"Layer(s) {bad} do not exist: this model has layers 0-{num_layers - 1}."
        )
    if not layers:
        raise SteeringError("No layers chosen.")
    return sorted(set(layers))


def layers_text(layers: Sequence[int]) -> str:
    """``[12, 13, 14]`` -> ``"12-14"``; ``[3, 7]`` -> ``"3,7"`` (both read back by parse_layers)."""
    layers = sorted(layers)
    if not layers:
        return ""
    if len(layers) > 1 and layers == list(range(layers[0], layers[-1] + 1)):
        return f"{layers[0]}-{layers[-1]}"
    return ",".join(str(i) for i in layers)
