"""The engine's command line, end to end on a tiny model saved to a folder."""

import json
import subprocess
import sys

import gguf
import pytest
import torch

from steering.build import build_vector
from steering.vectors import ControlVector
from tests.steering.pairs import arithmetic_pairs
from tests.steering.reference import cosine


def run_cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "steering", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tiny_llama):
    folder = tmp_path_factory.mktemp("tiny-llama")
    tiny_llama.model.save_pretrained(folder)
    tiny_llama.tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("pairs") / "pairs.jsonl"
    rows = [
        {"prompt": p.prompt, "positive": p.positive, "negative": p.negative, "answer": p.answer}
        for p in arithmetic_pairs(8)
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_info_prints_the_model_card(model_dir):
    result = run_cli("info", "--model", str(model_dir))
    assert result.returncode == 0, result.stderr
    card = json.loads(result.stdout)
    assert card["layers"] == 4 and card["hidden_size"] == 32
    assert card["chat_template"] is True
    assert len(card["fingerprint"]) == 32


def test_build_generate_export(tmp_path, model_dir, pairs_file, tiny_llama):
    out = tmp_path / "vec.safetensors"
    result = run_cli(
        "build",
        "--model",
        str(model_dir),
        "--pairs",
        str(pairs_file),
        "--out",
        str(out),
        "--method",
        "mean_diff",
        "--negatives",
        "column",
        "--layers",
        "all",
        "--batch-size",
        "3",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out)
    assert "reading activations" in result.stderr  # the progress bar
    vector = ControlVector.load(out)
    expected = build_vector(tiny_llama, arithmetic_pairs(8)).vector
    assert vector.layers == [0, 1, 2, 3]
    for i in vector.layers:
        assert cosine(vector.directions[i], expected.directions[i]) >= 0.9999
    assert vector.metadata["dataset_hash"]

    gen = run_cli(
        "generate",
        "--model",
        str(model_dir),
        "--vector",
        str(out),
        "--prompt",
        "What is 2 plus 3?",
        "--alpha",
        "4",
        "--layers",
        "1-2",
        "--max-new-tokens",
        "5",
    )
    assert gen.returncode == 0, gen.stderr
    answers = json.loads(gen.stdout)
    assert set(answers) == {"unsteered", "steered"}

    # A default build includes block 0: export leaves it out and says so on stderr.
    exported = run_cli(
        "export", "--vector", str(out), "--format", "gguf", "--out", str(tmp_path / "all.gguf")
    )
    assert exported.returncode == 0, exported.stderr
    assert "Block 0 is left out" in exported.stderr
    _assert_same(_gguf_directions(tmp_path / "all.gguf"), vector, (1, 2, 3))

    # An explicit choice with block 0 is refused and writes nothing.
    refused = run_cli(
        "export", "--vector", str(out), "--layers", "0-2", "--out", str(tmp_path / "zero.gguf")
    )
    assert refused.returncode == 2
    assert "Layer 0 cannot be exported" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not (tmp_path / "zero.gguf").exists()

    # An explicit choice without 0 exports exactly those layers, with the strength recorded.
    chosen = run_cli(
        "export", "--vector", str(out), "--layers", "2,3", "--strength", "0.5",
        "--out", str(tmp_path / "v.gguf"),
    )  # fmt: skip
    assert chosen.returncode == 0, chosen.stderr
    assert "Block 0" not in chosen.stderr
    _assert_same(_gguf_directions(tmp_path / "v.gguf"), vector, (2, 3))
    reader = gguf.GGUFReader(tmp_path / "v.gguf")
    assert float(reader.fields["controlvector.strength"].parts[-1][0]) == 0.5

    # Import gives back the exported tensors as a vector for the same model.
    back = run_cli(
        "import", "--gguf", str(tmp_path / "v.gguf"), "--model", str(model_dir),
        "--out", str(tmp_path / "back.safetensors"),
    )  # fmt: skip
    assert back.returncode == 0, back.stderr
    imported = ControlVector.load(tmp_path / "back.safetensors")
    _assert_same(imported.directions, vector, (2, 3))
    assert imported.metadata["source"] == "imported"
    assert imported.metadata["model_id"] == str(model_dir)


def _gguf_directions(path) -> dict[int, torch.Tensor]:
    reader = gguf.GGUFReader(path)
    return {int(t.name.split(".")[1]): torch.tensor(t.data.copy()) for t in reader.tensors}


def _assert_same(directions: dict[int, torch.Tensor], vector: ControlVector, layers) -> None:
    assert sorted(directions) == list(layers)
    for i in layers:
        assert torch.equal(directions[i], vector.directions[i]), i


def test_user_errors_exit_2_without_traceback(tmp_path, model_dir):
    missing = run_cli(
        "build",
        "--model",
        str(model_dir),
        "--pairs",
        str(tmp_path / "nope.csv"),
        "--out",
        str(tmp_path / "v.safetensors"),
    )
    assert missing.returncode == 2
    assert "Traceback" not in missing.stderr and missing.stderr.startswith("error:")
    bad_layers = run_cli(
        "build",
        "--model",
        str(model_dir),
        "--pairs",
        str(tmp_path / "nope.csv"),
        "--out",
        str(tmp_path / "v.safetensors"),
        "--layers",
        "1-99",
    )
    assert bad_layers.returncode == 2
    no_model = run_cli("info", "--model", str(tmp_path / "missing.gguf"))
    assert no_model.returncode == 2 and "No GGUF file" in no_model.stderr


def test_build_condition_auto_writes_the_gate_and_off_or_too_few_rows_do_not(tmp_path, model_dir):
    from safetensors import safe_open

    pairs = tmp_path / "twenty.jsonl"
    rows = [
        {"prompt": p.prompt, "positive": p.positive, "negative": p.negative}
        for p in arithmetic_pairs(20)
    ]
    pairs.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    common = ("build", "--model", str(model_dir), "--pairs", str(pairs), "--layers", "1-2")
    gated = run_cli(*common, "--out", str(tmp_path / "gated.safetensors"))  # auto by default
    assert gated.returncode == 0, gated.stderr
    assert "Gate at block" in gated.stderr
    with safe_open(str(tmp_path / "gated.safetensors"), framework="pt") as handle:
        meta = handle.metadata()
        keys = set(handle.keys())
    layer = int(meta["condition_layer"])
    assert f"condition.{layer}" in keys
    assert float(meta["condition_threshold"]) == pytest.approx(
        ControlVector.load(tmp_path / "gated.safetensors").condition.threshold
    )
    assert 0.5 <= float(meta["condition_build_balanced_accuracy"]) <= 1.0

    off = run_cli(*common, "--condition", "off", "--out", str(tmp_path / "off.safetensors"))
    assert off.returncode == 0, off.stderr
    assert ControlVector.load(tmp_path / "off.safetensors").condition is None
    assert "applies to every prompt" in off.stderr

    few = tmp_path / "few.jsonl"
    few.write_text("\n".join(json.dumps(r) for r in rows[:10]) + "\n")
    small = run_cli(
        "build", "--model", str(model_dir), "--pairs", str(few), "--out", str(tmp_path / "s.st")
    )
    assert small.returncode == 0, small.stderr
    assert "needs at least 16 build rows and this set has 10" in small.stderr
    assert ControlVector.load(tmp_path / "s.st").condition is None
