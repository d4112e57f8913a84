"""What the dashboard shows, built from engine and store values: tables, Markdown, text, charts.

No gradio and no events here, and nothing is read from or written to the store: each function
turns values it is given into something to display, so the tabs and the offline report
(:mod:`dashboard.report`) show the same thing the same way. Model output is returned as plain
text (for text boxes); text a user or a model wrote that goes into Markdown passes through
:func:`md` first.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from dashboard import charts
from steering.data.examples import ExampleSet, RowError
from steering.engine.bundled import BundledModel
from steering.evaluation.results import (
    RESULT_COLUMNS,
    EvaluationReport,
    Sample,
    SideEffects,
    StrengthResult,
)
from steering.layers import layers_text
from storage import (
    Checkpoint,
    StoredAuditEvent,
    StoredReview,
    StoredSubmission,
    StoredUser,
    StoredVector,
    VerifyResult,
)

ERROR_COLUMNS = ["row", "column", "what to fix"]
PREVIEW_COLUMNS = ["row", "prompt", "positive", "negative", "answer", "choices"]
RESULT_LABELS = [column.label for column in RESULT_COLUMNS]
SIDE_COLUMNS = ["strength", "perplexity of neutral text", "neutral answers changed"]
HISTORY_COLUMNS = ["when (UTC)", "reviewer", "decision", "comment"]
AUDIT_COLUMNS = ["seq", "when (UTC)", "actor", "action", "object", "details"]

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|<>~])")


def md(text: object) -> str:
    """User-provided text made inert inside Markdown: no HTML, no formatting."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


def number(value: float | int | None, digits: int = 4) -> str:
    """A number as people read it: rounded to ``digits`` places, whole numbers without ".0"."""
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    rounded = round(float(value), digits) + 0.0  # + 0.0 turns -0.0 into 0.0
    return f"{rounded:.{digits}f}".rstrip("0").rstrip(".")


# ---------------------------------------------------------------------------------- model

_CARD_ROWS = (
    ("name", "Model"),
    ("layers", "Layers (decoder blocks)"),
    ("hidden_size", "Hidden size"),
    ("parameters", "Parameters"),
    ("device", "Device"),
    ("dtype", "Number format"),
    ("chat_template", "Chat template"),
    ("load_seconds", "Load time (s)"),
    ("source", "Loaded from"),
)


def model_card_table(card: Mapping[str, Any]) -> pd.DataFrame:
    """``steering.engine.models.describe``'s card as a two-column table, in words."""
    rows = []
    for key, label in _CARD_ROWS:
        value = card[key]
        if key == "parameters":
            value = f"{int(value) / 1e6:.1f} million"
        elif key == "chat_template":
            value = "yes" if value else "no"
        rows.append([label, str(value)])
    return pd.DataFrame(rows, columns=["", "value"])


def model_card_markdown(table: pd.DataFrame) -> str:
    return "| Model card | |\n|---|---|\n" + "\n".join(
        f"| {label} | {md(value)} |" for label, value in table.values
    )


BUNDLED_COLUMNS = ["model", "size", "licence", "source"]


def bundled_models_table(models: Sequence[BundledModel]) -> pd.DataFrame:
    """The installed bundled models as the picker describes them: name, size, licence, source."""
    rows = [[m.name, m.size_text(), m.licence, m.source] for m in models]
    return pd.DataFrame(rows, columns=BUNDLED_COLUMNS)


def bundled_models_markdown(models: Sequence[BundledModel]) -> str:
    """``bundled_models_table`` as Markdown, or a line saying none is installed."""
    if not models:
        return "No bundled model is installed on this machine: type a model below."
    table = bundled_models_table(models)
    head = "| " + " | ".join(BUNDLED_COLUMNS) + " |\n|---|---|---|---|\n"
    return head + "\n".join("| " + " | ".join(md(v) for v in row) + " |" for row in table.values)


# ---------------------------------------------------------------------------------- examples


def preview_table(example_set: ExampleSet, limit: int = 200) -> pd.DataFrame:
    """The first rows of a set; the split, negative and choices columns only when used."""
    rows = [
        {
            "row": e.row,
            "split": e.split or "",
            "prompt": e.prompt,
            "positive": e.positive,
            "negative": e.negative or "",
            "answer": e.answer or "",
            "choices": " | ".join(e.choices) if e.choices else "",
        }
        for e in example_set.examples[:limit]
    ]
    table = pd.DataFrame(rows)
    empty = [c for c in ("split", "negative", "choices") if c in table and not table[c].any()]
    return table.drop(columns=empty)


def row_errors_table(errors: Sequence[RowError]) -> pd.DataFrame:
    return pd.DataFrame([[e.row, e.column or "", e.message] for e in errors], columns=ERROR_COLUMNS)


# ---------------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class EvaluationView:
    """One evaluation as the Compare and Review tabs (and the report) show it."""

    figure: go.Figure
    verdict: str  # the report's plain-language sentence
    table: pd.DataFrame
    side_effects: pd.DataFrame
    samples: str
    chosen_alpha: float | None


