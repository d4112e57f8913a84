"""``python -m steering evaluate`` end to end on a tiny model saved to a folder."""

from __future__ import annotations

import json

import pytest

from steering.build import build_vector
from steering.cli import main
from steering.cli.evaluate import format_table
from steering.data.examples import load_examples
from steering.evaluation.evaluate import score_choices
from steering.evaluation.results import CLI_KEYS, StrengthResult, column_label
from tests.steering.pairs import arithmetic_pairs
from tests.tiny import make_tiny


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    loaded = make_tiny("llama", chat_template=True)
    loaded.model.save_pretrained(folder / "model")
    loaded.tokenizer.save_pretrained(folder / "model")
    pairs = arithmetic_pairs(12)
    rows = []
    for p in pairs:
        answer = int(p.answer)
        rows.append(
            {
                "prompt": p.prompt,
                "positive": p.positive,
                "negative": p.negative,
                "answer": p.answer,
                "choices": [str(answer), str(answer + 1), str(answer + 10)],
            }
        )
    data = folder / "data.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    vector = build_vector(loaded, pairs, layers="1-2").vector
    vector.save(folder / "vec.safetensors")
    return loaded, folder, data


def test_evaluate_cli_writes_the_report(setup, capsys):
    loaded, folder, data = setup
    out = folder / "report.json"
    code = main(
        [
            "evaluate", "--model", str(folder / "model"), "--vector", str(folder / "vec.safetensors"),
            "--data", str(data), "--alphas", "0,0.5,2", "--json", str(out), "--no-side-effects",
        ]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report["rows"] == 12 and report["mode"] == "choice"
    assert report["verdict"] and report["verdict"] in printed
    header = printed.splitlines()[1]
    assert "KL (nats)" in header and "entropy (bits)" in header
    assert [r["alpha"] for r in report["results"]] == [0.0, 0.5, 2.0]
    rows = load_examples(data).examples
    from steering.vectors import ControlVector

    vector = ControlVector.load(folder / "vec.safetensors")
    table = score_choices(loaded, rows, vector=vector, alphas=(0.0, 0.5, 2.0))
    for result in report["results"]:
        assert set(CLI_KEYS) <= set(result)
        part = table[table.alpha == result["alpha"]]
        assert result["accuracy"] == pytest.approx(part.correct.mean())
        assert result["accuracy_norm"] == pytest.approx(part.correct_norm.mean())
        assert result["kl"] == pytest.approx(part.kl.mean(), abs=1e-5)
        assert result["entropy_bits"] == pytest.approx(part.entropy_bits.mean(), abs=1e-4)
        assert result["mass_correct"] == pytest.approx(part.mass_correct.mean(), abs=1e-6)
        assert 0.0 <= result["mcnemar_p"] <= 1.0
    assert report["results"][0]["mcnemar_p"] == 1.0


def test_evaluate_cli_errors_exit_2(setup, capsys, tmp_path):
    _, folder, data = setup
    no_answers = tmp_path / "plain.jsonl"
    no_answers.write_text(json.dumps({"prompt": "Hi", "positive": "Hello"}) + "\n")
    args = ["evaluate", "--model", str(folder / "model"), "--vector"]
    assert main(args + [str(folder / "missing.safetensors"), "--data", str(data)]) == 2
    assert "No vector file" in capsys.readouterr().err
    code = main(args + [str(folder / "vec.safetensors"), "--data", str(no_answers)])
    assert code == 2
    assert "has an 'answer'" in capsys.readouterr().err


def test_format_table_labels_and_cells():
    result = StrengthResult(
        alpha=0.5, accuracy=0.25, accuracy_norm=None, ci_low=0.1, ci_high=0.5, kl=0.0312,
        entropy_bits=3.14159, mass_correct=0.5, mass_incorrect=0.125, mcnemar_p=0.0401,
    )  # fmt: skip
    header, row = format_table([result]).splitlines()
    labels = [column_label(key) for key in CLI_KEYS]
    assert labels[0] == "strength" and "KL (nats)" in labels
    # Each cell is right-aligned under its label: split the row at the header's column ends.
    ends = [header.index(label) + len(label) for label in labels]
    cells = [row[start:end].strip() for start, end in zip([0] + ends, ends, strict=False)]
    assert cells == [
        "0.5",
        "0.250",
        "-",
        "0.100",
        "0.500",
        "0.031",
        "3.14",
        "0.500",
        "0.125",
        "0.040",
    ]
