"""One evaluation as the Compare tab shows it (the Review tab and the report show the same).

Manager first: the recommendation and the number behind it, the chart, the example set, sample
questions marked right or wrong and side effects in words; the paper's diagnostics and the full
tables are the technical details.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from dashboard import charts
from dashboard.views.common import md, number, one_line
from dashboard.views.examples import skipped_rows_sentence
from steering.engine.gate import GateDecision
from steering.evaluation.answers import extract_answer, is_correct
from steering.evaluation.results import (
    RESULT_COLUMNS,
    EvaluationReport,
    GateReport,
    Sample,
    SideEffects,
    StrengthResult,
)

RESULT_LABELS = [column.label for column in RESULT_COLUMNS]
SIDE_COLUMNS = ["strength", "perplexity of neutral text", "neutral answers changed"]


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
    verdict_box: str = ""  # Markdown: the recommendation and the verdict, in one paragraph
    effects: str = ""  # Markdown: side effects in plain words, with changed neutral answers
    examples: str = ""  # Markdown: the example set in one paragraph
    technical: str = ""  # Markdown: what each diagnostic means
    focus: float | None = None  # the strength the samples and side effects are read at
    gate: str = ""  # Markdown: where the vector was applied, in words (a conditional vector)
    gate_details: str = ""  # Markdown: the gate's block and threshold (technical details)


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
        verdict=verdict_text(report),
        table=results_table(report.results),
        side_effects=side_effects_table(report.side_effects),
        samples=samples_markdown(report, focus),
        chosen_alpha=report.chosen_alpha,
        headline=recommendation_markdown(report, submitted),
        verdict_box=verdict_markdown(report, submitted),
        effects=side_effects_markdown(report.side_effects, focus),
        examples=example_set_markdown(report, config or {}, lineage or {}),
        technical=DIAGNOSTICS_MARKDOWN,
        focus=focus,
        gate=gate_words(report),
        gate_details=gate_details_markdown(report.gate),
    )


NO_GATE_WORDS = (
    "The vector has no gate: it was applied to every prompt, everyday requests included."
)


def gate_words(report: EvaluationReport) -> str:
    """Where the evaluated vector was applied, in words: the counts of task questions and of
    everyday requests its gate opened for (``round(rate * rows)``), or that it has no gate."""
    gate = report.gate
    if gate is None:
        return NO_GATE_WORDS if report.results else ""  # nothing to say without an evaluation
    noun = "new task questions" if report.chosen_on == "build" else "task questions"
    return (
        f"The vector was applied to **{gate.task_applied} of {gate.task_rows}** {noun} and to "
        f"**{gate.everyday_applied} of {gate.everyday_rows}** everyday requests; where it was "
        "not applied, the model answered as it does without the vector."
    )


def gate_details_markdown(gate: GateReport | None) -> str:
    """The gate's figures for the technical details (empty for an unconditional vector)."""
    if gate is None:
        return ""
    return "\n".join(
        [
            f"- **Gate:** the prompt's hidden state at the output of block {gate.layer}, "
            "averaged over the prompt's own words, against the vector's condition direction",
            f"- **Threshold:** cosine similarity {gate.threshold:.4g} or more applies the vector",
            f"- **Opened for:** {gate.task_open_rate:.1%} of {gate.task_rows} task questions, "
            f"{gate.everyday_open_rate:.1%} of {gate.everyday_rows} everyday prompts (the "
            "held-out half, never used to choose the gate)",
        ]
    )


def _verdict_and_disruption(report: EvaluationReport) -> tuple[str, str | None]:
    """The verdict without the disruption note, and the note (None: the gain is not one)."""
    note = (report.disruption or "").strip() or None
    verdict = report.verdict
    if note is not None and note in verdict:
        verdict = " ".join(verdict.replace(note, " ").split())
    return verdict, note


def verdict_text(report: EvaluationReport) -> str:
    """The evaluation's sentence, its disruption note included (plain text)."""
    verdict, note = _verdict_and_disruption(report)
    return f"{verdict} {note}".strip() if note else verdict


def _apart(similarity: float, threshold: float) -> tuple[str, str]:
    """Both numbers with as few decimals (2 to 6) as keep them apart, so a similarity just
    under the threshold never reads the same as it."""
    for digits in range(2, 7):
        a, b = f"{similarity:.{digits}f}", f"{threshold:.{digits}f}"
        if a != b:
            return a, b
    return a, b


def gate_markdown(decision: GateDecision | None, threshold: float | None) -> str:
    """Whether a conditional vector was applied to a steered answer, and why, in one sentence.

    ``decision`` is the answer's gate (``Answer.gate``) and ``threshold`` the vector's
    (``GateCondition.threshold``); empty for an unconditional vector or an unsteered answer.
    """
    if decision is None or threshold is None:
        return ""
    similarity, opens = _apart(decision.similarity, threshold)
    if decision.applied:
        return (
            f"**Applied:** this question reads like your examples (similarity {similarity}; the "
            f"gate opens at {opens})."
        )
    return (
        f"**Not applied:** this question does not read like your examples (similarity "
        f"{similarity}; the gate opens at {opens}), so this answer is the model's own."
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
    return line + _submitted_and_guessing(report, submitted, measured, noun)


def _submitted_and_guessing(
    report: EvaluationReport, submitted: float | None, measured: StrengthResult, noun: str
) -> str:
    """The submitted strength's count when it is not the chosen one, and whether what would be
    deployed scores below guessing."""
    line = ""
    if submitted is not None and submitted != report.chosen_alpha:
        row = report.result_at(submitted)
        if row is not None:
            line += f" The submitted strength {submitted:g} answered {_count(row, noun)} correctly."
            measured = row  # the guessing check is about what would be deployed
    if report.chance is not None and measured.accuracy < report.chance:
        line += f" That is below guessing ({report.chance:.0%} right by picking at random)."
    return line


def verdict_markdown(report: EvaluationReport, submitted: float | None = None) -> str:
    """The evidence panel's box, the verdict said once: the recommendation, the evaluation's
    sentence (counts, chance probability and its conclusion), then the submitted strength and
    below guessing as :func:`recommendation_markdown` says them."""
    line = f"**Recommendation: {report.outcome.recommendation.value}.**"
    verdict, disruption = _verdict_and_disruption(report)
    if verdict:
        line += f" {md(verdict)}"
    if disruption:
        line += f" ⚠ **{md(disruption)}**"
    chosen = report.result_at(report.chosen_alpha) if report.chosen_alpha else None
    measured = chosen or report.baseline
    if measured is None:
        return line
    noun = "held-out questions" if report.chosen_on == "build" else "questions"
    return line + _submitted_and_guessing(report, submitted, measured, noun)


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
                f"\n\n- *{md(one_line(item.prompt))}*\n  - without the vector: "
                f"{md(one_line(item.answers[0.0]))}\n  - at strength {strength:g}: "
                f"{md(one_line(item.answers[strength]))}"
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
    shown = "(no answer found)" if picked is None else md(one_line(picked, 80))
    cell = f"{'✓ right' if right else '✗ wrong'}: {shown}"
    if text is not None and text.strip() and one_line(text, 80) != one_line(picked or "", 80):
        cell += f" — “{md(one_line(text, 160))}”"
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
            f"| {sample.row} | {md(one_line(sample.prompt, 160))} | {md(sample.answer)} | "
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
    skipped = lineage.get("skipped_rows")
    if isinstance(skipped, list | tuple) and skipped:
        words.append(skipped_rows_sentence([int(r) for r in skipped]))
    return " ".join(words)
