"""Small in-memory example pairs for engine tests (the file formats are tested elsewhere)."""

from __future__ import annotations

from steering.data.examples import Example


def arithmetic_pairs(n: int = 12) -> list[Example]:
    """Pairs of different lengths, so batches need padding."""
    pairs = []
    for i in range(n):
        a, b = i + 2, 3 * i + 1
        pairs.append(
            Example(
                prompt=f"What is {a} plus {b}?" + " Think." * (i % 3),
                positive=f"{a} plus {b} is {a + b}. The answer is {a + b}.",
                negative=f"The answer is {a + b + 1 + i % 4}.",
                answer=str(a + b),
                row=i + 1,
            )
        )
    return pairs
