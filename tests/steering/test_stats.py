"""Wilson intervals, McNemar's exact test and the paired bootstrap against independent values."""

from __future__ import annotations

import math

import pytest
from scipy.stats import binomtest

from steering.evaluation.stats import mcnemar_exact, paired_bootstrap, paired_counts, wilson


def test_wilson_matches_hand_value():
    # 8 of 10: centre (0.8 + 1.96^2/20) / (1 + 1.96^2/10), half-width by the textbook formula.
    z = 1.959963984540054
    p, n = 0.8, 10
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    low, high = wilson(8, 10)
    assert low == pytest.approx(centre - half, abs=1e-12)
    assert high == pytest.approx(centre + half, abs=1e-12)
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)  # published table value


def test_wilson_edges():
    assert wilson(0, 0) == (0.0, 1.0)
    low, high = wilson(0, 20)
    assert low == 0.0 and 0.15 < high < 0.17
    low, high = wilson(20, 20)
    assert high == 1.0 and 0.83 < low < 0.85


@pytest.mark.parametrize(
    "gained,lost", [(0, 0), (1, 0), (5, 0), (7, 2), (3, 9), (10, 10), (40, 21)]
)
def test_mcnemar_matches_scipy_binomtest(gained, lost):
    expected = 1.0 if gained + lost == 0 else binomtest(gained, gained + lost, 0.5).pvalue
    assert mcnemar_exact(gained, lost) == pytest.approx(expected, rel=1e-12)


def test_paired_counts_on_a_small_table():
    base = [True, True, False, False, False, True]
    steered = [True, False, True, True, False, True]
    counts = paired_counts(base, steered)
    assert (counts.n, counts.base_correct, counts.steered_correct) == (6, 3, 4)
    assert (counts.gained, counts.lost, counts.discordant) == (2, 1, 3)
    assert counts.p_value == pytest.approx(1.0)


def test_bootstrap_is_deterministic_and_brackets_the_difference():
    base = [i % 3 == 0 for i in range(60)]
    steered = [i % 2 == 0 for i in range(60)]
    first = paired_bootstrap(base, steered, seed=3)
    assert first == paired_bootstrap(base, steered, seed=3)
    assert first != paired_bootstrap(base, steered, seed=4)
    diff = (sum(steered) - sum(base)) / 60
    assert first[0] < diff < first[1]
    assert paired_bootstrap(base, base) == (0.0, 0.0)
