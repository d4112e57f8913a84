"""The verdict's wording at the edges: it never says "improves" when the test says chance."""

from __future__ import annotations

import pytest

from steering.evaluation.results import Verdict, outcome_from_old_sentence
from steering.evaluation.stats import Paired
from steering.evaluation.verdict import no_strength_chosen, verdict_outcome, verdict_sentence


def counts(n: int, base: int, gained: int, lost: int) -> Paired:
    return Paired(n, base, base + gained - lost, gained, lost)


def test_significant_gain_says_improves_with_the_numbers():
    text = verdict_sentence(0.5, counts(200, 104, 20, 6))
    assert text.startswith(
        "At strength 0.5 the model answered 118 of 200 held-out questions correctly, "
        "against 104 without the vector; a difference this large would arise by chance with "
        "probability 0.009"
    )
    assert "improves" in text


def test_significant_loss_says_worse():
    text = verdict_sentence(1, counts(200, 120, 3, 25))
    assert "makes the model worse" in text and "improve" not in text
    assert "probability less than 0.001" in text


def test_chance_difference_never_says_improves():
    text = verdict_sentence(0.25, counts(200, 100, 14, 8))  # p = 0.29
    assert "improve" not in text
    assert "could be chance" in text and "probability 0.29" in text


def test_no_changed_answer_is_no_effect():
    text = verdict_sentence(0.25, counts(100, 50, 0, 0))
    assert "changed none of the answers" in text and "no effect" in text
    assert "improve" not in text


def test_too_few_discordant_pairs():
    text = verdict_sentence(0.5, counts(200, 100, 5, 1))  # p = 0.22, 6 changed
    assert "Only 6 answers changed, too few to tell" in text
    assert "improve" not in text


def test_too_few_questions_even_when_all_gained():
    text = verdict_sentence(0.5, counts(12, 2, 9, 0))  # p = 0.004 but only 12 questions
    assert "too few to tell" in text and "12 questions" in text
    assert "improves" not in text


def test_best_of_several_on_the_same_rows_is_corrected():
    # p = 0.021 alone; best of 4 on the same rows -> 0.085: no longer significant.
    gain = counts(200, 100, 16, 5)
    assert "improves" in verdict_sentence(0.5, gain, chosen_on="given")
    text = verdict_sentence(0.5, gain, tried=4, chosen_on="same", questions="questions")
    assert "best of 4" in text and "improve" not in text and "probability 0.05" not in text


def test_no_strength_chosen():
    text = no_strength_chosen(counts(140, 70, 0, 0), counts(60, 31, 0, 0))
    assert "No strength did better" in text and "31 of 60" in text and "improve" not in text


@pytest.mark.parametrize(
    ("paired", "kwargs", "expected"),
    [
        (counts(200, 104, 20, 6), {}, Verdict.IMPROVES),
        (counts(200, 120, 3, 25), {}, Verdict.WORSE),
        (counts(200, 100, 14, 8), {}, Verdict.NO_EVIDENCE),
        (counts(100, 50, 0, 0), {}, Verdict.NO_EFFECT),
        (counts(200, 100, 5, 1), {}, Verdict.TOO_FEW_CHANGED),
        (counts(12, 2, 9, 0), {}, Verdict.TOO_FEW_QUESTIONS),
        (counts(200, 100, 16, 5), {"chosen_on": "given"}, Verdict.IMPROVES),
        (counts(200, 100, 16, 5), {"tried": 4, "chosen_on": "same"}, Verdict.NO_EVIDENCE),
    ],
)
def test_outcome_matches_the_sentence(paired, kwargs, expected):
    # The enum and the words come from one decision; a stored sentence maps back to the same value.
    assert verdict_outcome(paired, **kwargs) is expected
    assert outcome_from_old_sentence(verdict_sentence(0.5, paired, **kwargs)) is expected


def test_no_strength_chosen_sentence_reads_back_as_its_outcome():
    text = no_strength_chosen(counts(140, 70, 0, 0), counts(60, 31, 0, 0))
    assert outcome_from_old_sentence(text) is Verdict.NO_STRENGTH_CHOSEN
