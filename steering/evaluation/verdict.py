"""One plain-language sentence that says what an evaluation showed, without overclaiming.

The sentence always gives the counts ("answered 118 of 200 held-out questions correctly, against
104 without the vector") and the chance probability from McNemar's exact test, then one of five
conclusions:

- too few questions (fewer than ``MIN_QUESTIONS``): no conclusion is drawn;
- the vector changed no answer at all: no effect;
- fewer than ``MIN_DISCORDANT`` answers changed and the test is not significant: too few changed
  answers to tell;
- significant (p < ``ALPHA_LEVEL``) and more questions gained than lost: the vector improves
  accuracy; significant and more lost than gained: it makes the model worse;
- otherwise: the difference could be chance, no evidence either way.

"improves" is used only in the significant-gain case. When the strength was picked as the best of
several on the very questions it is reported on, the p-value is Bonferroni-corrected for the number
of strengths tried and the sentence says so. ``verdict_outcome`` gives the same conclusion as a
``Verdict`` value, for code that acts on it rather than shows it.

A gain by disruption is named (``disruption_note``, the one place the rule is written): when
accuracy rises at a strength where the mean probability on the correct answer falls below its
value without the vector, or where the probability on all the answer options together collapses
below ``COLLAPSE_SHARE`` of it, the sentence says that the gain comes from disrupting the model,
and a significant gain of that kind is ``Verdict.GAIN_BY_DISRUPTION`` (do not deploy), never
"improves".

Side effects beyond the lab's limits are named the same way (``side_effect_note``, the one place
that rule is written): at the chosen strength, neutral perplexity more than 10 % away from the
unsteered model's (``PERPLEXITY_LIMIT``) or more than 5 % of everyday answers changed
(``CHANGED_LIMIT``). A significant gain with such side effects is
``Verdict.GAIN_WITH_SIDE_EFFECTS`` (do not deploy); disruption takes precedence when both apply.
Side effects that were not measured leave the verdict as it is, and an "improves" then says so.

``gate_sentence`` says a conditional vector's gate in words, before any technical figure.
"""

from __future__ import annotations

import math

from steering.evaluation.results import GateReport, SideEffects, StrengthResult, Verdict
from steering.evaluation.stats import Paired

ALPHA_LEVEL = 0.05
MIN_QUESTIONS = 20
MIN_DISCORDANT = 10
# The candidates' total first-token probability at a strength, as a share of strength 0's, below
# which it has collapsed. Scoring picks the most likely candidate however little probability the
# candidates hold, so once the model puts most of its probability elsewhere the pick among what is
# left is close to noise: an accuracy "gain" there reflects an erased preference (a model biased
# to a wrong answer lands near guessing), not knowledge. A vector that sharpens or shifts an
# answer moves probability between the candidates, not out of them, so losing more than half of
# it is a round line well outside that (the IOI run in docs/results.md lost nearly all of it).
COLLAPSE_SHARE = 0.5
# The lab's deploy rule on side effects at the chosen strength (issue 21): neutral perplexity
# within 10 % of the unsteered model's (either way: a vector that makes neutral text much more
# predictable has changed the model as much as one that makes it less), and at most 5 % of
# everyday answers changed. Figures exactly at a limit are within it.
PERPLEXITY_LIMIT = 1.10
CHANGED_LIMIT = 0.05
# Float slack, so that a figure computed as exactly a limit (11 / 10) is not read as over it.
_SLACK = 1e-9
NOT_MEASURED = (
    "Its side effects on everyday text were not measured, so they were not checked against the "
    "lab's limits."
)


def _strength(alpha: float) -> str:
    return f"{alpha:g}"


def _probability(p: float) -> str:
    if p < 0.001:
        return "less than 0.001"
    if p < 0.01:
        return f"{p:.3f}"
    return f"{p:.2f}"


