"""Parsing, validation, hashing and splitting of example files (no model needed)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from openpyxl import Workbook

from steering.data.examples import (
    Example,
    ExampleSet,
    ExampleSetError,
    RowError,
    bundled_example_sets,
    load_examples,
    split_examples,
)
from steering.errors import SteeringError
from tests.security.xlsx import raw_xlsx, text_row

ROWS = [
    {
        "prompt": "What is 40 + 2?",
        "positive": "40 + 2 = 42. The answer is 42.",
        "negative": "40 + 2 = 41. The answer is 41.",
        "answer": "42",
        "choices": ["41", "42", "43", "4"],
    },
    {
        "prompt": "Sheep are afraid of wolves. Gertrude is a sheep. What is Gertrude afraid of?",
        "positive": "Gertrude is afraid of wolves. The answer is wolf.",
        "negative": "Gertrude is afraid of cats. The answer is cat.",
        "answer": "wolf",
        "choices": ["wolf", "cat", "mouse", "sheep"],
        "split": "heldout",
    },
    {
        "prompt": "Say something kind.",
        "positive": "You did well today.",
        "negative": "Whatever.",
    },
]


def csv_bytes(text: str) -> bytes:
    return text.encode("utf-8")


def xlsx_bytes(header: list[str], rows: list[list[object]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def rejected(data: bytes, filename: str, **kwargs) -> list[RowError]:
    with pytest.raises(ExampleSetError) as info:
        load_examples(data, filename=filename, **kwargs)
    return info.value.errors


def messages(errors: list[RowError]) -> list[str]:
    return [str(e) for e in errors]


# --------------------------------------------------------------------------- happy path


def test_csv_is_parsed_with_case_insensitive_columns_and_extra_columns_ignored():
    text = (
        " Prompt ,POSITIVE,Negative,Answer,Choices,Notes\n"
        "What is 40 + 2?,It is 42.,It is 41.,42,41| 42 |43,ignore me\n"
        "Hi,Hello,,,,\n"
    )
    loaded = load_examples(csv_bytes(text), filename="pairs.csv")
    assert loaded.name == "pairs"
    first, second = loaded.examples
    assert first == Example(
        prompt="What is 40 + 2?",
        positive="It is 42.",
        negative="It is 41.",
        answer="42",
        choices=("41", "42", "43"),
        split=None,
        row=2,  # the header is row 1, as a spreadsheet shows the file
    )
    assert second.negative is None and second.choices is None and second.row == 3
    assert not loaded.has_negatives


def test_utf8_bom_and_semicolon_csv_are_accepted():
    text = "\ufeffprompt;positive;negative\nCafé?;Oui, café.;Non\n"
    loaded = load_examples(csv_bytes(text), filename="x.csv")
    assert loaded.examples[0].prompt == "Café?"
    assert loaded.examples[0].positive == "Oui, café."
    assert loaded.has_negatives


def test_path_source_and_name(tmp_path: Path):
    path = tmp_path / "my_set.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in ROWS) + "\n", encoding="utf-8")
    loaded = load_examples(path)
    assert loaded.name == "my_set" and len(loaded.examples) == 3
    assert load_examples(str(path), name="other").name == "other"


def test_json_accepts_pipe_string_choices_numbers_and_examples_wrapper():
    doc = {"examples": [{"Prompt": "2*21?", "positive": "42", "answer": 42, "choices": "41|42"}]}
    loaded = load_examples(json.dumps(doc).encode(), filename="a.json")
    assert loaded.examples[0].answer == "42"
    assert loaded.examples[0].choices == ("41", "42")


def test_excel_numbers_become_plain_text():
    data = xlsx_bytes(
        ["prompt", "positive", "answer", "choices"],
        [["6 x 7?", "6 x 7 = 42.", 42.0, "41|42|43"], ["Half of 3?", 1.5, 1.5, None]],
    )
    first, second = load_examples(data, filename="book.xlsx").examples
    assert first.answer == "42"
    assert second.positive == "1.5" and second.answer == "1.5"


def test_to_records_round_trips_choices_as_pipe_text():
    loaded = load_examples(_jsonl(ROWS), filename="x.jsonl")
    records = loaded.to_records()
    assert records[0]["choices"] == "41|42|43|4"
    assert records[1]["split"] == "heldout"
    assert records[2]["choices"] is None and records[2]["row"] == 3
    assert set(records[0]) == {
        "row",
        "prompt",
        "positive",
        "negative",
        "answer",
        "choices",
        "split",
    }


# --------------------------------------------------------------------------- content hash


def _jsonl(rows: list[dict]) -> bytes:
    return ("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n").encode()


def _as_csv(rows: list[dict], columns: list[str]) -> bytes:
    import csv

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for r in rows:
        writer.writerow([_cell(r.get(c.strip().lower())) for c in columns])
    return buffer.getvalue().encode()


def _cell(value: object) -> str:
    if isinstance(value, list):
        return "|".join(value)
    return "" if value is None else str(value)


def test_content_hash_is_identical_across_formats_and_column_orders():
    columns = ["prompt", "positive", "negative", "answer", "choices", "split"]
    shuffled = ["SPLIT", "Choices", " answer", "Negative", "positive", "Prompt "]
    xlsx_rows = [[_cell(r.get(c)) or None for c in columns] for r in ROWS]
    xlsx_rows[0][3] = 42  # a number cell, as Excel stores a typed-in 42
    sets = {
        "jsonl": load_examples(_jsonl(ROWS), filename="s.jsonl"),
        "json": load_examples(json.dumps(ROWS).encode(), filename="s.json"),
        "csv": load_examples(_as_csv(ROWS, columns), filename="s.csv"),
        "csv-reordered": load_examples(_as_csv(ROWS, shuffled), filename="s.csv"),
        "xlsx": load_examples(xlsx_bytes(columns, xlsx_rows), filename="s.xlsx"),
    }
    hashes = {fmt: s.content_hash for fmt, s in sets.items()}
    assert len(set(hashes.values())) == 1, hashes
    assert len(hashes["csv"]) == 64 and int(hashes["csv"], 16) >= 0


def test_content_hash_changes_with_content():
    changed = [dict(ROWS[0], answer="43", choices=["42", "43"]), *ROWS[1:]]
    a = load_examples(_jsonl(ROWS), filename="a.jsonl")
    b = load_examples(_jsonl(changed), filename="a.jsonl")
    assert a.content_hash != b.content_hash


# --------------------------------------------------------------------------- validation


def test_missing_required_column_is_a_file_level_error():
    errors = rejected(csv_bytes("prompt,negative\nHi,Bye\n"), "x.csv")
    assert [(e.row, e.column) for e in errors] == [(None, "positive")]
    assert "no 'positive' column" in str(errors[0])


def test_empty_required_cell_names_row_and_column():
    text = "prompt,positive\nA,B\nC,\n  ,D\n"
    errors = rejected(csv_bytes(text), "x.csv")
    # Rows as Excel shows the file: header 1, A 2, C 3, D 4.
    assert messages(errors) == [
        "row 3: column 'positive' is empty",
        "row 4: column 'prompt' is empty",
    ]
    assert [(e.row, e.column) for e in errors] == [(3, "positive"), (4, "prompt")]


def test_unknown_split_value():
    errors = rejected(csv_bytes("prompt,positive,split\nA,B,train\nC,D,Held-Out\n"), "x.csv")
    assert len(errors) == 1 and errors[0].row == 2 and errors[0].column == "split"
    assert "split 'train' is not allowed" in str(errors[0])


def test_answer_must_be_among_choices_after_stripping():
    text = "prompt,positive,answer,choices\nA,B, 42 ,41| 42\nC,D,7,1|2|3\n"
    errors = rejected(csv_bytes(text), "x.csv")
    assert len(errors) == 1
    assert errors[0].row == 3 and errors[0].column == "answer"
    assert "answer '7' is not one of the choices (1 | 2 | 3)" in str(errors[0])


def test_answer_empty_where_choices_given():
    errors = rejected(csv_bytes("prompt,positive,answer,choices\nA,B,,1|2\n"), "x.csv")
    assert errors[0].row == 2 and errors[0].column == "answer"
    assert "'answer' is empty but 'choices' is filled" in str(errors[0])


def test_duplicate_rows_report_both_row_numbers():
    text = "prompt,positive,negative\nA,B,C\nX,Y,Z\nA,B,C\nA,B,D\n"
    errors = rejected(csv_bytes(text), "x.csv")
    assert len(errors) == 1 and errors[0].row == 4
    assert "row 4: duplicate of row 2" in str(errors[0])


def test_file_too_large_and_too_many_rows():
    data = csv_bytes("prompt,positive\n" + "".join(f"q{i},a{i}\n" for i in range(20)))
    assert "larger than the limit" in str(rejected(data, "x.csv", max_bytes=50)[0])
    errors = rejected(data, "x.csv", max_rows=5)
    assert str(errors[0]) == (
        "the file has more than 5 example rows (the limit); split it into smaller files"
    )


def test_a_csv_cell_over_the_csv_field_limit_names_its_row():
    import csv

    huge = "x" * 15_000_000  # one 15 MB cell, far over Python csv's field size limit
    text = f'prompt,positive\nq1,a1\n"multi\nline",a2\nq3,{huge}\nq4,a4\n'
    errors = rejected(csv_bytes(text), "big-cell.csv")
    assert len(errors) == 1 and errors[0].row == 4  # header 1, q1 2, the two-line cell 3
    message = str(errors[0])
    assert message.startswith("row 4: a cell holds more than ")
    assert f"{csv.field_size_limit():,} characters" in message and len(message) < 300
    # The same cell opened by a quote that is never closed runs on to the end of the file.
    errors = rejected(csv_bytes(f'prompt,positive\nq1,"{huge}\nq2,a2\n'), "open-quote.csv")
    assert errors[0].row == 2 and "never closed" in str(errors[0])


def test_file_too_large_is_checked_before_reading_a_path(tmp_path: Path):
    path = tmp_path / "big.csv"
    path.write_bytes(b"prompt,positive\n" + b"a,b\n" * 100)
    with pytest.raises(ExampleSetError, match="larger than the limit"):
        load_examples(path, max_bytes=100)


def test_undecodable_text_suggests_utf8():
    data = "prompt,positive\nCaf\u00e9,ok\n".encode("latin-1")
    errors = rejected(data, "x.csv")
    assert len(errors) == 1 and "not UTF-8" in str(errors[0]) and "line 2" in str(errors[0])
    assert "save it as UTF-8" in str(errors[0])


def test_malformed_jsonl_reports_every_bad_line():
    data = b'{"prompt": "a", "positive": "b"}\n{"prompt": "c", \n\n["not", "an object"]\n'
    errors = rejected(data, "x.jsonl")
    assert [e.row for e in errors] == [2, 4]
    assert str(errors[0]).startswith("line 2: not valid JSON")
    assert "expected an object" in str(errors[1])


def test_malformed_json_reports_line():
    errors = rejected(b'[\n {"prompt": "a", "positive": "b"}\n {"prompt": "c"}\n]', "x.json")
    assert "malformed at line 3" in str(errors[0])
    assert "found text" in str(rejected(b'"just text"', "x.json")[0])
    assert "must be a list" in str(rejected(b'{"a": 1}', "x.json")[0])


def test_json_non_text_cells_are_reported():
    errors = rejected(json.dumps([{"prompt": ["a"], "positive": "b"}]).encode(), "x.json")
    assert messages(errors) == ["row 1: column 'prompt' must be text, found a list"]


def test_unreadable_excel_empty_file_and_unknown_extension():
    assert "Excel file could not be read" in str(rejected(b"not a zip at all", "x.xlsx")[0])
    assert "empty" in str(rejected(b"", "x.csv")[0])
    assert "empty" in str(rejected(b"  \n", "x.jsonl")[0])
    assert "no example rows" in str(rejected(b"prompt,positive\n", "x.csv")[0])
    unknown = str(rejected(b"prompt,positive\na,b\n", "x.txt")[0])
    assert "'.txt' files are not supported" in unknown
    assert "save it as .xlsx" in str(rejected(b"x", "old.xls")[0])


def test_bytes_need_a_filename_and_missing_path_is_reported(tmp_path: Path):
    with pytest.raises(ExampleSetError, match="file name is missing"):
        load_examples(b"prompt,positive\na,b\n")
    with pytest.raises(ExampleSetError, match="there is no file"):
        load_examples(tmp_path / "nope.csv")


def test_all_errors_are_reported_at_once_and_error_is_a_steering_error():
    text = (
        "prompt,positive,negative,answer,choices,split\n"
        "A,B,,1,1|2,build\n"  # row 2 (the header is row 1): fine
        ",B,,,,\n"  # row 3: empty prompt
        "C,D,,5,1|2,\n"  # row 4: answer not among choices
        "E,F,,,,later\n"  # row 5: bad split
        "A,B,,1,1|2,build\n"  # row 6: duplicate of row 2
        "G,,,,1|2,\n"  # row 7: empty positive and empty answer
    )
    with pytest.raises(SteeringError) as info:
        load_examples(csv_bytes(text), filename="x.csv")
    error = info.value
    assert isinstance(error, ExampleSetError)
    assert [(e.row, e.column) for e in error.errors] == [
        (3, "prompt"),
        (4, "answer"),
        (5, "split"),
        (6, None),
        (7, "positive"),
        (7, "answer"),
    ]
    text_of_error = str(error)
    assert "6 problems" in text_of_error
    for e in error.errors:
        assert e.message in text_of_error


def test_excel_errors_use_the_sheets_row_numbers():
    """Excel shows the header as row 1, so the second example ("c") is row 3; a blank row
    between examples still counts, as it does on screen."""
    data = xlsx_bytes(["Prompt", "Positive"], [["a", "b"], [None, None], ["c", None], ["d", "e"]])
    errors = rejected(data, "x.xlsx")
    assert messages(errors) == ["row 4: column 'positive' is empty"]
    assert [
        e.row
        for e in load_examples(
            xlsx_bytes(["prompt", "positive"], [["a", "b"], [None, None], ["d", "e"]]),
            filename="x.xlsx",
        ).examples
    ] == [2, 4]


def test_row_numbers_follow_each_format():
    """CSV counts the header as row 1 (a quoted line break does not start a row), JSONL counts
    lines (blank lines included), JSON counts the array's items from 1."""
    csv_rows = load_examples(csv_bytes('prompt,positive\n"two\nlines",b\nq,a\n'), filename="x.csv")
    assert [e.row for e in csv_rows.examples] == [2, 3]
    jsonl = b'{"prompt": "a", "positive": "b"}\n\n{"prompt": "c", "positive": "d"}\n'
    assert [e.row for e in load_examples(jsonl, filename="x.jsonl").examples] == [1, 3]
    items = json.dumps([{"prompt": "a", "positive": "b"}, {"prompt": "c", "positive": "d"}])
    assert [e.row for e in load_examples(items.encode(), filename="x.json").examples] == [1, 2]


