"""The few-rows linear forward computes the same product as the stock one."""

import pytest
import torch
from torch import nn

from steering.engine import few_rows
from steering.engine.generate import generate_texts
from tests.tiny import make_tiny


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize(
    "shape", [(1, 24), (2, 24), (5, 24), (3, 1, 24), (16, 24), (17, 24), (4, 9, 24)]
)
def test_same_product_as_the_stock_linear(shape, bias):
    torch.manual_seed(0)
    layer = nn.Linear(24, 40, bias=bias)
    x = torch.randn(*shape)
    expected = layer(x)
    assert few_rows.install(layer) == 1
    with torch.inference_mode():
        got = layer(x)
    assert got.shape == expected.shape == (*shape[:-1], 40)
    assert torch.allclose(got, expected, rtol=1e-5, atol=1e-6)
    few_rows.uninstall(layer)
    assert "forward" not in layer.__dict__


def test_rows_in_range_take_the_transposed_product(monkeypatch):
    calls = []
    original = torch.matmul
    monkeypatch.setattr(torch, "matmul", lambda a, b: calls.append(a.shape) or original(a, b))
    layer = nn.Linear(8, 6)
    few_rows.install(layer)
    with torch.inference_mode():
        layer(torch.randn(1, 8))  # one row: stock
        layer(torch.randn(3, 8))  # few rows: W @ x.T
        layer(torch.randn(few_rows.FEW_ROWS + 1, 8))  # many rows: stock
    assert calls == [torch.Size([6, 8])]


def test_installed_model_generates_the_same_answers():
    stock = make_tiny("llama", seed=4)
    patched = make_tiny("llama", seed=4)
    n = few_rows.install(patched.model)
    assert n == sum(type(m) is nn.Linear for m in patched.model.modules()) > 0
    assert few_rows.install(patched.model) == 0  # installing twice changes nothing
    prompts = ["What is 2 plus 3?", "Name a colour.", "Count to three."]
    assert generate_texts(patched, prompts, max_new_tokens=12) == generate_texts(
        stock, prompts, max_new_tokens=12
    )
