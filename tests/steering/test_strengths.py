"""The one strength parser: what a user may type, and the message when it cannot be used."""

from __future__ import annotations

import pytest

from steering.errors import SteeringError
from steering.evaluation.strengths import (
    DEFAULT_ALPHAS,
    parse_strengths,
    suggested_strengths,
    with_baseline,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0, 0.25, 0.5", [0.0, 0.25, 0.5]),
        ("0.5,1", [0.0, 0.5, 1.0]),  # the baseline is added
        ("1; -1  2", [-1.0, 0.0, 1.0, 2.0]),  # semicolons and spaces, sorted
        ("1, 1, 0.5, 1.0", [0.0, 0.5, 1.0]),  # repeats dropped
        ("-0, 3", [0.0, 3.0]),  # -0 is the baseline, not a second strength
        ("1e2", [0.0, 100.0]),
        ("-1000, 1000", [-1000.0, 0.0, 1000.0]),  # the limits themselves are allowed
        (" ,2, ", [0.0, 2.0]),
    ],
)
def test_parses_and_always_includes_the_baseline(text, expected):
    assert parse_strengths(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0, abc", "Strength 'abc' is not a number"),
        ("0.5, nan", "Strength 'nan' is not a finite number"),
        ("inf", "Strength 'inf' is not a finite number"),
        ("1, 1500", "Strength '1500' is too large"),
        ("-1e4", "Strength '-1e4' is too large"),
        ("0", "at least one strength besides 0"),
        ("0, 0, -0", "at least one strength besides 0"),
        ("", "at least one strength besides 0"),
    ],
)
def test_refuses_with_a_message_naming_the_bad_part(text, message):
    with pytest.raises(SteeringError, match=message):
        parse_strengths(text)


def test_with_baseline_adds_zero_once():
    assert with_baseline([1.0, -0.0, 0.5, 1]) == [0.0, 0.5, 1.0]
    assert with_baseline([]) == [0.0]


def test_suggested_strengths_add_a_share_of_the_residual_norm():
    # Ratio 26 (residual 130 / vector 5), as measured on the bundled model at its middle block:
    # 2.5 %, 5 % and 10 % of the residual norm are 0.65, 1.3 and 2.6 times the vector.
    meta = {"norms": {"15": 5.0, "16": 4.0}, "residual_norms": {"15": 130.0, "16": 160.0}}
    assert suggested_strengths(meta, [15]) == (0.0, 0.65, 1.3, 2.6)
    # Over several layers, the median ratio (26 and 40 -> 33).
    assert suggested_strengths(meta) == (0.0, 0.83, 1.7, 3.3)
    # A vector without the build's numbers (an imported one) gets the plain defaults.
    assert suggested_strengths({"norms": {"3": 1.0}}) == DEFAULT_ALPHAS
    assert suggested_strengths(meta, [7]) == DEFAULT_ALPHAS


def test_build_records_the_residual_norm_of_the_positive_texts(tiny_llama):
    from steering.build import build_vector
    from tests.steering.pairs import arithmetic_pairs
    from tests.steering.reference import block_outputs_one_by_one

    pairs = arithmetic_pairs(5)
    vector = build_vector(tiny_llama, pairs, layers=[1, 3]).vector
    for i in (1, 3):
        norms = [
            float(block_outputs_one_by_one(tiny_llama, p.prompt, p.positive)[i].norm())
            for p in pairs
        ]
        assert vector.metadata["residual_norms"][str(i)] == pytest.approx(sum(norms) / 5, rel=1e-4)
    ratio = vector.metadata["residual_norms"]["3"] / vector.metadata["norms"]["3"]
    assert suggested_strengths(vector.metadata, [3])[-1] == pytest.approx(0.1 * ratio, rel=0.05)