# --------------------------------------------------------------------------- split


def _numbered(n: int, splits: dict[int, str] | None = None) -> list[Example]:
    splits = splits or {}
    return [
        Example(prompt=f"q{i}", positive=f"a{i}", split=splits.get(i), row=i + 1) for i in range(n)
    ]


def test_split_is_seeded_and_deterministic():
    rows = _numbered(50)
    build, heldout = split_examples(rows, heldout_fraction=0.3, seed=7)
    assert (build, heldout) == split_examples(rows, heldout_fraction=0.3, seed=7)
    assert len(heldout) == 15 and len(build) == 35
    assert sorted(e.row for e in build + heldout) == list(range(1, 51))
    assert [e.row for e in build] == sorted(e.row for e in build)  # file order kept
    assert split_examples(rows, 0.3, seed=8)[1] != heldout


def test_split_is_independent_of_hash_randomisation():
    code = (
        "from steering.data.examples import Example, split_examples;"
        "rows=[Example(prompt=f'q{i}', positive='p', row=i) for i in range(40)];"
        "print([e.row for e in split_examples(rows, 0.25, seed=3)[1]])"
    )
    outputs = set()
    for hash_seed in ("1", "2"):
        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parents[2],
            env={"PYTHONHASHSEED": hash_seed, "PATH": ""},
        )
        outputs.add(result.stdout)
    assert len(outputs) == 1


