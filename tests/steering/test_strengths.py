"""The one strength parser: what a user may type, and the message when it cannot be used."""

from __future__ import annotations

import pytest

from steering.errors import SteeringError
from steering.evaluation.strengths import parse_strengths, with_baseline


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
