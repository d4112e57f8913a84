"""The bundled example-set generators: deterministic, valid, and what the committed files hold."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from steering.data import tasks
from steering.data.examples import load_examples


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("bundled")
    return {path.name: path for path in tasks.write_bundled(out, seed=0)}


def test_same_seed_gives_identical_files(generated: dict[str, Path], tmp_path: Path):
    again = {path.name: path for path in tasks.write_bundled(tmp_path, seed=0)}
    assert (
        set(again)
        == set(generated)
        == {
            "arithmetic.jsonl",
            "deduction.jsonl",
            "ioi.jsonl",
            "arithmetic.csv",
        }
    )
    for name, path in generated.items():
        assert path.read_bytes() == again[name].read_bytes(), name


def test_other_seed_gives_other_rows():
    for generator in tasks.GENERATORS.values():
        assert generator(20, 0) != generator(20, 1)


def test_committed_files_match_the_generator(generated: dict[str, Path]):
    """The files in assets/examples/ are the output of `python -m steering.data.tasks` (seed 0)."""
    for name, path in generated.items():
        committed = tasks.ASSETS_DIR / name
        assert committed.read_bytes() == path.read_bytes(), f"regenerate {name}"


def test_generated_sets_are_valid_and_have_the_expected_columns(generated: dict[str, Path]):
    loaded = {name: load_examples(path) for name, path in generated.items()}
    for name, example_set in loaded.items():
        assert len(example_set.examples) == tasks.DEFAULT_ROWS, name
        assert all(e.split is None for e in example_set), name
    assert loaded["arithmetic.jsonl"].has_negatives and loaded["ioi.jsonl"].has_negatives
    assert all(e.negative is None for e in loaded["deduction.jsonl"])
    assert loaded["arithmetic.csv"].content_hash == loaded["arithmetic.jsonl"].content_hash


def test_arithmetic_rows_are_correct_and_negatives_wrong():
    for row in tasks.arithmetic(200, seed=3, kinds=list(tasks.ARITHMETIC_KINDS)):
        answer = row["answer"]
        assert row["positive"].endswith(f"The answer is {answer}.")
        wrong = re.search(r"The answer is (\d+)\.$", row["negative"]).group(1)
        assert wrong != answer
        assert sorted(row["choices"]) == sorted([answer, wrong])
        assert all(c.isdigit() for c in row["choices"])


def test_arithmetic_positive_reasoning_checks_out():
    """Every 'a op b = c' written in a positive is true arithmetic."""
    ops = {"+": int.__add__, "-": int.__sub__, "x": int.__mul__}
    for row in tasks.arithmetic(100, seed=5, kinds=list(tasks.ARITHMETIC_KINDS)):
        equations = re.findall(r"(\d+) ([+\-x]) (\d+) = (\d+)", row["positive"])
        assert equations, row["positive"]
        for a, op, b, c in equations:
            assert ops[op](int(a), int(b)) == int(c), row["positive"]


def test_deduction_answer_follows_from_the_story():
    plural_to_single = {v: k for k, v in tasks.ANIMALS.items()}
    for row in tasks.deduction(100, seed=2):
        name = re.search(r"What is (\w+) afraid of\?", row["prompt"]).group(1)
        kind = re.search(rf"{name} is an? (\w+)\.", row["prompt"]).group(1)
        feared = re.search(
            rf"{tasks.ANIMALS[kind].capitalize()} are afraid of (\w+)\.", row["prompt"]
        )
        assert plural_to_single[feared.group(1)] == row["answer"]
        assert sorted(row["choices"]) == sorted(tasks.ANIMALS)
        assert "negative" not in row


def test_ioi_positive_is_the_recipient_not_the_giver():
    for row in tasks.ioi(100, seed=4):
        sentence = row["prompt"].split("\n", 1)[1]
        names = set(re.findall(r"\b(" + "|".join(tasks.IOI_NAMES) + r")\b", sentence))
        assert names == set(row["choices"]) and len(names) == 2
        giver = row["negative"]
        assert sentence.count(giver) == 2 and sentence.count(row["positive"]) == 1
        assert row["answer"] == row["positive"] != giver


def test_cli_writes_the_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    tasks.main(["--out", str(tmp_path), "--rows", "10", "--seed", "1"])
    printed = capsys.readouterr().out.split()
    assert sorted(Path(p).name for p in printed) == sorted(
        ["arithmetic.jsonl", "deduction.jsonl", "ioi.jsonl", "arithmetic.csv"]
    )
    assert len(load_examples(tmp_path / "ioi.jsonl").examples) == 10