def test_split_respects_split_column():
    rows = _numbered(20, {0: "heldout", 1: "heldout", 2: "build", 3: "build"})
    for seed in range(5):
        build, heldout = split_examples(rows, heldout_fraction=0.5, seed=seed)
        assert {1, 2} <= {e.row for e in heldout}
        assert {3, 4} <= {e.row for e in build}
        assert len(heldout) == 2 + 8


def test_split_edges():
    rows = _numbered(3)
    assert split_examples(rows, 0.0)[1] == []
    assert split_examples(rows, 1.0)[0] == []
    assert len(split_examples(_numbered(2), 0.1)[1]) == 1  # never an empty held-out side
    with pytest.raises(ExampleSetError, match="between 0 and 1"):
        split_examples(rows, 1.5)
    loaded = ExampleSet(name="x", examples=tuple(rows))
    assert split_examples(loaded, 0.3, seed=1) == split_examples(rows, 0.3, seed=1)


# --------------------------------------------------------------------------- bundled sets


def test_bundled_sets_parse_and_have_expected_columns():
    sets = bundled_example_sets()
    assert {"arithmetic", "deduction", "ioi", "arithmetic.csv"} <= set(sets)
    loaded = {name: load_examples(path) for name, path in sets.items()}
    for name, example_set in loaded.items():
        assert len(example_set.examples) >= 150, name
        assert all(e.answer and e.choices and e.answer in e.choices for e in example_set), name
    assert loaded["arithmetic"].has_negatives
    assert loaded["ioi"].has_negatives
    assert all(e.negative is None for e in loaded["deduction"])
    assert all(len(e.choices) == 2 for e in loaded["arithmetic"])
    assert all(len(e.choices) == 4 for e in loaded["deduction"])
    assert all(len(e.choices) == 2 for e in loaded["ioi"])
    assert loaded["arithmetic.csv"].content_hash == loaded["arithmetic"].content_hash


