"""The byte-stable encodings the audit chain hashes: canonical JSON and the event timestamp.

Kept apart from ``audit.py`` so that the records (which parse stored events) and the exports can
use them without importing the chain logic. Changing either function would break every stored
chain, so they never change.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def canonical_json(obj: Any) -> str:
    """Sorted keys, no spaces, non-ASCII kept, NaN refused: the one serialisation that is hashed."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def format_ts(moment: datetime) -> str:
    """ISO 8601 UTC with microseconds and "Z"; text order is time order."""
    return moment.astimezone(UTC).strftime(TS_FORMAT)


def parse_ts(text: str) -> datetime:
    return datetime.strptime(text, TS_FORMAT).replace(tzinfo=UTC)
