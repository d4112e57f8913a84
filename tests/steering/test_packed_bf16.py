"""bfloat16 linear layers with oneDNN's prepacked weights compute what the stock forward does,
and are used only where they should be (a bfloat16 model, on a CPU with native bfloat16, whose
oneDNN agrees with ``F.linear``)."""

from __future__ import annotations

import torch
from torch import nn

from steering.engine import packed_bf16
from steering.engine.decoding_rows import DecodingRows, ServeRequest
from steering.engine.models import in_format
from tests.tiny import make_tiny

AVX2_ONLY = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n"
NATIVE = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16\n"


def bf16_tiny(seed: int = 3):
    return in_format(make_tiny("llama", seed=seed), "bfloat16")


def linear_layers(model: nn.Module) -> int:
    return sum(type(m) is nn.Linear for m in model.modules())


def logits(loaded, ids: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return loaded.model(input_ids=ids).logits


def test_nothing_is_packed_on_a_cpu_without_native_bfloat16(cpu):
    cpu(AVX2_ONLY)
    loaded = bf16_tiny()
    assert packed_bf16.installed(loaded.model) == 0
    assert packed_bf16.install(loaded.model) == 0


def test_a_float32_model_keeps_the_stock_forward(cpu):
    cpu(NATIVE)
    loaded = make_tiny("llama", seed=3)
    assert packed_bf16.install(loaded.model, require_native=False) == 0


def test_a_bfloat16_model_on_a_native_cpu_is_packed_exactly_when_the_kernels_agree(cpu):
    cpu(NATIVE)
    loaded = bf16_tiny()
    expected = linear_layers(loaded.model) if packed_bf16.kernels_agree() else 0
    assert packed_bf16.installed(loaded.model) == expected


def test_packed_layers_give_the_stock_logits_and_answers():
    stock, packed = bf16_tiny(seed=5), bf16_tiny(seed=5)
    packed_bf16.uninstall(stock.model)
    packed_bf16.uninstall(packed.model)
    count = packed_bf16.install(packed.model, require_native=False)
    if not packed_bf16.kernels_agree():
        # This CPU's oneDNN has no bfloat16 product that matches F.linear: nothing is packed.
        assert count == 0 and packed_bf16.installed(packed.model) == 0
        return
    assert count == linear_layers(packed.model) > 0
    assert packed_bf16.install(packed.model, require_native=False) == 0  # twice: no change
    torch.manual_seed(0)
    vocab = stock.model.config.vocab_size
    for shape in [(1, 1), (1, 13), (4, 1), (3, 40)]:
        ids = torch.randint(3, vocab, shape)
        assert torch.equal(logits(packed, ids), logits(stock, ids)), shape
    prompt = tuple(stock.tokenizer("Count to three.")["input_ids"])
    answers = []
    for loaded in (stock, packed):
        tokens: list[tuple[int, float]] = []
        with torch.inference_mode():
            rows = DecodingRows(loaded)
            rows.join([0, 1], [ServeRequest(prompt, 12, stop_at_eos=False)] * 2, _collect(tokens))
            for _ in range(11):
                rows.step(_collect(tokens))
        answers.append(tokens)
    assert answers[0] == answers[1]
    packed_bf16.uninstall(packed.model)
    assert packed_bf16.installed(packed.model) == 0
    assert "forward" not in next(m for m in packed.model.modules() if type(m) is nn.Linear).__dict__


def _collect(tokens: list[tuple[int, float]]):
    return lambda owner, token: tokens.append((owner, token.id, token.logprob))