# ------------------------------------------------------------------ bounded work on spreadsheets


def test_a_spreadsheet_bomb_stops_at_the_row_limit_without_reading_further():
    """A million rows in a few hundred KB; row 60,001 is broken XML. Reading must stop at the
    limit (50,000 example rows) and say so: had it read on, the broken row would be the error."""
    rows = [text_row(1, "prompt", "positive")]
    rows += (text_row(i, f"q{i}", "a") for i in range(2, 60_001))
    rows.append('<row r="60001"><c r="A60001" t="inlineStr"><is><t>broken</row>')
    data = raw_xlsx(rows, dimension="A1:XFD1048576")
    assert len(data) < 1_000_000
    errors = rejected(data, "bomb.xlsx")
    assert [str(e) for e in errors] == [
        "the file has more than 50,000 example rows (the limit); split it into smaller files"
    ]


def test_a_claimed_sheet_size_does_not_pad_rows():
    """The dimension claims 16,384 columns and a million rows; only the real cells are read, and
    cells right of the header (even at column XFD) are left out."""
    rows = [
        text_row(1, "prompt", "positive"),
        text_row(2, "q", "a"),
        text_row(3, "x", column=16384),
    ]
    rows.append(text_row(4, "q2", "a2"))
    data = raw_xlsx(rows, dimension="A1:XFD1048576")
    examples = load_examples(data, filename="wide.xlsx").examples
    assert [(e.row, e.prompt, e.positive) for e in examples] == [(2, "q", "a"), (4, "q2", "a2")]


