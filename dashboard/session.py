"""Per-browser-session state, held in a ``gr.State`` (each tab of each user gets its own)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Session:
    """Who is signed in and what they have made so far in this browser session."""

    user: str | None = None
    role: str | None = None
    model_spec: str | None = None
    # Examples
    example_set: Any = None  # steering.examples.ExampleSet
    example_set_id: int | None = None
    build_rows: list = field(default_factory=list)
    heldout_rows: list = field(default_factory=list)
    # Build
    vector: Any = None  # steering.vectors.ControlVector
    vector_id: int | None = None
    scores: list = field(default_factory=list)
    recommended: list[int] = field(default_factory=list)
    # Evaluation
    evaluation: dict | None = None
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
        return self.role in ("reviewer", "admin")
