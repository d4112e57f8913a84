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
"""

from __future__ import annotations

from steering.evaluation.results import Verdict
from steering.evaluation.stats import Paired

ALPHA_LEVEL = 0.05
MIN_QUESTIONS = 20
MIN_DISCORDANT = 10


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


def verdict_outcome(counts: Paired, *, tried: int = 1, chosen_on: str = "build") -> Verdict:
    """Which of the conclusions ``verdict_sentence`` draws for the same arguments (see above)."""
    p = _corrected_p(counts, tried, chosen_on)
    if counts.n < MIN_QUESTIONS:
        return Verdict.TOO_FEW_QUESTIONS
    if counts.discordant == 0:
        return Verdict.NO_EFFECT
    if p >= ALPHA_LEVEL and counts.discordant < MIN_DISCORDANT:
        return Verdict.TOO_FEW_CHANGED
    if p < ALPHA_LEVEL and counts.gained > counts.lost:
        return Verdict.IMPROVES
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
) -> str:
    """The verdict for steering at ``alpha`` against no steering on the same questions.

    ``chosen_on`` is ``"build"`` (strength picked on other rows), ``"given"`` (picked by the
    user beforehand) or ``"same"`` (best of ``tried`` strengths on these rows: p is corrected).
    """
    n = counts.n
    p = _corrected_p(counts, tried, chosen_on)
    outcome = verdict_outcome(counts, tried=tried, chosen_on=chosen_on)
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
    if outcome is Verdict.WORSE:
        return f"{head}{caveat}; {chance}, so the vector makes the model worse."
    return (
        f"{head}{caveat}; {chance}, so the difference could be chance and there is no evidence "
        "that the vector helps."
    )


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
