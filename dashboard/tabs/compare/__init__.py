"""Tab 4, Compare: answers without and with the vector, the held-out evaluation, submitting.

The strength is chosen on build rows and reported on held-out rows (``evaluate_heldout``); the
submission freezes the vector, the strength, the layers and that evaluation. One module per part:

- :mod:`.vector`: what every part asks first (the session's vector, the layers, a finite strength)
- :mod:`.answers`: one question answered side by side, marked right or wrong
- :mod:`.evaluation`: the held-out evaluation, its time estimate, reopening an earlier one
- :mod:`.submission`: submitting for review, and the warning when it goes against the evidence
- :mod:`.layout`: ``create_ui`` (the components and the events inside the tab)

The tab's actions are re-exported here, so callers write ``compare.evaluate(...)`` as for any tab.
"""

from __future__ import annotations

from dashboard.tabs.compare.answers import (
    AnswerRequest,
    applied_markdown,
    compare,
    compare_answers,
    how_marked,
    known_question,
    offered_strengths,
    shown_answer,
    yardstick,
)
from dashboard.tabs.compare.evaluation import (
    MAX_STRENGTHS,
    announce_evaluation,
    estimate_evaluation,
    evaluate,
    evaluation_strengths,
    reopen_evaluation,
)
from dashboard.tabs.compare.layout import CompareTab, create_ui
from dashboard.tabs.compare.submission import (
    concern_markdown,
    evaluated_strengths,
    evidence_concern,
    submit,
)
from dashboard.tabs.compare.vector import finite_strength, steer_layers

__all__ = [
    "MAX_STRENGTHS",
    "AnswerRequest",
    "CompareTab",
    "announce_evaluation",
    "applied_markdown",
    "compare",
    "compare_answers",
    "concern_markdown",
    "create_ui",
    "estimate_evaluation",
    "evaluate",
    "evaluated_strengths",
    "evaluation_strengths",
    "evidence_concern",
    "finite_strength",
    "how_marked",
    "known_question",
    "offered_strengths",
    "reopen_evaluation",
    "shown_answer",
    "steer_layers",
    "submit",
    "yardstick",
]
