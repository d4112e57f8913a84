"""Heavy jobs as records: each build, evaluation and answer generation is a row in the store
from its start to its end, so a page opened later (a reload, a new sign-in, a second browser
tab) shows the job, its progress and then its result, and a restart says it was interrupted.

Built on today's one-job rule (:func:`dashboard.common.one_job`): a second job of the same user
is still refused at once. The record is created when the job starts, its phase and progress are
written as it runs (at most every ``PROGRESS_EVERY_S`` seconds, and at each new phase: never per
token or row), and it ends done with the id of what it made, or failed with the message.

What the page says of a record is here too (:func:`status_markdown`). No gradio: the tabs poll
the record with a ``gr.Timer`` and show that text.
"""

from __future__ import annotations

import html
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from dashboard.common import KNOWN_ERRORS, one_job
from dashboard.estimates import duration_words
from storage import StorageError, Store, StoredJob

BUILD, EVALUATION, GENERATION = "build", "evaluation", "generation"
# What the refusal of a second job calls each kind.
KIND_WORDS = {BUILD: "build", EVALUATION: "evaluation", GENERATION: "answer generation"}
PROGRESS_EVERY_S = 1.0

log = logging.getLogger(__name__)


class JobRecord:
    """The running job's row: where it stands, written to the store now and then."""

    def __init__(
        self,
        store: Store,
        job: StoredJob,
        clock: Callable[[], float] = time.monotonic,
        every_s: float = PROGRESS_EVERY_S,
    ) -> None:
        self.store, self.job, self.clock, self.every_s = store, job, clock, every_s
        self.started = clock()
        self.result_id: int | None = None
        self._estimate: float | None = None
        self._last_write: float | None = None
        self._last_phase: str | None = None

    @property
    def id(self) -> int:
        return self.job.id

    def expect(self, seconds: float) -> None:
        """The job's whole estimate, once it is known (measuring the pace takes a moment)."""
        self._estimate = float(seconds)
        self._write("", 0.0, float(seconds), self.clock())

    def progress(self, phase: str, seconds_left: float) -> None:
        """Where the job is: throttled, except that a new phase is always written."""
        now = self.clock()
        due = self._last_write is None or now - self._last_write >= self.every_s
        if not due and phase == self._last_phase:
            return
        elapsed = now - self.started
        share = elapsed / (elapsed + seconds_left) if elapsed + seconds_left > 0 else 0.0
        self._write(phase, share, seconds_left, now)

    def made(self, result_id: int) -> None:
        """The id of the vector or evaluation the job stored: the record names it when done."""
        self.result_id = int(result_id)

    def _write(self, phase: str, share: float, seconds_left: float, now: float) -> None:
        self._last_write, self._last_phase = now, phase
        try:
            self.store.update_job(
                self.job.id,
                phase=phase,
                progress=share,
                seconds_left=seconds_left,
                estimate_s=self._estimate,
            )
        except StorageError as error:  # a missed update must not stop the work
            log.warning("Could not record the progress of job #%s: %s", self.job.id, error)


def failure_words(error: BaseException) -> str:
    """What a failed job's record says: the user's message, or that something unexpected broke."""
    if isinstance(error, KNOWN_ERRORS):
        return str(error)
    return f"an unexpected error stopped it ({type(error).__name__}); the server log has details"


@contextmanager
def tracked_job(
    store: Store, user: str, kind: str, clock: Callable[[], float] = time.monotonic
) -> Iterator[JobRecord]:
    """Run a heavy job of ``user`` under the one-job rule, as a record from start to end.

    Refused at once (a UserError) while another job of the user runs. The body calls
    ``record.expect``, ``record.progress`` and ``record.made``; the record ends done when the
    body returns and failed when it raises (the error goes on). An end that cannot be written is
    logged, not raised: the work is already stored, and the next start-up marks the record
    interrupted.
    """
    with one_job(user, KIND_WORDS[kind]):
        record = JobRecord(store, store.start_job(user, kind), clock)
        try:
            yield record
        except Exception as error:
            _finish(store, record, "failed", failure_words(error))
            raise
        # Anything else (the process stopping) leaves the record open: the next start-up marks
        # it interrupted, which is what happened to it.
        _finish(store, record, "done", None)


def _finish(store: Store, record: JobRecord, state: str, error: str | None) -> None:
    try:
        store.finish_job(record.id, state, result_id=record.result_id, error=error)
    except StorageError as problem:
        log.warning("Could not record the end of job #%s: %s", record.id, problem)


# ------------------------------------------------------------------ what the page says of a job


def _ago(job: StoredJob, now: datetime) -> str:
    seconds = max((now - job.started_at).total_seconds(), 0.0)
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} minutes ago"
    return f"at {job.started_at:%H:%M} UTC on {job.started_at:%-d %b}"


def seconds_left(job: StoredJob, now: datetime) -> float | None:
    """The time left now: as the job last said, less the time since it said so."""
    if job.seconds_left is None:
        return None
    return max(job.seconds_left - (now - job.updated_at).total_seconds(), 0.0)


def _progress_line(job: StoredJob) -> str:
    percent = round(100 * min(max(job.progress, 0.0), 1.0))
    phase = f" · {html.escape(job.phase)}" if job.phase else ""
    return f'<progress value="{percent}" max="100"></progress> {percent} % done{phase}'


def status_markdown(job: StoredJob, now: datetime) -> str:
    """What the job's tab says of it: running (with its progress), done, failed, interrupted."""
    what = KIND_WORDS.get(job.kind, job.kind)
    if job.open:
        left = seconds_left(job, now)
        timing = f"started {_ago(job, now)}"
        if left is not None:
            timing += ", almost done" if left < 1 else f", {duration_words(left)} left"
        if job.kind == GENERATION:
            then = "its answers go to the page that asked for them, so ask again when it is done"
        else:
            then = "its result will appear here"
        return f"**Your {what} ({timing}) is still running; {then}.**\n\n{_progress_line(job)}"
    if job.state == "interrupted":
        return (
            f"**Your {what} started {_ago(job, now)} was interrupted when the app restarted, so "
            "it has no result; run it again.**"
        )
    if job.state == "failed":
        reason = html.escape(job.error or "no reason was recorded")
        return f"**Your {what} (started {_ago(job, now)}) failed:** {reason}"
    if job.kind == GENERATION:
        return (
            f"Your {what} (started {_ago(job, now)}) has finished; answers are not kept, so "
            "generate them again to see them."
        )
    return f"Your {what} (started {_ago(job, now)}) has finished: its result is below."
