"""Per-browser-session state, held in a ``gr.State`` (each tab of each user gets its own)."""

from __future__ import annotations

from dataclasses import dataclass, field

from steering.data.examples import Example, ExampleSet
from steering.evaluation.results import EvaluationReport
from steering.vectors import ControlVector
from storage.workflow import may_review


@dataclass(frozen=True)
class PendingUpload:
    """An uploaded file refused for its broken rows, kept until its builder chooses to use the
    other rows (the upload itself is deleted once read)."""

    data: bytes
    filename: str
    name: str
    bad_rows: tuple[int, ...]


@dataclass
class BrowserSession:
    """Who is signed in and what they have made so far in this browser session.

    ``user`` and ``role`` are copied from the authenticated request at the start of every event
    (:func:`dashboard.events.guarded`), never trusted from the state itself; ``owner`` is the
    sign-in session the work belongs to, so a state reached from another sign-in starts empty.

    Named apart from SQLAlchemy's ``Session`` (a database unit of work): this one lives in the
    browser tab and holds no database connection.
    """

    user: str | None = None
    role: str | None = None
    owner: str | None = None
    model_spec: str | None = None
    # Examples
    example_set: ExampleSet | None = None
    example_set_id: int | None = None
    build_rows: list[Example] = field(default_factory=list)
    heldout_rows: list[Example] = field(default_factory=list)
    heldout_fraction: float = 0.3  # the share held out (recorded with a build, to split alike)
    pending_upload: PendingUpload | None = None  # refused for broken rows; may be used without
    # Build
    vector: ControlVector | None = None
    vector_id: int | None = None
    recommended: list[int] = field(default_factory=list)
    # Evaluation
    evaluation: EvaluationReport | None = None
    evaluation_id: int | None = None
    evaluation_layers: list[int] = field(default_factory=list)
    # Review: the submission on screen and the version the user saw
    shown_submission: int | None = None
    shown_version: int | None = None

    @property
    def signed_in(self) -> bool:
        return self.user is not None

    @property
    def is_reviewer(self) -> bool:
        """Whether the workflow lets this user's role review at all (the store decides)."""
        return self.role is not None and may_review(self.role)

    def adopt(self, name: str, role: str, owner: str) -> None:
        """Take identity from the request: work made under another sign-in is dropped first."""
        if self.owner is not None and self.owner != owner:
            for key, value in vars(BrowserSession()).items():
                setattr(self, key, value)
        self.user, self.role, self.owner = name, role, owner

    def forget_work(self) -> None:
        """Drop the vector and its evaluation (a vector is tied to the model it was built on)."""
        self.vector, self.vector_id, self.recommended = None, None, []
        self.evaluation, self.evaluation_id = None, None
