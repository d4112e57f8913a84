"""llama.cpp control-vector GGUF: export (block 0 left out or refused) and import of files written
by other tools, checked against the gguf package's own reader and writer."""

import hashlib

import gguf
import numpy as np
import pytest
import torch

from steering.errors import SteeringError
from steering.export import BLOCK_ZERO_NOTICE, export_gguf, gguf_condition_warning, import_gguf
from steering.vectors import ControlVector, GateCondition
from tests.gguf_files import write_like_repeng
from tests.steering.test_cli import run_cli


def _text(reader: gguf.GGUFReader, name: str) -> str:
    field = reader.fields[name]
    return bytes(field.parts[field.data[0]]).decode()


def _vector(layers=(1, 5), size=8) -> ControlVector:
    return ControlVector(
        {i: torch.arange(size, dtype=torch.float32) * (i + 1) - 3 for i in layers},
        {"model_architecture": "llama", "method": "mean_diff"},
    )


def test_gguf_export_reads_back(tmp_path):
    vector = _vector()
    path = export_gguf(vector, tmp_path / "v.gguf", strength=0.5)
    reader = gguf.GGUFReader(path)
    assert _text(reader, "general.architecture") == "controlvector"
    assert _text(reader, "controlvector.model_hint") == "llama"
    assert int(reader.fields["controlvector.layer_count"].parts[-1][0]) == 2
    assert float(reader.fields["controlvector.strength"].parts[-1][0]) == pytest.approx(0.5)
    assert "controlvector.lab.dropped_layers" not in reader.fields
    tensors = {t.name: t for t in reader.tensors}
    assert set(tensors) == {"direction.1", "direction.5"}
    for i in (1, 5):
        t = tensors[f"direction.{i}"]
        assert t.tensor_type == gguf.GGMLQuantizationType.F32
        assert list(t.shape) == [8]
        np.testing.assert_array_equal(np.asarray(t.data), vector.directions[i].numpy())


def test_block_zero_is_left_out_and_the_file_says_so(tmp_path):
    vector = _vector(layers=(0, 2, 3))
    reader = gguf.GGUFReader(export_gguf(vector, tmp_path / "v.gguf"))
    assert sorted(t.name for t in reader.tensors) == ["direction.2", "direction.3"]
    assert int(reader.fields["controlvector.layer_count"].parts[-1][0]) == 2
    assert _text(reader, "controlvector.lab.dropped_layers") == "0"
    assert _text(reader, "controlvector.lab.notice") == BLOCK_ZERO_NOTICE


def test_explicit_layers_with_zero_are_refused_and_nothing_is_written(tmp_path):
    with pytest.raises(SteeringError, match="Layer 0 cannot be exported"):
        export_gguf(_vector(layers=(0, 1)), tmp_path / "v.gguf", layers=[0, 1])
    assert not list(tmp_path.iterdir())


def test_explicit_layers_export_exactly_those(tmp_path):
    vector = _vector(layers=(0, 1, 2, 3))
    reader = gguf.GGUFReader(export_gguf(vector, tmp_path / "v.gguf", layers=[3, 1]))
    assert sorted(t.name for t in reader.tensors) == ["direction.1", "direction.3"]
    with pytest.raises(SteeringError, match="no direction for layer"):
        export_gguf(vector, tmp_path / "w.gguf", layers=[7])


def test_a_vector_of_block_zero_alone_cannot_be_exported(tmp_path):
    with pytest.raises(SteeringError, match="only steers block 0"):
        export_gguf(_vector(layers=(0,)), tmp_path / "v.gguf")


def test_non_finite_values_are_refused_before_writing(tmp_path):
    vector = _vector()
    vector.directions[5][2] = float("nan")
    with pytest.raises(SteeringError, match="not finite"):
        export_gguf(vector, tmp_path / "v.gguf")
    with pytest.raises(SteeringError, match="finite"):
        export_gguf(_vector(), tmp_path / "v.gguf", strength=float("inf"))
    assert not list(tmp_path.iterdir())


def test_import_reads_a_file_written_by_another_tool(tmp_path):
    rng = np.random.default_rng(0)
    written = {3: rng.normal(size=16), 7: rng.normal(size=16)}
    path = write_like_repeng(tmp_path / "repeng.gguf", written, hint="mistral")
    vector = import_gguf(path, num_layers=8, hidden_size=16, model_id="m", model_fingerprint="f")
    assert vector.layers == [3, 7]
    for i, values in written.items():
        np.testing.assert_array_equal(vector.directions[i].numpy(), values.astype(np.float32))
    meta = vector.metadata
    assert meta["source"] == "imported"
    assert meta["model_hint"] == "mistral"
    assert meta["model_id"] == "m" and meta["model_fingerprint"] == "f"
    assert meta["source_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    # The lineage survives the project's own file format.
    again = ControlVector.from_bytes(vector.to_bytes())
    assert again.metadata["source"] == "imported"
    assert again.metadata["source_sha256"] == meta["source_sha256"]


def test_export_then_import_gives_back_the_same_tensors(tmp_path):
    vector = _vector(layers=(0, 1, 4, 6), size=12)
    path = export_gguf(vector, tmp_path / "v.gguf")
    back = import_gguf(path, num_layers=7, hidden_size=12)
    assert back.layers == [1, 4, 6]
    for i in back.layers:
        assert torch.equal(back.directions[i], vector.directions[i])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b"not a gguf file at all"), "not a readable GGUF"),
        (
            lambda p: write_like_repeng(p, {1: np.ones(16)}, arch="llama"),
            "not a llama.cpp control",
        ),
        (lambda p: write_like_repeng(p, {1: np.ones(10)}), "hidden size is 16"),
        (lambda p: write_like_repeng(p, {9: np.ones(16)}), "blocks 0-7"),
        (lambda p: write_like_repeng(p, {1: np.full(16, np.inf)}), "not finite"),
    ],
    ids=["garbage", "model-file", "hidden-size", "block-index", "non-finite"],
)
def test_import_refuses_files_that_do_not_fit(tmp_path, make, message):
    path = tmp_path / "bad.gguf"
    make(path)
    with pytest.raises(SteeringError, match=message):
        import_gguf(path, num_layers=8, hidden_size=16)


