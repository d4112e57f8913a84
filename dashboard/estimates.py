"""How long a build or an evaluation will take, said before it starts, and the time left while it runs.

The estimate counts the job's work (:class:`steering.engine.timing.Work`: forward passes and
tokens, from the rows, the strengths and the answer options) and prices it at the model's pace on
this machine, measured once per loaded model with two tiny timed passes. After each job the ratio
of the time it really took to the estimate is remembered per model and kind of job, so the next
estimate follows what this model actually did here (other users' jobs, a busy CPU, a GPU).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dashboard.common import Progress
from steering.data.examples import Example
from steering.engine.models import LoadedModel
from steering.engine.timing import Pace, Work, generation_work, measure_pace, reading_work
from steering.evaluation.side_effects import neutral_paragraphs, neutral_prompts

# The engine's batch sizes for these jobs (steering.build and steering.evaluation defaults).
BUILD_BATCH = 16
EVALUATION_BATCH = 32
SIDE_EFFECT_BATCH = 16
SIDE_EFFECT_TOKENS = 24  # new tokens per neutral answer (steering.evaluation.side_effects)
# A remembered correction never moves an estimate more than this factor either way.
_MAX_CORRECTION = 5.0

_lock = threading.Lock()
# Per loaded model (by its torch module, so a model dropped from memory is forgotten with it).
_paces: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_corrections: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def pace(loaded: LoadedModel) -> Pace:
    """This model's pace here: measured on first use, then remembered."""
    with _lock:
        known = _paces.get(loaded.model)
    if known is None:
        known = measure_pace(loaded)
        with _lock:
            _paces[loaded.model] = known
    return known


def correction(loaded: LoadedModel, kind: str) -> float:
    """How much longer (>1) or shorter the last ``kind`` job on this model took than estimated."""
    with _lock:
        return _corrections.get(loaded.model, {}).get(kind, 1.0)


def remember(loaded: LoadedModel, kind: str, estimated: float, took: float) -> None:
    """Record how long a job really took, so the next estimate of its kind follows it."""
    if estimated <= 0 or took <= 0:
        return
    raw = took / (estimated / correction(loaded, kind))  # against the uncorrected estimate
    ratio = min(max(raw, 1 / _MAX_CORRECTION), _MAX_CORRECTION)
    with _lock:
        _corrections.setdefault(loaded.model, {})[kind] = ratio


def _pairs(rows: Sequence[Example], negatives: bool) -> list[tuple[str, str]]:
    texts = [(e.prompt, e.positive) for e in rows]
    if negatives:
        # Rows without a negative get a random letter string of about the same length.
        texts += [(e.prompt, e.negative or e.positive) for e in rows]
    return texts


BUILD_READING, BUILD_SCORING = "reading the build rows", "scoring each layer on held-out rows"


def build_texts(
    build_rows: Sequence[Example], heldout_rows: Sequence[Example], method: str
) -> dict[str, int]:
    """How many texts each build phase reads (what ``build_vector`` counts its progress in)."""
    return {
        BUILD_READING: len(build_rows) * (1 if method == "reading" else 2),
        BUILD_SCORING: 2 * len(heldout_rows),
    }


def build_work(
    loaded: LoadedModel, build_rows: Sequence[Example], heldout_rows: Sequence[Example], method: str
) -> dict[str, Work]:
    """Reading both sides of each build row (the positive only for 'reading'), then scoring
    layers on both sides of each held-out row."""
    return {
        BUILD_READING: reading_work(loaded, _pairs(build_rows, method != "reading"), BUILD_BATCH),
        BUILD_SCORING: reading_work(loaded, _pairs(heldout_rows, True), BUILD_BATCH),
    }


EVAL_BUILD = "build questions (choosing the strength)"
EVAL_HELDOUT = "held-out questions"
EVAL_SIDE_EFFECTS = "side effects on neutral text"


def _question_texts(rows: Sequence[Example]) -> list[tuple[str, str]]:
    """One text per answer option (or the answer alone), as multiple-choice scoring reads them."""
    return [(e.prompt, c) for e in rows for c in (e.choices or (e.answer or "",))]


