"""JSON values the store keeps in its rows: checked to survive storage exactly, and hashed.

Shared by the parts of the store that keep caller-given dictionaries (a vector's lineage, an
evaluation's configuration and results) and hash them into audit events (those, and a
submission's frozen content). The hash is over canonical JSON (``canonical.py``), so anyone can
recompute it from the stored value.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .canonical import canonical_json
from .errors import ValidationError


def json_dict(value: Any, what: str) -> dict[str, Any]:
    """Check ``value`` is a JSON object that survives storage exactly; return a clean copy."""
    if not isinstance(value, dict):
        raise ValidationError(f"The {what} must be a dictionary (a JSON object).")
    try:
        text = canonical_json(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"The {what} cannot be stored as JSON ({exc}). Use numbers, text, lists and "
            "dictionaries with text keys, and null instead of NaN or infinity."
        ) from exc
    return json.loads(text)


def sha256_json(value: Any) -> str:
    """SHA-256 (hex) of the canonical JSON of ``value``."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()