def _corrected_p(counts: Paired, tried: int, chosen_on: str) -> float:
    # Best of several strengths on the same questions: Bonferroni-correct for the number tried.
    if chosen_on == "same" and tried > 1:
        return min(1.0, counts.p_value * tried)
    return counts.p_value


def _total_mass(result: StrengthResult) -> float | None:
    if result.mass_correct is None or result.mass_incorrect is None:
        return None
    return result.mass_correct + result.mass_incorrect


def _rises(baseline: StrengthResult, steered: StrengthResult) -> bool:
    if baseline.correct is not None and steered.correct is not None:
        return steered.correct > baseline.correct
    return steered.accuracy > baseline.accuracy


def disruption_note(baseline: StrengthResult, steered: StrengthResult) -> str | None:
    """Why the accuracy gain of ``steered`` over ``baseline`` (strength 0, the same questions)
    comes from disrupting the model, in plain words; None when accuracy does not rise, or rises
    with the probability on the correct answer not falling and the candidates' mass not collapsed.

    Probabilities are the means over questions of the first answer token's probability
    (``mass_correct``, and ``mass_correct + mass_incorrect`` for all candidates); a figure that
    was not measured (None) triggers nothing.
    """
    if not _rises(baseline, steered):
        return None
    reasons = []
    if (
        baseline.mass_correct is not None
        and steered.mass_correct is not None
        and steered.mass_correct < baseline.mass_correct
    ):
        reasons.append(
            f"the probability the model gives the correct answer fell from "
            f"{_answer_probability(baseline.mass_correct)} to {_answer_probability(steered.mass_correct)}"
        )
    base_total, steered_total = _total_mass(baseline), _total_mass(steered)
    if (
        base_total is not None
        and steered_total is not None
        and base_total > 0
        and steered_total < COLLAPSE_SHARE * base_total
    ):
        reasons.append(
            f"the probability it gives all the answer options together fell from "
            f"{_answer_probability(base_total)} to {_answer_probability(steered_total)}, less than "
            f"{COLLAPSE_SHARE:.0%} of it"
        )
    if not reasons:
        return None
    return (
        "The gain comes from disrupting the model, not from better reasoning: at strength "
        f"{_strength(steered.alpha)} {' and '.join(reasons)}, so the extra right answers come "
        "from knocking the model off the answers it would give, not from it knowing them better."
    )


def _answer_probability(value: float) -> str:
    """Three decimals, or two significant digits below 0.001, so that a fall never reads as
    "from 0.000 to 0.000" (0.00012, not 1.2e-04); below one in a billion, said so."""
    if value >= 0.001 or value == 0:
        return f"{value:.3f}"
    if value < 1e-9:
        return "less than 0.000000001"
    return f"{value:.{1 - math.floor(math.log10(value))}f}"


def _trimmed(value: float, decimals: int) -> str:
    # Whole numbers as whole numbers: 2.0 -> "2", 1.80 -> "1.8".
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _shown(value: float, limit: float, decimals: int) -> str:
    # One more decimal where rounding would hide that the figure is over its limit
    # ("5.2 %", not "5 %, more than the 5 % the lab allows").
    for places in range(decimals, decimals + 3):
        text = _trimmed(value, places)
        if float(text) > limit + _SLACK:
            return text
    return f"{value:.{decimals + 3}f}"


def _perplexity(value: float) -> str:
    return _trimmed(value, 0 if value >= 10 else 1)


