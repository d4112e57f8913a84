import gguf
import numpy as np
import pytest
import torch

from steering.errors import SteeringError
from steering.export import export_gguf
from steering.vectors import ControlVector


def test_gguf_export_reads_back(tmp_path):
    vector = ControlVector(
        {i: torch.arange(8, dtype=torch.float32) * i for i in (1, 5)},
        {"model_architecture": "llama", "method": "mean_diff"},
    )
    path = export_gguf(vector, tmp_path / "v.gguf", strength=0.5)
    reader = gguf.GGUFReader(path)
    fields = {name: f for name, f in reader.fields.items()}

    def text(name):
        f = fields[name]
        return bytes(f.parts[f.data[0]]).decode()

    assert text("general.architecture") == "controlvector"
    assert text("controlvector.model_hint") == "llama"
    assert int(fields["controlvector.layer_count"].parts[-1][0]) == 2
    assert float(fields["controlvector.strength"].parts[-1][0]) == pytest.approx(0.5)
    tensors = {t.name: t for t in reader.tensors}
    assert set(tensors) == {"direction.1", "direction.5"}
    for i in (1, 5):
        t = tensors[f"direction.{i}"]
        assert t.tensor_type == gguf.GGMLQuantizationType.F32
        assert list(t.shape) == [8]
        np.testing.assert_array_equal(np.asarray(t.data), vector.directions[i].numpy())


def test_layer_zero_cannot_be_exported(tmp_path):
    vector = ControlVector({0: torch.ones(4), 1: torch.ones(4)})
    with pytest.raises(SteeringError, match="Layer 0 cannot be exported"):
        export_gguf(vector, tmp_path / "v.gguf")
    assert not (tmp_path / "v.gguf").exists()
