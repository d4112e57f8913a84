"""Stop sequences: an answer ends before the first occurrence of any of the caller's ``stop``
strings, which is never returned.

The decoding loop makes tokens; the text they decode to is only known here, so the check is on
text: :class:`StopText` is given the answer's whole decoded text so far and says how much of it
may be sent now. While the text ends in the beginning of a stop string, that beginning is held
back until the next tokens show whether the stop string follows (a stream never sends text past
a stop string, not even a part of one). Once a stop string appears the answer is over; the
caller cancels the ticket, so the row leaves the loop at its next step.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StopText:
    """The caller's stop strings (empty: none, every text may be sent)."""

    stops: tuple[str, ...] = ()

    def cut(self, text: str) -> int | None:
        """Where ``text`` ends: before the earliest stop string in it (None: none occurs)."""
        found = [i for i in (text.find(s) for s in self.stops) if i >= 0]
        return min(found) if found else None

    def safe(self, text: str) -> int:
        """How much of ``text`` (no stop string in it) may be sent: all but a tail that is the
        beginning of some stop string."""
        held = 0
        for stop in self.stops:
            for size in range(min(len(stop) - 1, len(text)), held, -1):
                if text.endswith(stop[:size]):
                    held = size
                    break
        return len(text) - held

    def settle(self, text: str) -> tuple[str, bool]:
        """The part of ``text`` that may be sent now, and whether a stop string ended it."""
        end = self.cut(text)
        if end is not None:
            return text[:end], True
        return text[: self.safe(text)], False