def side_effect_note(side_effects: SideEffects, alpha: float) -> str | None:
    """Which of the lab's side-effect limits steering at ``alpha`` exceeds, in plain words: more
    than ``CHANGED_LIMIT`` of everyday answers changed, or neutral perplexity further than
    ``PERPLEXITY_LIMIT`` from strength 0's; None when within both, at strength 0, or where a
    figure was not measured (a missing figure triggers nothing, as in ``disruption_note``).

    Counts are the everyday answers recorded (``side_effects.answers``); without them the share
    alone is given.
    """
    if not side_effects.measured or float(alpha) == 0.0:
        return None
    alpha = float(alpha)
    parts = []
    share = side_effects.changed_share.get(alpha)
    if share is not None and share > CHANGED_LIMIT + _SLACK:
        percent = _shown(share * 100, CHANGED_LIMIT * 100, 0)
        total = len(side_effects.answers)
        counted = f"{round(share * total)} of {total} " if total else f"{percent} % of the "
        shown = f" ({percent} %)" if total else ""
        parts.append(
            f"changed {counted}everyday answers{shown}, more than the "
            f"{CHANGED_LIMIT * 100:g} % the lab allows"
        )
    base, steered = side_effects.perplexity.get(0.0), side_effects.perplexity.get(alpha)
    allowed = round((PERPLEXITY_LIMIT - 1) * 100)
    if base and steered:
        ratio = steered / base
        if abs(ratio - 1) > PERPLEXITY_LIMIT - 1 + _SLACK:
            times = _shown(max(ratio, 1 / ratio), PERPLEXITY_LIMIT, 1)
            way = "less" if ratio > 1 else "more"
            parts.append(
                f"made neutral text {times} times {way} predictable (perplexity "
                f"{_perplexity(base)} -> {_perplexity(steered)}, the lab allows {allowed} %)"
            )
    if not parts:
        return None
    return f"At strength {_strength(alpha)}, the vector also {', and '.join(parts)}."


def verdict_outcome(
    counts: Paired,
    *,
    tried: int = 1,
    chosen_on: str = "build",
    disrupted: bool = False,
    side_effects_over: bool = False,
) -> Verdict:
    """Which of the conclusions ``verdict_sentence`` draws for the same arguments (see above);
    ``disrupted``: ``disruption_note`` named the gain; ``side_effects_over``: ``side_effect_note``
    named side effects beyond the limits at the same strength (disruption takes precedence)."""
    p = _corrected_p(counts, tried, chosen_on)
    if counts.n < MIN_QUESTIONS:
        return Verdict.TOO_FEW_QUESTIONS
    if counts.discordant == 0:
        return Verdict.NO_EFFECT
    if p >= ALPHA_LEVEL and counts.discordant < MIN_DISCORDANT:
        return Verdict.TOO_FEW_CHANGED
    if p < ALPHA_LEVEL and counts.gained > counts.lost:
        if disrupted:
            return Verdict.GAIN_BY_DISRUPTION
        return Verdict.GAIN_WITH_SIDE_EFFECTS if side_effects_over else Verdict.IMPROVES
    if p < ALPHA_LEVEL and counts.lost > counts.gained:
        return Verdict.WORSE
    return Verdict.NO_EVIDENCE


def verdict_sentence(
    alpha: float,
    counts: Paired,
    *,
    questions: str = "held-out questions",
    tried: int = 1,
    chosen_on: str = "build",
    disruption: str | None = None,
    side_effects: SideEffects | None = None,
) -> str:
    """The verdict for steering at ``alpha`` against no steering on the same questions.

    ``chosen_on`` is ``"build"`` (strength picked on other rows), ``"given"`` (picked by the
    user beforehand) or ``"same"`` (best of ``tried`` strengths on these rows: p is corrected).
    ``disruption`` is ``disruption_note``'s sentence at ``alpha``: a significant gain then does
    not "improve", and any other conclusion is followed by it. ``side_effects`` are the
    evaluation's (``SideEffects()`` when not measured; None leaves them out of the verdict): a
    significant gain beyond their limits (``side_effect_note``) does not "improve" either, and
    an "improves" without them measured says so.
    """
    note = side_effect_note(side_effects, alpha) if side_effects is not None else None
    outcome = verdict_outcome(
        counts, tried=tried, chosen_on=chosen_on, disrupted=disruption is not None,
        side_effects_over=note is not None,
    )  # fmt: skip
    text = _sentence(alpha, counts, outcome, questions=questions, tried=tried,
                     chosen_on=chosen_on, disruption=disruption, side_effects=note)  # fmt: skip
    if disruption and not text.endswith(disruption):
        text += f" {disruption}"
    if outcome is Verdict.GAIN_BY_DISRUPTION and note:
        text += f" {note}"
    if outcome is Verdict.IMPROVES and side_effects is not None and not side_effects.measured:
        text += f" {NOT_MEASURED}"
    return text


