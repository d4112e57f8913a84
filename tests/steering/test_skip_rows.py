"""A file with broken rows can be used without them, on its builder's choice: the refusal says
which rows are broken and how many are fine, loading with ``skip_rows`` gives exactly the other
rows (the content hash of a file written without them), and a file-wide problem offers nothing.
"""

from __future__ import annotations

import json

import pytest

from steering.data.examples import ExampleSetError, load_examples
from tests.steering.test_examples import xlsx_bytes

HEADER = ["prompt", "positive", "answer"]


def good(i: int) -> list[str]:
    return [f"What is {i} plus 1?", f"{i} plus 1 is {i + 1}.", str(i + 1)]


def csv_of(rows: list[list[str]]) -> bytes:
    lines = [",".join(HEADER)] + [",".join(f'"{c}"' for c in row) for row in rows]
    return ("\n".join(lines) + "\n").encode()


def refusal(data: bytes, filename: str) -> ExampleSetError:
    with pytest.raises(ExampleSetError) as info:
        load_examples(data, filename=filename)
    return info.value


def test_broken_rows_can_be_skipped_giving_the_rows_a_fixed_file_would_hold() -> None:
    rows = [good(i) for i in range(8)]
    rows[1] = ["What is 1 plus 1?", "", "2"]  # file row 3: empty positive
    rows[3] = ["", "4 plus 1 is 5.", "5"]  # file row 5: empty prompt
    refused = refusal(csv_of(rows), "pairs.csv")
    assert refused.bad_rows == (3, 5)
    assert (refused.valid_rows, refused.can_skip) == (6, True)

    used = load_examples(csv_of(rows), filename="pairs.csv", skip_rows=refused.bad_rows)
    assert used.skipped_rows == (3, 5)
    assert [e.row for e in used.examples] == [2, 4, 6, 7, 8, 9]
    fixed = load_examples(csv_of([r for i, r in enumerate(rows) if i not in (1, 3)]), "fixed.csv")
    assert used.content_hash == fixed.content_hash  # the same examples, whatever was skipped
    assert fixed.skipped_rows == ()


def test_an_excel_copy_with_one_broken_row_offers_the_other_rows() -> None:
    body = [good(i) for i in range(4)]
    body[2] = [body[2][0], body[2][1], None]  # row 4: fine (answer is optional)
    body.append(["What is 9 plus 1?", None, "10"])  # row 6: no positive
    data = xlsx_bytes(HEADER, body)
    refused = refusal(data, "book.xlsx")
    assert (refused.bad_rows, refused.valid_rows) == ((6,), 4)
    assert len(load_examples(data, filename="book.xlsx", skip_rows=[6])) == 4


def test_a_broken_json_line_and_a_broken_rule_are_named_in_one_refusal() -> None:
    lines = [json.dumps(dict(zip(HEADER, good(i), strict=True))) for i in range(5)]
    lines[1] = '{"prompt": "What is 1 plus 1?", "positive": '  # line 2: not JSON
    lines[3] = json.dumps({"prompt": "What is 3 plus 1?", "positive": "  "})  # line 4: empty
    data = "\n".join(lines).encode()
    refused = refusal(data, "pairs.jsonl")
    assert [(e.row, e.message.split(":")[0]) for e in refused.errors] == [
        (2, "line 2"),
        (4, "row 4"),
    ]
    assert (refused.bad_rows, refused.valid_rows) == ((2, 4), 3)
    used = load_examples(data, filename="pairs.jsonl", skip_rows=refused.bad_rows)
    assert [e.row for e in used.examples] == [1, 3, 5]


def test_a_duplicate_is_skipped_and_the_row_it_repeats_is_kept() -> None:
    rows = [good(0), good(1), good(0)]
    refused = refusal(csv_of(rows), "dup.csv")
    assert (refused.bad_rows, refused.valid_rows) == ((4,), 2)
    used = load_examples(csv_of(rows), filename="dup.csv", skip_rows=[4])
    assert [e.row for e in used.examples] == [2, 3]


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"prompt,answer\nWhat?,1\n", "no 'positive' column"),  # a problem of the whole file
        (csv_of([["What?", "", "1"], ["", "b", "2"]]), "column 'positive' is empty"),  # none left
    ],
)
def test_nothing_is_offered_when_skipping_leaves_no_usable_set(data: bytes, why: str) -> None:
    refused = refusal(data, "bad.csv")
    assert why in str(refused)
    assert not refused.can_skip and refused.valid_rows == 0