def evaluation_view(report: EvaluationReport) -> EvaluationView:
    """Chart, verdict, tables and samples of one evaluation."""
    samples = samples_text(report.samples)
    neutral = neutral_answers_text(report.side_effects)
    if neutral:
        samples += "\n\n--- Neutral prompts (side effects) ---\n\n" + neutral
    return EvaluationView(
        charts.accuracy_chart(report.results, report.chosen_alpha),
        report.verdict,
        results_table(report.results),
        side_effects_table(report.side_effects),
        samples,
        report.chosen_alpha,
    )


def results_table(results: Sequence[StrengthResult]) -> pd.DataFrame:
    """One row per strength, the columns (and their units) of ``RESULT_COLUMNS``."""
    rows = [[number(getattr(r, column.key)) for column in RESULT_COLUMNS] for r in results]
    return pd.DataFrame(rows, columns=RESULT_LABELS)


def side_effects_table(side: SideEffects) -> pd.DataFrame:
    """One row per strength: perplexity of neutral text and share of neutral answers changed."""
    rows = []
    for alpha in sorted(set(side.perplexity) | set(side.changed_share)):
        share = side.changed_share.get(alpha)
        rows.append(
            [
                number(alpha),
                number(side.perplexity.get(alpha), digits=2),
                "" if share is None else f"{share:.0%}",
            ]
        )
    return pd.DataFrame(rows, columns=SIDE_COLUMNS)