def evaluation_work(
    loaded: LoadedModel,
    build_rows: Sequence[Example],
    heldout_rows: Sequence[Example],
    strengths: int,
    side_effects: bool,
    max_new_tokens: int = 48,
) -> dict[str, Work]:
    """The work of each phase: build questions, held-out questions, side effects."""
    phases = {}
    for name, rows in ((EVAL_BUILD, build_rows), (EVAL_HELDOUT, heldout_rows)):
        work = reading_work(loaded, _question_texts(rows), EVALUATION_BATCH) * strengths
        if any(not e.choices for e in rows):  # answers are generated, not picked
            open_rows = [e.prompt for e in rows if not e.choices]
            work += generation_work(loaded, open_rows, max_new_tokens, EVALUATION_BATCH) * strengths
        phases[name] = work
    if side_effects:
        paragraphs = [(p, "") for p in neutral_paragraphs()]
        phases[EVAL_SIDE_EFFECTS] = (
            reading_work(loaded, paragraphs, SIDE_EFFECT_BATCH)
            + generation_work(loaded, neutral_prompts(), SIDE_EFFECT_TOKENS, SIDE_EFFECT_BATCH)
        ) * strengths
    return phases


@dataclass(frozen=True)
class Estimate:
    """Seconds a job should take, by phase, in the order they run."""

    kind: str
    phases: dict[str, float]

    @property
    def seconds(self) -> float:
        return sum(self.phases.values())

    @property
    def words(self) -> str:
        return duration_words(self.seconds)


def estimate(loaded: LoadedModel, kind: str, phases: dict[str, Work]) -> Estimate:
    """Price each phase's work at this model's pace, corrected by its recent jobs."""
    speed, factor = pace(loaded), correction(loaded, kind)
    return Estimate(kind, {name: speed.seconds(w) * factor for name, w in phases.items()})


def duration_words(seconds: float) -> str:
    """A duration as people say it: "a few seconds", "about 40 seconds", "about 2 minutes"."""
    if seconds < 10:
        return "a few seconds"
    if seconds < 55:
        return f"about {max(10, round(seconds / 10) * 10)} seconds"
    if seconds < 90:
        return "about a minute"
    if seconds < 3600:
        return f"about {round(seconds / 60)} minutes"
    hours = seconds / 3600
    return "about an hour" if hours < 1.5 else f"about {round(hours)} hours"


def cumulative(counts: dict[str, int]) -> list[tuple[str, int]]:
    """Each phase with the count at which it ends, for :func:`phased_progress`."""
    ends, total = [], 0
    for name, count in counts.items():
        total += count
        ends.append((name, total))
    return ends


def phased_progress(
    report: Progress,
    expected: Estimate,
    bounds: Sequence[tuple[str, int]],
    clock: Callable[[], float] = time.monotonic,
    on_update: Callable[[str, float], None] | None = None,
) -> Progress:
    """A progress callback naming the running phase and the time left.

    ``on_update`` also gets each update as (phase, seconds left): the job's record keeps them.

    ``bounds`` pairs each counted phase with the ``done`` count at which it ends (the engine
    reports one count through them); the estimate's other phases run after the count is complete
    (side effects), and the bar names the first of them then. The time left is the estimate's
    until a tenth of the counted work is done, then what the pace so far predicts.
    """
    started = clock()
    counted = [name for name, _ in bounds]
    after = [name for name in expected.phases if name not in counted]
    counted_seconds = sum(expected.phases.get(name, 0.0) for name in counted)
    after_seconds = sum(expected.phases[name] for name in after)
    finished_at: list[float] = []

    def update(done: int, total: int, _what: str = "") -> None:
        now = clock()
        if done >= total and after:
            finished_at[:] = finished_at or [now]
            phase, left = after[0], max(after_seconds - (now - finished_at[0]), 0.0)
        else:
            phase = next((name for name, end in bounds if done < end), counted[-1])
            share = done / max(total, 1)
            elapsed = now - started
            left = elapsed / share * (1 - share) if share >= 0.1 else counted_seconds - elapsed
            left = max(left, 0.0) + after_seconds
        named = f"{phase[:1].upper()}{phase[1:]}"
        report(done, total, f"{named} · {duration_words(left)} left")
        if on_update is not None:
            on_update(named, left)

    return update