def _sentence(
    alpha: float,
    counts: Paired,
    outcome: Verdict,
    *,
    questions: str,
    tried: int,
    chosen_on: str,
    disruption: str | None,
    side_effects: str | None,
) -> str:
    n = counts.n
    p = _corrected_p(counts, tried, chosen_on)
    head = (
        f"At strength {_strength(alpha)} the model answered {counts.steered_correct} of {n} "
        f"{questions} correctly, against {counts.base_correct} without the vector"
    )
    if chosen_on == "same" and tried > 1:
        caveat = (
            f" (this strength was the best of {tried} tried on these same questions, so the "
            f"chance probability is corrected for trying {tried})"
        )
    else:
        caveat = ""
    if outcome is Verdict.TOO_FEW_QUESTIONS:
        return (
            f"{head}{caveat}. With only {n} questions that is too few to tell whether the vector "
            f"helps; evaluate on at least {MIN_QUESTIONS}."
        )
    if outcome is Verdict.NO_EFFECT:
        return f"{head}{caveat}; the vector changed none of the answers, so it has no effect here."
    chance = f"a difference this large would arise by chance with probability {_probability(p)}"
    if outcome is Verdict.TOO_FEW_CHANGED:
        return (
            f"{head}{caveat}; {chance}. Only {counts.discordant} answers changed, too few to tell "
            "whether the vector helps or hurts."
        )
    if outcome is Verdict.IMPROVES:
        return f"{head}{caveat}; {chance}, so the vector improves accuracy."
    if outcome is Verdict.GAIN_BY_DISRUPTION:
        return f"{head}{caveat}; {chance}. {disruption}"
    if outcome is Verdict.GAIN_WITH_SIDE_EFFECTS:
        return (
            f"{head}{caveat}; {chance}. The vector raises accuracy, but it changes the model "
            f"elsewhere more than the lab allows for deploying it: {_lower_first(side_effects)}"
        )
    if outcome is Verdict.WORSE:
        return f"{head}{caveat}; {chance}, so the vector makes the model worse."
    return (
        f"{head}{caveat}; {chance}, so the difference could be chance and there is no evidence "
        "that the vector helps."
    )


def _lower_first(text: str | None) -> str:
    text = text or ""
    return text[:1].lower() + text[1:]


def no_strength_chosen(build_counts: Paired, heldout: Paired | None = None) -> str:
    """The verdict when no strength beat the unsteered model on the build rows.

    Its outcome is always ``Verdict.NO_STRENGTH_CHOSEN``.
    """
    text = (
        f"No strength did better than the unsteered model on the {build_counts.n} build "
        f"questions ({build_counts.base_correct} correct without the vector), so no strength is "
        "recommended and the vector does not help"
    )
    if heldout is not None:
        text += (
            f"; on the held-out questions the unsteered model answered "
            f"{heldout.base_correct} of {heldout.n} correctly"
        )
    return text + "."


def gate_sentence(gate: GateReport, *, questions: str = "new task questions") -> str:
    """A conditional vector's gate in words: how many task questions and everyday requests the
    vector was applied to (counts ``round(rate * rows)``), before any technical figure."""
    return (
        f"The vector was applied to {gate.task_applied} of {gate.task_rows} {questions} and to "
        f"{gate.everyday_applied} of {gate.everyday_rows} everyday requests."
    )