def test_import_refuses_unexpected_tensor_names(tmp_path):
    path = tmp_path / "odd.gguf"
    writer = gguf.GGUFWriter(str(path), "controlvector")
    writer.add_tensor("weights.1", np.ones(16, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(SteeringError, match="Unexpected tensor 'weights.1'"):
        import_gguf(path, num_layers=8, hidden_size=16)
    with pytest.raises(SteeringError, match="No GGUF file"):
        import_gguf(tmp_path / "missing.gguf", num_layers=8, hidden_size=16)


def _conditional(layers=(1, 5), size=8) -> ControlVector:
    vector = _vector(layers, size)
    direction = torch.linspace(-1.0, 1.0, size)
    vector.condition = GateCondition(3, direction, 0.3125, 0.9375)
    return vector


def _number(reader: gguf.GGUFReader, name: str) -> float:
    field = reader.fields[name]
    return float(field.parts[field.data[0]][0])


def test_conditional_export_writes_the_directions_and_records_the_gate(tmp_path):
    vector = _conditional()
    reader = gguf.GGUFReader(export_gguf(vector, tmp_path / "c.gguf"))
    tensors = {t.name: t for t in reader.tensors}
    # Only directions: llama.cpp refuses any other tensor, so the gate is metadata alone.
    assert set(tensors) == {"direction.1", "direction.5"}
    for i in (1, 5):
        np.testing.assert_array_equal(
            np.asarray(tensors[f"direction.{i}"].data), vector.directions[i]
        )
    assert int(_number(reader, "controlvector.condition_layer")) == 3
    assert _number(reader, "controlvector.condition_threshold") == 0.3125
    assert _number(reader, "controlvector.condition_build_balanced_accuracy") == 0.9375
    assert _text(reader, "controlvector.lab.condition_notice") == gguf_condition_warning(vector)


def test_unconditional_export_records_no_gate(tmp_path):
    reader = gguf.GGUFReader(export_gguf(_vector(), tmp_path / "u.gguf"))
    assert not [name for name in reader.fields if "condition" in name]
    assert gguf_condition_warning(_vector()) is None


def test_the_warning_says_llama_cpp_steers_every_prompt():
    warning = gguf_condition_warning(_conditional())
    assert warning is not None
    assert "llama.cpp applies a control vector to every prompt" in warning
    assert "block 3" in warning and "0.312" in warning
    assert warning.count(". ") == 0 and warning.endswith(".")  # one sentence


def test_import_of_a_conditional_export_is_unconditional_and_says_so(tmp_path):
    vector = _conditional()
    back = import_gguf(export_gguf(vector, tmp_path / "c.gguf"), num_layers=8, hidden_size=8)
    assert back.condition is None
    for i in (1, 5):
        assert torch.equal(back.directions[i], vector.directions[i])
    assert back.metadata["source_condition"] == {
        "layer": 3,
        "threshold": 0.3125,
        "build_balanced_accuracy": 0.9375,
    }
    assert "unconditional" in back.metadata["import_note"]
    # Saved in the project's format it stays unconditional (the recorded gate is lineage only).
    again = ControlVector.from_bytes(back.to_bytes())
    assert again.condition is None and again.metadata["source_condition"]["layer"] == 3
    plain = import_gguf(export_gguf(_vector(), tmp_path / "u.gguf"), num_layers=8, hidden_size=8)
    assert "import_note" not in plain.metadata and "source_condition" not in plain.metadata


def test_cli_export_of_a_conditional_vector_warns_on_stderr(tmp_path):
    vector = _conditional()
    source = vector.save(tmp_path / "c.safetensors")
    out = tmp_path / "c.gguf"
    result = run_cli("export", "--vector", str(source), "--format", "gguf", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out)
    assert f"warning: {gguf_condition_warning(vector)}" in result.stderr
    assert int(_number(gguf.GGUFReader(out), "controlvector.condition_layer")) == 3
    plain = _vector().save(tmp_path / "u.safetensors")
    quiet = run_cli("export", "--vector", str(plain), "--out", str(tmp_path / "u.gguf"))
    assert quiet.returncode == 0, quiet.stderr
    assert "llama.cpp applies" not in quiet.stderr
