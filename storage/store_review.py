"""Submissions and their review, as part of the ``Store`` facade (see ``store.py``).

A draft (a vector, a strength, layers, an evaluation) is submitted, which freezes its content and
puts the content's hash into the audit trail; reviewers approve or reject it, and may later
revoke an approval. Who may do what and which states follow which are asked of ``workflow.py``,
the one owner of those rules; this module applies them to fresh rows inside one unit of work and
refuses stale decisions (``expected_version``) with a ConflictError.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import audit, records, tables, workflow
from .errors import ConflictError, PermissionDeniedError, ValidationError
from .json_values import sha256_json
from .store_base import StoreBase
from .vector_file import export_problem


def _submission(
    row: tables.SubmissionRow, reviews: list[tables.ReviewRow] | tuple[()] = ()
) -> records.StoredSubmission:
    """The frozen submission with its reviews (in the order they were made)."""
    return records.StoredSubmission.from_row(
        row, reviews=tuple(records.StoredReview.from_row(r) for r in reviews)
    )


class ReviewMixin(StoreBase):
    """Submissions: create, submit, review, revoke, read back and check."""

    def _check_evaluation(
        self,
        s: Session,
        evaluation_id: int | None,
        vector_id: int,
        strength: float,
        layers: list[int],
    ) -> float:
        """The evaluated strength the draft stands for; refused unless the evaluation tested it."""
        if evaluation_id is None:
            return float(strength)
        ev = self._get(s, tables.EvaluationRow, evaluation_id, "evaluation")
        if ev.vector_id != vector_id:
            raise ValidationError(
                f"Evaluation {evaluation_id} was run on vector {ev.vector_id}, not on vector "
                f"{vector_id}; attach an evaluation of this vector."
            )
        return workflow.check_evaluated(strength, layers, evaluation_id, ev.config, ev.results)

    def _check_exportable(self, vector: tables.VectorRow) -> None:
        """Refuse a vector whose file could not be exported (unreadable, or inf/NaN values)."""
        problem = export_problem(self.files.read(vector.content_hash))
        if problem is not None:
            raise ValidationError(
                f"Vector {vector.id} cannot be submitted: {problem}, so it could not be "
                "exported after approval. Build the vector again."
            )

    def _load_for_change(
        self, s: Session, submission_id: int, expected_version: int
    ) -> tables.SubmissionRow:
        row: tables.SubmissionRow = self._get(s, tables.SubmissionRow, submission_id, "submission")
        if row.version != expected_version:
            last = s.execute(
                select(tables.AuditEventRow)
                .where(
                    tables.AuditEventRow.object_type == "submission",
                    tables.AuditEventRow.object_id == str(submission_id),
                )
                .order_by(tables.AuditEventRow.seq.desc())
                .limit(1)
            ).scalar()
            who = f" by {last.actor}" if last is not None else ""
            raise ConflictError(
                f"Submission {submission_id} was changed{who} after you opened it (it is now "
                f"{row.status}); your action was not applied. Reload it and decide again."
            )
        return row

    def _reviews(self, s: Session, submission_id: int) -> list[tables.ReviewRow]:
        stmt = (
            select(tables.ReviewRow)
            .where(tables.ReviewRow.submission_id == submission_id)
            .order_by(tables.ReviewRow.id)
        )
        return list(s.execute(stmt).scalars())

    def create_submission(
        self,
        vector_id: int,
        strength: float,
        layers: list[int] | tuple[int, ...],
        evaluation_id: int | None,
        actor: str,
    ) -> records.StoredSubmission:
        """Start a draft: a vector with the chosen strength, layers and evaluation.

        With an evaluation, the strength and layers must be ones it tested (see
        :func:`workflow.check_evaluated`); strength 0 and non-finite strengths are refused.
        ``submit`` checks again, requires the evaluation and refuses a vector file with
        infinite or NaN values.
        """
        layers = workflow.check_draft_content(strength, layers)
        with self._write() as s:
            return _submission(
                self._new_draft(s, vector_id, strength, layers, evaluation_id, actor)
            )

    def _new_draft(
        self,
        s: Session,
        vector_id: int,
        strength: float,
        layers: list[int],
        evaluation_id: int | None,
        actor: str,
    ) -> tables.SubmissionRow:
        """Check and add a draft (``layers`` already checked) and its ``submission.create`` event."""
        self._actor(s, actor, doing="create submissions")
        self._get(s, tables.VectorRow, vector_id, "vector")
        strength = self._check_evaluation(s, evaluation_id, vector_id, strength, layers)
        now = datetime.now(UTC)
        row = tables.SubmissionRow(
            vector_id=vector_id,
            strength=float(strength),
            layers=layers,
            evaluation_id=evaluation_id,
            status=workflow.DRAFT,
            created_by=actor,
            created_at=now,
            updated_at=now,
        )
        details = {
            "vector_id": vector_id,
            "strength": float(strength),
            "layers": layers,
            "evaluation_id": evaluation_id,
        }
        return audit.add_with_event(s, row, actor, "submission.create", "submission", details)

    @staticmethod
    def _frozen_content(s: Session, row: tables.SubmissionRow) -> dict[str, Any]:
        """What a submission *is*: hashing this at submit time freezes it in the audit trail."""
        # The foreign key guarantees the vector exists, so a missing one is a crash, not a None.
        vector = s.get_one(tables.VectorRow, row.vector_id)
        evaluation = s.get(tables.EvaluationRow, row.evaluation_id) if row.evaluation_id else None
        return {
            "submission_id": row.id,
            "vector_id": row.vector_id,
            "vector_content_hash": vector.content_hash,
            "vector_lineage_hash": sha256_json(vector.lineage),
            "strength": row.strength,
            "layers": list(row.layers),
            "evaluation_id": row.evaluation_id,
            "evaluation_results_hash": evaluation.results_hash if evaluation else None,
            "created_by": row.created_by,
        }

    def submit(
        self,
        submission_id: int,
        actor: str,
        expected_version: int,
        reason: str | None = None,
    ) -> records.StoredSubmission:
        """Send a draft for review; its content is frozen and its hash goes into the audit trail.

        A strength the evaluation did not choose, or an evaluation that does not recommend
        deploying (:func:`workflow.against_evidence`), is not refused: the submit event carries
        ``against_evidence`` with the concern and the builder's ``reason``.
        """
        reason = workflow.check_reason(reason)
        with self._write() as s:
            self._actor(s, actor, doing="submit for review")
            row = self._load_for_change(s, submission_id, expected_version)
            self._freeze(s, row, actor, reason)
            return _submission(row, self._reviews(s, row.id))

    def create_and_submit(
        self,
        vector_id: int,
        strength: float,
        layers: list[int] | tuple[int, ...],
        evaluation_id: int | None,
        by: str,
        reason: str | None = None,
    ) -> records.StoredSubmission:
        """Create a draft and submit it in one unit of work: one user action, one transaction.

        Every check of :meth:`create_submission` and :meth:`submit` applies; when any refuses,
        the whole action is refused and neither the draft nor an audit event is left behind (a
        retry does not pile up drafts). On success the events are exactly those of the two
        calls in turn: ``submission.create`` then ``submission.submit``.
        """
        layers = workflow.check_draft_content(strength, layers)
        reason = workflow.check_reason(reason)
        with self._write() as s:
            # _new_draft checks the acting user, and submitting asks nothing more of them.
            row = self._new_draft(s, vector_id, strength, layers, evaluation_id, by)
            self._freeze(s, row, by, reason)
            return _submission(row, self._reviews(s, row.id))

    def _freeze(
        self, s: Session, row: tables.SubmissionRow, actor: str, reason: str | None
    ) -> None:
        """Check and submit a draft (its actor already checked): freeze its content and audit
        its hash (``submission.submit``)."""
        submission_id = row.id
        workflow.check_transition(submission_id, row.status, workflow.SUBMITTED)
        if row.created_by != actor:
            raise PermissionDeniedError(
                f"Only {row.created_by}, who created submission {submission_id}, can submit it."
            )
        if row.evaluation_id is None:
            raise ValidationError(
                f"Submission {submission_id} has no evaluation: reviewers need the evidence. "
                "Run an evaluation and attach it before submitting."
            )
        # Checked again here: drafts made before this rule, or edited behind the store.
        workflow.check_draft_content(row.strength, list(row.layers))
        self._check_evaluation(s, row.evaluation_id, row.vector_id, row.strength, list(row.layers))
        self._check_exportable(s.get_one(tables.VectorRow, row.vector_id))
        content = self._frozen_content(s, row)
        content_hash = sha256_json(content)
        details: dict[str, Any] = {"content_hash": content_hash, "content": content}
        evaluation = s.get_one(tables.EvaluationRow, row.evaluation_id)
        concern = workflow.against_evidence(row.strength, evaluation.results, evaluation.outcome)
        if concern is not None:
            flag = workflow.AgainstEvidence(concern, reason)
            details["against_evidence"] = flag.to_dict()
        row.status = workflow.SUBMITTED
        row.content_hash = content_hash
        row.updated_at = datetime.now(UTC)
        s.flush()
        audit.append(s, actor, "submission.submit", "submission", row.id, details)

    def _decide(
        self,
        submission_id: int,
        target: str,
        decision: str,
        comment: str,
        actor: str,
        expected_version: int,
    ) -> records.StoredSubmission:
        comment = workflow.check_comment(comment, decision)
        with self._write() as s:
            user = self._user_row(s, actor, doing=f"{decision} submissions")
            row = self._load_for_change(s, submission_id, expected_version)
            refused = workflow.refusal(
                decision,
                actor=actor,
                role=user.role,
                creator=row.created_by,
                status=row.status,
                submission_id=submission_id,
            )
            if refused is not None:
                raise refused.error(refused)
            if target != workflow.REVOKED and self._frozen_hash(s, row) != row.content_hash:
                raise workflow.WorkflowError(
                    f"Submission {submission_id} no longer matches the content frozen when it was "
                    "submitted; it cannot be reviewed. Report this to an admin."
                )
            previous = row.status
            details: dict[str, Any] = {
                "from": previous,
                "to": target,
                "comment": comment,
                "content_hash": row.content_hash,
            }
            flag = self._against_evidence(s, row.id) if decision == "approve" else None
            if flag is not None:
                # The approval records that the reviewer approved knowing it.
                details["against_evidence"] = flag.to_dict()
            row.status = target
            row.updated_at = datetime.now(UTC)
            review = tables.ReviewRow(
                submission_id=row.id, decision=decision, comment=comment, reviewer=actor
            )
            # The event is about the submission the review decides, not the review row.
            audit.add_with_event(
                s, review, actor, f"submission.{decision}", "submission", details, object_id=row.id
            )
            return _submission(row, self._reviews(s, row.id))

    @staticmethod
    def _against_evidence(s: Session, submission_id: int) -> workflow.AgainstEvidence | None:
        """The flag its (latest) submit event carries, if the submission went against evidence."""
        event = s.execute(
            select(tables.AuditEventRow)
            .where(
                tables.AuditEventRow.object_type == "submission",
                tables.AuditEventRow.object_id == str(submission_id),
                tables.AuditEventRow.action == "submission.submit",
            )
            .order_by(tables.AuditEventRow.seq.desc())
            .limit(1)
        ).scalar()
        if event is None:
            return None
        return workflow.AgainstEvidence.from_dict(json.loads(event.details).get("against_evidence"))

    def against_evidence(self, submission_id: int) -> workflow.AgainstEvidence | None:
        """Whether the submission was sent against its evaluation's evidence, and the reason given
        (from its submit event in the audit trail); None when it was not."""
        with self._read() as s:
            self._get(s, tables.SubmissionRow, submission_id, "submission")
            return self._against_evidence(s, submission_id)

    def _frozen_hash(self, s: Session, row: tables.SubmissionRow) -> str:
        return sha256_json(self._frozen_content(s, row))

    def review(
        self,
        submission_id: int,
        decision: str,
        comment: str,
        actor: str,
        expected_version: int,
    ) -> records.StoredSubmission:
        """Approve or reject a submitted submission (reviewers/admins, never its creator)."""
        if decision not in workflow.DECISIONS:
            raise ValidationError(f"The decision must be 'approve' or 'reject', not {decision!r}.")
        return self._decide(
            submission_id,
            workflow.DECISIONS[decision],
            decision,
            comment,
            actor,
            expected_version,
        )

    def revoke(
        self, submission_id: int, comment: str, actor: str, expected_version: int
    ) -> records.StoredSubmission:
        """Withdraw an approval (reviewers/admins; a comment is required)."""
        return self._decide(
            submission_id, workflow.REVOKED, "revoke", comment, actor, expected_version
        )

    def get_submission(self, submission_id: int) -> records.StoredSubmission:
        with self._read() as s:
            row = self._get(s, tables.SubmissionRow, submission_id, "submission")
            return _submission(row, self._reviews(s, submission_id))

    def list_submissions(
        self, status: str | None = None, created_by: str | None = None
    ) -> list[records.StoredSubmission]:
        if status is not None and status not in workflow.STATUSES:
            raise ValidationError(
                f"Unknown status {status!r}: choose one of {', '.join(workflow.STATUSES)}."
            )
        with self._read() as s:
            stmt = select(tables.SubmissionRow).order_by(tables.SubmissionRow.id)
            if status is not None:
                stmt = stmt.where(tables.SubmissionRow.status == status)
            if created_by is not None:
                stmt = stmt.where(tables.SubmissionRow.created_by == created_by)
            rows = list(s.execute(stmt).scalars())
            by_sub: dict[int, list[tables.ReviewRow]] = {r.id: [] for r in rows}
            if rows:
                reviews = s.execute(
                    select(tables.ReviewRow)
                    .where(tables.ReviewRow.submission_id.in_(list(by_sub)))
                    .order_by(tables.ReviewRow.id)
                ).scalars()
                for rv in reviews:
                    by_sub[rv.submission_id].append(rv)
            return [_submission(r, by_sub[r.id]) for r in rows]

    def check_submission(self, submission_id: int) -> bool:
        """True if a submitted submission still matches the hash frozen in its submit event."""
        with self._read(snapshot=True) as s:
            row = self._get(s, tables.SubmissionRow, submission_id, "submission")
            if row.content_hash is None:
                return True  # a draft is not frozen
            event = s.execute(
                select(tables.AuditEventRow)
                .where(
                    tables.AuditEventRow.action == "submission.submit",
                    tables.AuditEventRow.object_type == "submission",
                    tables.AuditEventRow.object_id == str(submission_id),
                )
                .order_by(tables.AuditEventRow.seq)
                .limit(1)
            ).scalar()
            if event is None:
                return False
            recorded = json.loads(event.details).get("content_hash")
            return recorded == row.content_hash == self._frozen_hash(s, row)
