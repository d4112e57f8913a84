import threading

import pytest
import torch

from steering.engine.models import decoder_blocks
from steering.engine.steer import steer
from steering.errors import SteeringError
from steering.vectors import ControlVector


def block_output(loaded, ids, layer):
    seen = {}
    handle = decoder_blocks(loaded.model)[layer].register_forward_hook(
        lambda _m, _i, out: seen.__setitem__(
            "h", (out[0] if isinstance(out, tuple) else out).clone()
        )
    )
    try:
        with torch.no_grad():
            logits = loaded.model(input_ids=ids).logits
    finally:
        handle.remove()
    return seen["h"], logits


def random_vector(loaded, layers, seed=0):
    g = torch.Generator().manual_seed(seed)
    return ControlVector({i: torch.randn(loaded.hidden_size, generator=g) for i in layers})


IDS = torch.tensor([[10, 20, 30, 40, 50], [11, 21, 31, 41, 51]])


def test_adds_alpha_times_vector_to_the_block_output(tiny_llama):
    vector = random_vector(tiny_llama, [1])
    plain, _ = block_output(tiny_llama, IDS, 1)
    with steer(tiny_llama, vector, 0.5):
        steered, _ = block_output(tiny_llama, IDS, 1)
    assert torch.allclose(steered, plain + 0.5 * vector.directions[1], atol=1e-5)


def test_hooks_removed_after_the_block_even_when_it_raises(tiny_llama):
    vector = random_vector(tiny_llama, [0, 2])
    blocks = decoder_blocks(tiny_llama.model)
    # transformers may keep hooks of its own on the blocks; count ours as the difference.
    hooks = [len(b._forward_hooks) for b in blocks]
    _, before = block_output(tiny_llama, IDS, 0)
    with pytest.raises(RuntimeError):
        with steer(tiny_llama, vector, 3.0):
            assert len(blocks[0]._forward_hooks) == hooks[0] + 1
            raise RuntimeError("boom")
    assert [len(b._forward_hooks) for b in blocks] == hooks
    _, after = block_output(tiny_llama, IDS, 0)
    assert torch.equal(before, after)


def test_per_row_strengths_equal_separate_calls(tiny_llama):
    vector = random_vector(tiny_llama, [1, 2])
    alphas = [0.0, 2.0]
    with steer(tiny_llama, vector, alphas):
        _, batched = block_output(tiny_llama, IDS, 0)
    _, unsteered = block_output(tiny_llama, IDS[:1], 0)
    with steer(tiny_llama, vector, 2.0):
        _, steered = block_output(tiny_llama, IDS[1:], 0)
    assert torch.allclose(batched[0], unsteered[0], atol=1e-5)
    assert torch.allclose(batched[1], steered[0], atol=1e-5)
    assert not torch.allclose(batched[1], unsteered[0], atol=1e-3)


def test_wrong_number_of_row_strengths_is_refused(tiny_llama):
    with pytest.raises(SteeringError, match="3 per-row strengths were given for a batch of 2"):
        with steer(tiny_llama, random_vector(tiny_llama, [0]), [1.0, 2.0, 3.0]):
            block_output(tiny_llama, IDS, 0)


def test_layer_selection_and_per_layer_strengths(tiny_llama):
    vector = random_vector(tiny_llama, [1, 2])
    plain1, _ = block_output(tiny_llama, IDS, 1)
    with steer(tiny_llama, vector, 1.0, layers=[1], layer_alphas={1: 0.25}):
        h1, _ = block_output(tiny_llama, IDS, 1)
    assert torch.allclose(h1, plain1 + 0.25 * vector.directions[1], atol=1e-5)
    with pytest.raises(SteeringError, match="no direction for layer"):
        with steer(tiny_llama, vector, layers=[3]):
            pass


def test_preserve_norm_keeps_each_token_norm(tiny_llama):
    vector = random_vector(tiny_llama, [1])
    plain, _ = block_output(tiny_llama, IDS, 1)
    with steer(tiny_llama, vector, 4.0, preserve_norm=True):
        steered, _ = block_output(tiny_llama, IDS, 1)
    assert torch.allclose(steered.norm(dim=-1), plain.norm(dim=-1), rtol=1e-4)
    assert not torch.allclose(steered, plain, atol=1e-3)


def test_vector_for_another_model_is_refused(tiny_llama):
    vector = ControlVector({0: torch.ones(7)})
    with pytest.raises(SteeringError, match="built for another model"):
        with steer(tiny_llama, vector):
            pass


def test_threads_never_see_each_others_steering(tiny_llama):
    hooks = [len(b._forward_hooks) for b in decoder_blocks(tiny_llama.model)]
    vectors = [random_vector(tiny_llama, [1, 2], seed=s) for s in range(3)]
    alphas = [0.0, 1.5, -2.0]
    expected = []
    for vector, alpha in zip(vectors, alphas, strict=True):
        with steer(tiny_llama, vector, alpha):
            expected.append(block_output(tiny_llama, IDS, 3)[1])
    results: dict[int, list] = {i: [] for i in range(3)}
    barrier = threading.Barrier(3)

    def worker(i):
        barrier.wait()
        for _ in range(15):
            with steer(tiny_llama, vectors[i], alphas[i]):
                results[i].append(block_output(tiny_llama, IDS, 3)[1])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(3):
        assert len(results[i]) == 15
        assert all(torch.allclose(r, expected[i], atol=1e-5) for r in results[i])
    assert [len(b._forward_hooks) for b in decoder_blocks(tiny_llama.model)] == hooks
