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
from dataclasses import dataclass
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from dashboard import charts
from steering.data.examples import ExampleSet, RowError
from steering.engine.bundled import BundledModel
from steering.evaluation.answers import extract_answer, is_correct
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
from storage.workflow import AgainstEvidence

ERROR_COLUMNS = ["row", "column", "what to fix"]
# Every column of the pair format, in the order the Examples tab documents them, after the row
# number as the file shows it (a spreadsheet's row, a JSONL line, a JSON item).
PREVIEW_COLUMNS = ["row", "prompt", "positive", "negative", "answer", "choices", "split"]
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


# What each row of the model card means, for people who do not train models.
_CARD_HELP = {
    "Layers (decoder blocks)": "the stack of steps the model passes each word through; the "
    "vector is added after some of them",
    "Hidden size": "how many numbers describe each word piece inside the model; the vector has "
    "this many numbers per layer",
    "Parameters": "the model's learned numbers; more means larger and slower",
    "Device": "where the model runs: cpu (the processor) or cuda (a graphics card)",
    "Number format": "how each of those numbers is stored; float32 is standard precision",
    "Chat template": "whether the model expects questions wrapped as a chat turn",
    "Load time (s)": "seconds it took to load the model",
    "Loaded from": "where the model's files came from",
}


def model_card_markdown(table: pd.DataFrame) -> str:
    """The card as a Markdown table with a plain explanation of each row."""
    return "| Model card | | what it means |\n|---|---|---|\n" + "\n".join(
        f"| {label} | {md(value)} | {_CARD_HELP.get(label, '')} |" for label, value in table.values
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
    """The first rows of a set with every column of the format (empty where the file has none).

    Always the same columns, so the table's column widths fit them and none hides off screen.
    """
    rows = [
        [
            e.row,
            e.prompt,
            e.positive,
            e.negative or "",
            e.answer or "",
            " | ".join(e.choices) if e.choices else "",
            e.split or "",
        ]
        for e in example_set.examples[:limit]
    ]
    return pd.DataFrame(rows, columns=PREVIEW_COLUMNS)


def row_errors_table(errors: Sequence[RowError]) -> pd.DataFrame:
    return pd.DataFrame([[e.row, e.column or "", e.message] for e in errors], columns=ERROR_COLUMNS)


# ---------------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class EvaluationView:
    """One evaluation as the Compare and Review tabs (and the report) show it, manager first.

    ``headline`` (the recommendation and the number behind it) comes first, then the chart;
    the tables of the paper's diagnostics are the technical details a fold keeps apart.
    """

    figure: go.Figure
    verdict: str  # the report's plain-language sentence
    table: pd.DataFrame  # results and the paper's diagnostics (technical details)
    side_effects: pd.DataFrame  # perplexity and changed answers per strength (technical details)
    samples: str  # Markdown: sample questions, correct answer, right/wrong without and with
    chosen_alpha: float | None
    headline: str = ""  # Markdown: the recommendation in plain words and its number
    effects: str = ""  # Markdown: side effects in plain words, with changed neutral answers
    examples: str = ""  # Markdown: the example set in one paragraph
    technical: str = ""  # Markdown: what each diagnostic means
    focus: float | None = None  # the strength the samples and side effects are read at


def evaluation_view(
    report: EvaluationReport,
    *,
    submitted: float | None = None,
    config: Mapping[str, Any] | None = None,
    lineage: Mapping[str, Any] | None = None,
) -> EvaluationView:
    """Everything about one evaluation a person reads, for the strength ``submitted`` when
    there is one (else the strength the evaluation chose).

    ``config`` (the stored evaluation's settings) and ``lineage`` (the vector's) describe the
    example set: its name, the rows used for choosing and for reporting.
    """
    focus = focus_strength(report, submitted)
    return EvaluationView(
        figure=charts.accuracy_chart(
            report.results, report.chosen_alpha, submitted=submitted, chance=report.chance
        ),
        verdict=report.verdict,
        table=results_table(report.results),
        side_effects=side_effects_table(report.side_effects),
        samples=samples_markdown(report, focus),
        chosen_alpha=report.chosen_alpha,
        headline=recommendation_markdown(report, submitted),
        effects=side_effects_markdown(report.side_effects, focus),
        examples=example_set_markdown(report, config or {}, lineage or {}),
        technical=DIAGNOSTICS_MARKDOWN,
        focus=focus,
    )


def focus_strength(report: EvaluationReport, submitted: float | None = None) -> float | None:
    """The strength to read samples at: the submitted one, else the chosen one, else the
    weakest strength tested (when the evaluation chose none)."""
    if submitted is not None:
        return float(submitted)
    if report.chosen_alpha:
        return report.chosen_alpha
    tried = sorted((r.alpha for r in report.results if r.alpha != 0), key=abs)
    return tried[0] if tried else None


def _count(result: StrengthResult, noun: str) -> str:
    """``7 of 10 held-out questions (70%)``, or the share alone when counts were not stored."""
    if result.correct is not None and result.n is not None:
        return f"{result.correct} of {result.n} {noun} ({result.accuracy:.0%})"
    return f"{result.accuracy:.0%} of the {noun}"


def recommendation_markdown(report: EvaluationReport, submitted: float | None = None) -> str:
    """One line on top: deploy / do not deploy / not enough evidence, and the number behind it.

    The recommendation is ``Verdict.recommendation`` of the evaluation's typed outcome; the
    number is held-out accuracy at the chosen strength against the model without the vector
    (with the p-value of the paired test), or without the vector alone when none was chosen.
    An accuracy below guessing is said so.
    """
    recommendation = report.outcome.recommendation
    base = report.baseline
    chosen = report.result_at(report.chosen_alpha) if report.chosen_alpha else None
    line = f"**Recommendation: {recommendation.value}.**"
    noun = "held-out questions" if report.chosen_on == "build" else "questions"
    if chosen is not None and base is not None:
        line += (
            f" At strength {chosen.alpha:g}, the one the evaluation chose, the model answered "
            f"{_count(chosen, noun)} correctly, against {_count(base, noun)} without the vector"
        )
        if chosen.mcnemar_p is not None:
            line += (
                " (a difference this large arises by chance with probability "
                f"{chosen.mcnemar_p:.2g})"
            )
        line += "."
        measured = chosen
    elif base is not None:
        line += (
            " No strength did better than the model without the vector on the questions used to "
            f"choose one; without the vector it answered {_count(base, noun)} correctly."
        )
        measured = base
    else:
        return line + " The evaluation has no results to show."
    if submitted is not None and submitted != report.chosen_alpha:
        row = report.result_at(submitted)
        if row is not None:
            line += f" The submitted strength {submitted:g} answered {_count(row, noun)} correctly."
            measured = row  # the guessing check is about what would be deployed
    if report.chance is not None and measured.accuracy < report.chance:
        line += f" That is below guessing ({report.chance:.0%} right by picking at random)."
    return line


def results_table(results: Sequence[StrengthResult]) -> pd.DataFrame:
    """One row per strength, the columns (and their units) of ``RESULT_COLUMNS``."""
    rows = [[number(getattr(r, column.key)) for column in RESULT_COLUMNS] for r in results]
    return pd.DataFrame(rows, columns=RESULT_LABELS)


# The paper's diagnostics in one sentence each (under "technical details").
DIAGNOSTICS_MARKDOWN = "\n".join(
    [
        "- **KL (nats)**: how far the vector moves the model's next-word probabilities at the "
        "first word of the answer (KL divergence from the model without the vector, in nats; "
        "0 = not at all).",
        "- **entropy (bits)**: how unsure the model is about the first word of the answer "
        "(1 bit = as unsure as a coin toss between two words).",
        "- **P(correct) / P(incorrect)**: the probability mass the model puts on the first "
        "word of the correct answer and of the wrong answers.",
        "- **perplexity of neutral text**: how surprised the model is by ordinary text that "
        "has nothing to do with the task (higher = the vector disturbs everyday language more).",
        "- **p (vs no vector)**: the chance of a difference this large in right answers if the "
        "vector did nothing (McNemar's exact test on the same questions).",
    ]
)


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


def _one_line(text: str, limit: int = 240) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def side_effects_markdown(side: SideEffects, strength: float | None, shown: int = 2) -> str:
    """Side effects at ``strength`` in plain words, with neutral prompts whose answer changed.

    A vector that changes many answers to everyday prompts also changes how the model talks
    about things that have nothing to do with the task: that is the risk this measures.
    """
    if not side.measured:
        return "Side effects on everyday prompts were not measured in this evaluation."
    if strength is None:
        return "No strength other than 0 was evaluated, so there are no side effects to show."
    answered = [a for a in side.answers if strength in a.answers and 0.0 in a.answers]
    changed = [a for a in answered if a.answers[strength] != a.answers[0.0]]
    sentences = []
    if answered:
        sentences.append(
            f"At strength {strength:g} the vector changed **{len(changed)} of {len(answered)}** "
            "answers to everyday prompts that have nothing to do with the task"
            + ("; the model answers them as it did without the vector." if not changed else ".")
        )
    elif strength in side.changed_share:
        sentences.append(
            f"At strength {strength:g} the vector changed {side.changed_share[strength]:.0%} of "
            "the answers to everyday prompts that have nothing to do with the task."
        )
    before, after = side.perplexity.get(0.0), side.perplexity.get(strength)
    if before and after is not None:
        change = (after - before) / before
        how = "more" if change > 0 else "less"
        sentences.append(
            f"Ordinary text surprises the model {abs(change):.0%} {how} than without the vector "
            f"(perplexity {number(before, 2)} → {number(after, 2)})."
        )
    text = " ".join(sentences)
    if changed:
        picked = changed[:shown]
        text += (
            "\n\nBelow, that one:" if len(changed) == 1 else f"\n\nBelow, {len(picked)} of them:"
        )
        for item in picked:
            text += (
                f"\n\n- *{md(_one_line(item.prompt))}*\n  - without the vector: "
                f"{md(_one_line(item.answers[0.0]))}\n  - at strength {strength:g}: "
                f"{md(_one_line(item.answers[strength]))}"
            )
    return text


def _right(value: str | None, answer: str, recorded: bool | None) -> bool:
    if recorded is not None:
        return recorded
    # Evaluations stored before right/wrong was recorded: compare the way the engine does.
    return value is not None and is_correct(extract_answer(value, answer), answer)


def _answer_cell(sample: Sample, steered: bool) -> str:
    """One answer: right or wrong, the answer read, the generated text, and a cut at the limit."""
    if steered:
        picked, text, cut, recorded = (
            sample.steered, sample.steered_text, sample.steered_cut, sample.steered_correct
        )  # fmt: skip
    else:
        picked, text, cut, recorded = (
            sample.unsteered, sample.unsteered_text, sample.unsteered_cut, sample.unsteered_correct
        )  # fmt: skip
    right = _right(picked, sample.answer, recorded)
    shown = "(no answer found)" if picked is None else md(_one_line(picked, 80))
    cell = f"{'✓ right' if right else '✗ wrong'}: {shown}"
    if text is not None and text.strip() and _one_line(text, 80) != _one_line(picked or "", 80):
        cell += f" — “{md(_one_line(text, 160))}”"
    if cut:
        cell += " (… stopped at the token limit)"
    return cell


def samples_markdown(report: EvaluationReport, strength: float | None, limit: int = 5) -> str:
    """Sample questions with the correct answer, marked right or wrong without the vector and
    at ``strength``; shown also when nothing changed (then it says so)."""
    if strength is None:
        return "No strength other than 0 was evaluated, so there are no answers to compare."
    samples = report.samples_at(strength)[:limit]
    if not samples:
        return (
            f"This evaluation kept no sample answers at strength {strength:g} (evaluations run "
            "before sample answers were kept at every strength)."
        )
    changed = sum(s.unsteered != s.steered for s in samples)
    questions = "question" if len(samples) == 1 else "questions"
    lead = (
        f"{len(samples)} {questions} the vector never saw, answered without the vector and at "
        f"strength {strength:g}; the vector changed "
        + (f"{changed} of these answers." if changed else "none of these answers.")
    )
    rows = [
        "| row | question | correct answer | without the vector | "
        f"with the vector (strength {strength:g}) |",
        "|---|---|---|---|---|",
    ]
    for sample in samples:
        rows.append(
            f"| {sample.row} | {md(_one_line(sample.prompt, 160))} | {md(sample.answer)} | "
            f"{_answer_cell(sample, steered=False)} | {_answer_cell(sample, steered=True)} |"
        )
    return lead + "\n\n" + "\n".join(rows)


def example_set_markdown(
    report: EvaluationReport, config: Mapping[str, Any], lineage: Mapping[str, Any]
) -> str:
    """The example set in one paragraph: name, rows and splits, answer options, chance level."""
    name = str(lineage.get("dataset_name") or "")
    words = [f"**Example set** {'“' + md(name) + '”' if name else '(unnamed)'}:"]
    build, heldout = config.get("build_rows"), config.get("heldout_rows")
    if isinstance(build, int) and isinstance(heldout, int):
        words.append(
            f"{build + heldout} rows used, {build} to choose the strength and {heldout} held out "
            "to report on (the vector never saw those)."
        )
    else:
        words.append(f"{report.rows} questions reported on.")
    if report.options is not None:
        low, high = report.options
        options = f"{low}" if low == high else f"{low} to {high}"
        words.append(f"Each question has {options} answer options")
        if report.chance is not None:
            words[-1] += f", so guessing gets {report.chance:.0%} right."
        else:
            words[-1] += "."
    elif report.mode == "generate":
        words.append("Answers are written out by the model and compared with the correct one.")
    return " ".join(words)


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


def against_evidence_markdown(flag: AgainstEvidence | None) -> str:
    """The warning a reviewer reads above the approve button, with the builder's reason."""
    if flag is None:
        return ""
    reason = f"“{md(flag.reason)}”" if flag.reason else "(no reason was given)"
    return (
        f"⚠ **Submitted against the evidence.** {md(flag.concern)} The builder's reason: "
        f"{reason}. Approving records that you approved it knowing this."
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
