"""The Review tab's presenters (and the report's): a submission, its lineage in words, the
warning when it goes against the evidence, and its review history."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from dashboard.views.common import md, vector_origin
from steering.layers import layers_text
from storage import StoredReview, StoredSubmission, StoredVector
from storage.workflow import AgainstEvidence

HISTORY_COLUMNS = ["when (UTC)", "reviewer", "decision", "comment"]


# How the lineage's method and negatives are said in words (the stored values are codes).
_METHOD_WORDS = {
    "mean_diff": "the average difference between good and flawed answers",
    "reading": "the average of the good answers",
    "pca_diff": "the main direction of the differences between good and flawed answers",
}
_NEGATIVES_WORDS = {
    "column": "the example set's own flawed answers",
    "random": "random letter strings",
}
LINEAGE_DETAILS = (
    ("model_id", "model source"),
    ("model_fingerprint", "model fingerprint"),
    ("dataset_hash", "example set content hash"),
    ("method", "method (code)"),
    ("negatives", "flawed answers (code)"),
    ("split_seed", "seed of the build / held-out split"),
    ("seed", "seed of the random choices in the build"),
    ("created_at", "built at (UTC)"),
    ("tool_version", "lab version"),
    ("source_file", "imported file"),
    ("source_sha256", "imported file sha256"),
    ("model_hint", "model the file names"),
)


def lineage_markdown(
    lineage: Mapping[str, Any], steered: Sequence[int] | None = None
) -> tuple[str, list[list[str]]]:
    """The vector's lineage in words (Markdown) and its hashes and seeds as label/value rows.

    ``steered`` are the layers actually steered (the submission's), which the words name rather
    than every layer the vector covers.
    """
    method = str(lineage.get("method") or "")
    paper = str(lineage.get("method_paper_name") or "")
    words = []
    if lineage.get("model_name") or lineage.get("model_id"):
        words.append(
            f"made for the model {md(lineage.get('model_name') or lineage.get('model_id'))}"
        )
    if method:
        plain = md(_METHOD_WORDS.get(method, method))
        words.append(f"from {plain}" + (f" (the paper's {md(paper)})" if paper else ""))
    negatives = str(lineage.get("negatives") or "")
    if negatives:
        words.append(f"contrasted with {md(_NEGATIVES_WORDS.get(negatives, negatives))}")
    if lineage.get("created_by"):
        words.append(f"built by {md(lineage['created_by'])}")
    sentence = "The vector was " + ", ".join(words) if words else "The vector's lineage is empty"
    if steered:
        sentence += f"; it is steered on layers {layers_text(steered)}"
    covered = lineage.get("layers")
    if isinstance(covered, list) and covered:
        sentence += f" (the vector covers layers {layers_text(covered)})"
    details = [
        [label, str(lineage[key])]
        for key, label in LINEAGE_DETAILS
        if lineage.get(key) not in (None, "")
    ]
    return sentence + ".", details


def submission_label(sub: StoredSubmission) -> str:
    """How a submission is listed in a dropdown."""
    return (
        f"#{sub.id} · {sub.status} · by {sub.created_by} · strength {sub.strength:g} · "
        f"{sub.updated_at:%Y-%m-%d %H:%M}"
    )


def submission_summary(
    sub: StoredSubmission, vector: StoredVector, intact: bool, verdict: str
) -> str:
    """The head of the Review tab: who built what, and whether its content is still intact."""
    lineage = vector.lineage
    return "\n".join(
        [
            f"### Submission #{sub.id}: {sub.status}",
            f"- **Built by** {md(sub.created_by)} on {sub.created_at:%Y-%m-%d %H:%M} UTC",
            f"- **Model** {md(lineage.get('model_name') or lineage.get('model_id', ''))}",
            f"- **Method** {md(lineage.get('method', ''))}, negatives "
            f"{md(lineage.get('negatives', ''))}, example set "
            f"{md(lineage.get('dataset_name', ''))}",
            f"- **Strength** {sub.strength:g} on layers {layers_text(sub.layers)}",
            f"- **Where it came from** {md(vector_origin(lineage))}",
            f"- **Content** {'matches' if intact else 'DOES NOT MATCH'} the hash frozen at "
            f"submission (`{(sub.content_hash or '')[:16]}`)",
            "",
            f"**Verdict:** {md(verdict) if verdict else 'no evaluation attached'}",
        ]
    )


def against_evidence_markdown(flag: AgainstEvidence | None) -> str:
    """The warning a reviewer reads above the approve button, with the builder's reason."""
    if flag is None:
        return ""
    reason = f"“{md(flag.reason)}”" if flag.reason else "(no reason was given)"
    return (
        f"⚠ **Submitted against the evidence.** {md(flag.concern)} The builder's reason: "
        f"{reason}. Approving records that you approved it knowing this."
    )


def history_rows(reviews: Iterable[StoredReview]) -> list[list[str]]:
    return [[f"{r.created_at:%Y-%m-%d %H:%M}", r.reviewer, r.decision, r.comment] for r in reviews]


def history_table(reviews: Iterable[StoredReview]) -> pd.DataFrame:
    return pd.DataFrame(history_rows(reviews), columns=HISTORY_COLUMNS)