def test_a_spreadsheet_that_takes_too_long_is_stopped_with_a_message():
    """Under the row limit but with 300 cells a row: the parse budget (here 0.01 s) stops it."""
    rows = [text_row(1, "prompt", "positive", *(f"c{j}" for j in range(298)))]
    rows += (text_row(i, f"q{i}", "a", *(["x"] * 298)) for i in range(2, 800))
    data = raw_xlsx(rows)
    with pytest.raises(ExampleSetError) as caught:
        load_examples(data, filename="slow.xlsx", max_seconds=0.01)
    message = str(caught.value)
    assert "reading the Excel file was stopped after 0.01 seconds" in message
    assert "export the examples as CSV UTF-8" in message and len(message) < 400


def test_a_workbook_that_unpacks_to_too_much_is_refused_before_parsing(monkeypatch):
    import steering.data.read_xlsx as read_xlsx

    data = raw_xlsx([text_row(1, "prompt", "positive"), text_row(2, "q", "a")])
    monkeypatch.setattr(read_xlsx, "XLSX_MAX_UNPACKED", 1_000)
    errors = rejected(data, "x.xlsx")
    assert "unpacks to more than" in str(errors[0]) and len(errors) == 1


# ------------------------------------------------------------------ numbers and nesting in JSON


@pytest.mark.parametrize(
    ("written", "shown"),
    [("NaN", "NaN"), ("Infinity", "Infinity"), ("-Infinity", "-Infinity"), ("1e400", "1e400"),
     ("1e300", "1e300"), ("-2.5e16", "-2.5e16"), ("9" * 150, "9" * 20 + "…")],
)  # fmt: skip
def test_unusable_json_numbers_are_named_by_row_and_field(written: str, shown: str):
    lines = [
        '{"prompt": "What is 1 + 1?", "positive": "2", "answer": 2}',
        '{"prompt": "What is 2 + 2?", "positive": "4", "answer": ' + written + "}",
    ]
    errors = rejected("\n".join(lines).encode(), "x.jsonl")
    assert [(e.row, e.column) for e in errors] == [(2, "answer")]
    assert str(errors[0]) == (
        f"row 2: column 'answer' holds the number {shown}, which is infinite, not a number or too "
        f'large to use; if you mean the text, put it in quotes ("{shown}")'
    )


def test_usable_json_numbers_become_their_text():
    data = b'[{"prompt": "p", "positive": "q", "answer": 123456789012345678901, "split": null}]'
    (example,) = load_examples(data, filename="x.json").examples
    assert example.answer == "123456789012345678901"


def test_deeply_nested_json_gets_a_message_with_where():
    deep = "[" * 50_000 + "]" * 50_000
    document = '[\n{"prompt": "p", "positive": "q"},\n{"prompt": "p2", "positive": ' + deep + "}]"
    errors = rejected(document.encode(), "x.json")
    assert len(errors) == 1
    assert str(errors[0]).startswith("the JSON is nested hundreds of levels deep")
    # Level 101 opens at line 3: the list and the object are levels 1 and 2, so it is the value's
    # 99th bracket, after the 29 characters of '{"prompt": "p2", "positive": '.
    assert str(errors[0]).endswith(f"(at line 3, column {29 + 99})")
    lines = ['{"prompt": "p", "positive": "q"}', '{"prompt": ' + deep + "}"]
    (error,) = rejected("\n".join(lines).encode(), "x.jsonl")
    assert error.row == 2 and str(error).startswith("line 2: the JSON is nested hundreds of levels")
