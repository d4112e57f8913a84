"""What every part of the Compare tab asks first: the session's vector, the layers to steer and
a strength that is a number, so a bad choice is refused before any model work starts."""

from __future__ import annotations

import math

from dashboard.browser_state import BrowserSession
from dashboard.common import UserError
from steering.layers import layers_text, parse_layers
from steering.vectors import ControlVector


def need_vector(session: BrowserSession) -> ControlVector:
    """The session's vector, or a UserError saying to build one."""
    if session.vector is None or session.vector_id is None:
        raise UserError("Build a vector first (tab 3, Build).")
    return session.vector


def need_vector_id(session: BrowserSession) -> int:
    """The stored id of the session's vector (asked only after :func:`need_vector` passed)."""
    need_vector(session)
    assert session.vector_id is not None
    return session.vector_id


def steer_layers(session: BrowserSession, layers: str | None) -> list[int]:
    """The layers typed (else the recommended ones), checked against the vector's layers."""
    vector = need_vector(session)
    spec = (layers or "").strip() or layers_text(session.recommended) or "all"
    chosen = parse_layers(spec, max(vector.layers) + 1)
    missing = [i for i in chosen if i not in vector.directions]
    if missing:
        raise UserError(
            f"The vector was built without layer(s) {missing}; it covers "
            f"{layers_text(vector.layers)}."
        )
    return chosen


def finite_strength(strength: float | str | None) -> float:
    """``strength`` as a float, refused unless it is a finite number.

    Asked before generating: a NaN or infinite strength steers nothing sensible, and the audit
    event that records it could not be written after the work was done. A strength typed into
    the side-by-side list arrives as text.
    """
    if strength is None:
        raise UserError("Choose a strength: 0 means no steering, e.g. 0.5 steers gently.")
    try:
        value = float(strength)
    except (TypeError, ValueError) as error:
        raise UserError(
            f"The strength {strength!r} is not a number: use e.g. 0.5 or -1."
        ) from error
    if not math.isfinite(value):
        raise UserError(f"The strength {value} is not a finite number: use e.g. 0.5 or -1.")
    return value
