"""Layer lists shown as text, and read back by the same parser users type into."""

from __future__ import annotations

import pytest

from steering.errors import SteeringError
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


def test_huge_ranges_are_refused_before_any_list_is_built():
    # 10 characters that would name ten million layers: refused at once, with a short message.
    with pytest.raises(SteeringError) as caught:
        parse_layers("0-10000000", 30)
    assert str(caught.value) == "Layer(s) 0-10000000 do not exist: this model has layers 0-29."
    with pytest.raises(SteeringError, match="too long"):
        parse_layers(",".join(["1"] * 2000), 30)


def test_messages_name_at_most_a_few_bad_values():
    with pytest.raises(SteeringError) as caught:
        parse_layers(",".join(str(i) for i in range(100, 200)), 30)
    message = str(caught.value)
    assert message.startswith("Layer(s) 100, 101, 102 and 97 more do not exist")
    assert len(message) < 120


def test_backwards_ranges_say_how_to_write_them():
    with pytest.raises(SteeringError, match="runs backwards: write it as 3-5"):
        parse_layers("5-3", 30)
