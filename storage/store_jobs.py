"""Heavy jobs as records, as part of the ``Store`` facade (see ``store.py``).

A build, an evaluation or an answer generation is one row from the moment it starts: its
phase and progress are updated while it runs, and it ends done (with the id of the vector or
evaluation it made), failed (with the message) or, when the process stopped under it,
interrupted (marked by the next start-up). A page opened later (a reload, a new sign-in)
reads the row to show the job and then its result.

Not audit events: a job is updated many times while it runs and the signed chain records what
it made when that is stored, so these transactions write without taking the chain's lock
(as ``record_api_use`` does).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Iterator
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from . import records, tables
from .coltypes import utcnow
from .db import translate_db_errors
from .errors import ConflictError, ValidationError
from .store_base import StoreBase

OPEN_STATES = ("queued", "running")
END_STATES = ("done", "failed")
ERROR_LEN = 2000


def _kind(kind: str) -> str:
    if kind not in tables.JOB_KINDS:
        raise ValidationError(f"A job is one of {', '.join(tables.JOB_KINDS)}, not {kind!r}.")
    return kind


def _number(value: float | None, what: str) -> float | None:
    """A finite number, at least 0 (None stays None)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(f"The job's {what} must be a finite number, not {value!r}.")
    return max(float(value), 0.0)


class JobsMixin(StoreBase):
    """Start, follow and end heavy jobs; mark those a stopped process left open."""

    @contextlib.contextmanager
    def _job_write(self) -> Iterator[Session]:
        with translate_db_errors(self.url):
            with Session(self._writer, expire_on_commit=False) as s, s.begin():
                yield s

    def start_job(
        self, user: str, kind: str, *, estimate_s: float | None = None
    ) -> records.StoredJob:
        """Record that ``user``'s job of ``kind`` (build, evaluation, generation) is running."""
        kind = _kind(kind)
        estimate = _number(estimate_s, "estimate (seconds)")
        with self._job_write() as s:
            self._user_row(s, user, doing="run jobs")
            now = utcnow()
            row = tables.JobRow(
                created_by=user,
                kind=kind,
                state="running",
                phase="",
                progress=0.0,
                seconds_left=estimate,
                estimate_s=estimate,
                told=False,
                started_at=now,
                updated_at=now,
            )
            s.add(row)
            s.flush()
            return records.StoredJob.from_row(row)

    def update_job(
        self,
        job_id: int,
        *,
        phase: str,
        progress: float,
        seconds_left: float | None = None,
        estimate_s: float | None = None,
    ) -> bool:
        """Where a running job stands: its phase, the share done (0 to 1), the time left (and,
        once known, the whole estimate). False when the job is no longer open (nothing changes).
        """
        share = _number(progress, "progress (0 to 1)")
        assert share is not None
        values: dict[str, object] = {
            "phase": str(phase)[: tables.PHASE_LEN],
            "progress": min(share, 1.0),
            "seconds_left": _number(seconds_left, "time left (seconds)"),
            "updated_at": utcnow(),
        }
        if estimate_s is not None:
            values["estimate_s"] = _number(estimate_s, "estimate (seconds)")
        with self._job_write() as s:
            changed = s.execute(
                update(tables.JobRow)
                .where(tables.JobRow.id == job_id, tables.JobRow.state.in_(OPEN_STATES))
                .values(**values)
            )
            return bool(cast(CursorResult[Any], changed).rowcount)

    def finish_job(
        self,
        job_id: int,
        state: str,
        *,
        result_id: int | None = None,
        error: str | None = None,
    ) -> records.StoredJob:
        """End a job: ``done`` (with the id of what it made, if anything) or ``failed`` (with
        the message the user saw). ConflictError when it had already ended."""
        if state not in END_STATES:
            raise ValidationError(f"A job ends done or failed, not {state!r}.")
        with self._job_write() as s:
            row = self._get(s, tables.JobRow, job_id, "job")
            if row.state not in OPEN_STATES:
                raise ConflictError(f"Job #{job_id} has already ended ({row.state}).")
            now = utcnow()
            row.state, row.result_id, row.finished_at, row.updated_at = state, result_id, now, now
            row.error = error[:ERROR_LEN] if error else None
            if state == "done":
                row.progress, row.seconds_left = 1.0, 0.0
            s.flush()
            return records.StoredJob.from_row(row)

    def interrupt_open_jobs(self) -> list[records.StoredJob]:
        """Mark every queued or running job interrupted: called once as the app starts, when
        no job of this database can still be running (the process that ran them is gone)."""
        with self._job_write() as s:
            rows = s.execute(
                select(tables.JobRow).where(tables.JobRow.state.in_(OPEN_STATES))
            ).scalars()
            now = utcnow()
            marked = []
            for row in rows:
                row.state, row.finished_at, row.updated_at = "interrupted", now, now
                marked.append(row)
            s.flush()
            return [records.StoredJob.from_row(r) for r in marked]

    def mark_job_told(self, job_id: int) -> None:
        """Record that the user's page has said how the job ended (an interruption is said once)."""
        with self._job_write() as s:
            self._get(s, tables.JobRow, job_id, "job").told = True

    def get_job(self, job_id: int) -> records.StoredJob:
        with self._read() as s:
            return records.StoredJob.from_row(self._get(s, tables.JobRow, job_id, "job"))

    def list_jobs(
        self, created_by: str | None = None, kinds: Iterable[str] | None = None
    ) -> list[records.StoredJob]:
        """Jobs (only ``created_by``'s, only of ``kinds``, when given), newest first."""
        stmt = select(tables.JobRow).order_by(tables.JobRow.id.desc())
        if created_by is not None:
            stmt = stmt.where(tables.JobRow.created_by == created_by)
        if kinds is not None:
            stmt = stmt.where(tables.JobRow.kind.in_([_kind(k) for k in kinds]))
        with self._read() as s:
            return [records.StoredJob.from_row(r) for r in s.execute(stmt).scalars()]

    def latest_job(
        self, created_by: str, kinds: Iterable[str] | None = None
    ) -> records.StoredJob | None:
        """``created_by``'s newest job (of ``kinds``, when given), or None."""
        stmt = select(tables.JobRow).where(tables.JobRow.created_by == created_by)
        if kinds is not None:
            stmt = stmt.where(tables.JobRow.kind.in_([_kind(k) for k in kinds]))
        with self._read() as s:
            row = s.execute(stmt.order_by(tables.JobRow.id.desc()).limit(1)).scalar()
            return records.StoredJob.from_row(row) if row is not None else None
