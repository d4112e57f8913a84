"""Layer lists shown as text, and read back by the same parser users type into."""

from __future__ import annotations

import pytest

from steering.layers import layers_text, parse_layers


@pytest.mark.parametrize(
    ("layers", "text"),
    [
        ([12, 13, 14], "12-14"),
        ([14, 12, 13], "12-14"),  # order does not matter
        ([3, 7], "3,7"),
        ([5], "5"),
        ([], ""),
        ([6, 7, 10], "6,7,10"),  # not one run: listed
    ],
)
def test_layers_text(layers, text):
    assert layers_text(layers) == text


@pytest.mark.parametrize("layers", [[12, 13, 14], [3, 7], [5], [0, 1, 2, 3, 29], [6, 7, 10]])
def test_text_reads_back_as_the_same_layers(layers):
    assert parse_layers(layers_text(layers), 30) == sorted(layers)