def neutral_answers_text(side: SideEffects, limit: int = 4) -> str:
    """The neutral prompts' answers at each strength, as plain text."""
    blocks = []
    for item in side.answers[:limit]:
        lines = [f"prompt: {item.prompt}"]
        lines += [f"strength {alpha:g}: {answer}" for alpha, answer in item.answers.items()]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def samples_text(samples: Sequence[Sample], limit: int = 8) -> str:
    """Sample answers as plain text, one ``field: value`` line each (for a text box)."""
    blocks = []
    for sample in samples[:limit]:
        lines = []
        for f in fields(sample):
            value = getattr(sample, f.name)
            if value is not None:
                lines.append(f"{f.name}: {number(value) if f.name == 'alpha' else value}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) if blocks else "(no sample answers)"


# ---------------------------------------------------------------------------------- review


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


def vector_origin(lineage: Mapping[str, Any]) -> str:
    """Where a vector came from, in one plain sentence (plain text: escape it for Markdown/HTML).

    An imported file is named with the start of its sha256 and the model its maker named
    (``controlvector.model_hint``); a vector built here names its example set.
    """
    if lineage.get("source") == "imported":
        digest = str(lineage.get("source_sha256") or "")
        hint = str(lineage.get("model_hint") or "") or "a model it does not name"
        return (
            f"Imported from {lineage.get('source_file') or 'a GGUF file'} "
            f"(sha256 {digest[:16]}…, made for {hint})"
        )
    name = str(lineage.get("dataset_name") or "")
    digest = str(lineage.get("dataset_hash") or "")
    where = f"the example set '{name}'" if name else "an example set"
    if digest:
        where += f" (content hash {digest[:16]}…)"
    return f"Built in this lab from {where}"


def history_rows(reviews: Iterable[StoredReview]) -> list[list[str]]:
    return [[f"{r.created_at:%Y-%m-%d %H:%M}", r.reviewer, r.decision, r.comment] for r in reviews]


def history_table(reviews: Iterable[StoredReview]) -> pd.DataFrame:
    return pd.DataFrame(history_rows(reviews), columns=HISTORY_COLUMNS)


# ---------------------------------------------------------------------------------- audit


def audit_table(events: Iterable[StoredAuditEvent]) -> pd.DataFrame:
    rows = [
        [
            e.seq,
            f"{e.ts:%Y-%m-%d %H:%M:%S}",
            e.actor,
            e.action,
            f"{e.object_type} {e.object_id}",
            json.dumps(e.details, ensure_ascii=False, default=str)[:300],
        ]
        for e in events
    ]
    return pd.DataFrame(rows, columns=AUDIT_COLUMNS)


# ---------------------------------------------------------------------------------- integrity

# The kinds of damage ``Store.verify`` names (VerifyResult.reason), in plain words.
DAMAGE_WORDS: dict[str, str] = {
    "edited": "an entry was changed after it was written",
    "deleted": "an entry was removed",
    "inserted": "an entry was slipped in that the lab never wrote",
    "reordered": "entries were moved out of their order",
    "truncated": "the newest entries were removed",
    "bad-signature": (
        "an entry or a checkpoint does not carry the lab's signature: it was written or rewritten "
        "outside the lab"
    ),
}

# What "Verify integrity" catches, row for row as storage/README.md's table (each row has a test
# named there). No row may promise more than the README does.
CAUGHT_COLUMNS = ["someone who can change", "what they do", "caught?"]
CAUGHT_ROWS: tuple[tuple[str, str, str], ...] = (
    (
        "the database only",
        "edit, delete, insert or reorder entries, even recomputing the hashes",
        "yes: they cannot sign the entries",
    ),
    (
        "the database only",
        "delete the newest entries",
        "only against the checkpoint log, and only entries up to its last checkpoint; newer "
        "entries can vanish unnoticed",
    ),
    (
        "the database only",
        "strip every signature and ask for the database to be signed again",
        "refused when the checkpoint log shows the trail was signed; the check then reports a "
        "missing signature",
    ),
    (
        "the database and the signing key, not the checkpoint log",
        "rewrite history and sign it again",
        "up to the last checkpoint; changes after it are not caught",
    ),
    ("the checkpoint log", "edit a checkpoint", "yes: the checkpoint's signature no longer fits"),
    (
        "everything on the machine (database, key, checkpoint log)",
        "rewrite history, sign it again, rewrite the log",
        "only against a checkpoint copy kept elsewhere (a downloaded evaluation report or "
        "audit export)",
    ),
)


def caught_markdown() -> str:
    """``CAUGHT_ROWS`` as a Markdown table."""
    head = "| " + " | ".join(CAUGHT_COLUMNS) + " |\n|---|---|---|\n"
    return head + "\n".join("| " + " | ".join(row) + " |" for row in CAUGHT_ROWS)


def checkpoint_rows(checkpoint: Checkpoint) -> list[list[str]]:
    """A signed checkpoint as label/value rows (the Audit tab and the report show the same)."""
    return [
        ["entries covered", str(checkpoint.seq)],
        ["head hash", checkpoint.head],
        ["time (UTC)", checkpoint.time],
        ["signature", checkpoint.sig],
    ]


@dataclass(frozen=True)
class IntegrityView:
    """The outcome of "Verify integrity": plain words first, the technical details apart."""

    ok: bool
    summary: str  # Markdown: intact, or the first bad entry and the kind of damage
    details: str  # Markdown: signature counts, the chain head and the latest checkpoint


def integrity_view(result: VerifyResult) -> IntegrityView:
    """``Store.verify``'s result as a person reads it, with the numbers behind it."""
    if result.ok:
        anchored = (
            f"the history matches the {result.checkpoints} signed "
            f"checkpoint{'' if result.checkpoints == 1 else 's'} kept outside the database"
            if result.checkpoints
            else "no checkpoint kept outside the database has been written yet to compare with"
        )
        summary = (
            f"**Intact.** All {result.count} audit entries check out: every entry links to the "
            f"one before and carries the lab's signature, and {anchored}."
        )
    else:
        where = f" at entry {result.first_broken_seq}" if result.first_broken_seq else ""
        kind = DAMAGE_WORDS.get(result.reason or "", "the trail does not check out")
        before = "entry before it checks" if result.count == 1 else "entries before it check"
        summary = (
            f"**Tampered with.** The first problem is{where}: {kind}. {md(result.message)} "
            f"The {result.count} {before} out."
        )
    rows = [
        ["entries checked and intact", str(result.count)],
        ["signed when written", str(result.signed_at_write)],
        ["signed when an older trail was migrated", str(result.signed_at_migration)],
        ["checkpoints compared", str(result.checkpoints)],
        ["chain head", f"entry {result.head_seq}, hash `{result.head_hash}`"],
    ]
    latest = result.latest_checkpoint
    if latest is None:
        # Verify stops at a broken link or signature before it reads the checkpoint log.
        unread = "not read (the check stopped at the first problem)"
        rows.append(["latest checkpoint", "none written yet" if result.ok else unread])
    else:
        rows += [[f"latest checkpoint: {label}", f"`{v}`"] for label, v in checkpoint_rows(latest)]
    if result.reason:
        rows.append(["kind of damage", f"`{result.reason}`"])
    details = "| | |\n|---|---|\n" + "\n".join(f"| {label} | {value} |" for label, value in rows)
    return IntegrityView(result.ok, summary, details)


# ---------------------------------------------------------------------------------- users

USER_COLUMNS = ["name", "role", "active", "failed sign-ins"]
FAILED_SIGNIN_COLUMNS = ["when (UTC)", "account", "reason", "client"]


def users_table(
    users: Iterable[StoredUser], failed: Iterable[StoredAuditEvent] = ()
) -> pd.DataFrame:
    """One row per account; ``failed`` are failed sign-in events, counted per account name."""
    counts = Counter(event.object_id for event in failed)
    rows = [[u.name, u.role, "yes" if u.active else "no", counts.get(u.name, 0)] for u in users]
    return pd.DataFrame(rows, columns=USER_COLUMNS)


def failed_signins_table(events: Iterable[StoredAuditEvent]) -> pd.DataFrame:
    """Failed sign-ins, newest first as given. A name that does not exist is shown only as the
    start of its keyed hash (the store never keeps the typed text: people type passwords there)."""
    rows = []
    for e in events:
        name_hmac = e.details.get("name_hmac")
        account = f"unknown name (keyed hash {name_hmac[:12]}…)" if name_hmac else e.object_id
        rows.append(
            [
                f"{e.ts:%Y-%m-%d %H:%M:%S}",
                account,
                str(e.details.get("reason", "")),
                str(e.details.get("client", "")),
            ]
        )
    return pd.DataFrame(rows, columns=FAILED_SIGNIN_COLUMNS)
