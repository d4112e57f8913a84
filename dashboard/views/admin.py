"""The Admin tab's presenters: the accounts and their failed sign-ins."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import pandas as pd

from storage import StoredAuditEvent, StoredUser

USER_COLUMNS = ["name", "role", "active", "failed sign-ins"]


def users_table(
    users: Iterable[StoredUser], failed: Iterable[StoredAuditEvent] = ()
) -> pd.DataFrame:
    """One row per account; ``failed`` are failed sign-in events, counted per account name."""
    counts = Counter(event.object_id for event in failed)
    rows = [[u.name, u.role, "yes" if u.active else "no", counts.get(u.name, 0)] for u in users]
    return pd.DataFrame(rows, columns=USER_COLUMNS)
