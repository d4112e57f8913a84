import pytest
import torch

from steering.engine.generate import generate_texts, side_by_side
from steering.engine.steer import steer
from steering.errors import SteeringError
from steering.vectors import ControlVector


def greedy_one(loaded, prompt, vector=None, alpha=0.0, n=8):
    """Reference: unbatched greedy decoding, one token at a time without a cache."""
    from steering.engine.text import encode

    ids = list(encode(loaded.tokenizer, prompt).ids)
    start = len(ids)
    for _ in range(n):
        x = torch.tensor([ids])
        with torch.no_grad():
            if vector is not None and alpha:
                with steer(loaded, vector, alpha):
                    logits = loaded.model(input_ids=x).logits
            else:
                logits = loaded.model(input_ids=x).logits
        nxt = int(logits[0, -1].argmax())
        if nxt == loaded.tokenizer.eos_token_id:
            break
        ids.append(nxt)
    return loaded.tokenizer.decode(ids[start:], skip_special_tokens=True).strip()


def vector_for(loaded, scale=8.0):
    g = torch.Generator().manual_seed(3)
    return ControlVector({i: scale * torch.randn(loaded.hidden_size, generator=g) for i in (1, 2)})


def test_side_by_side_matches_separate_greedy_runs(tiny_llama):
    vector = vector_for(tiny_llama)
    answers = side_by_side(tiny_llama, "Tell me a story", vector, 1.0, max_new_tokens=8)
    assert answers["unsteered"] == greedy_one(tiny_llama, "Tell me a story")
    assert answers["steered"] == greedy_one(tiny_llama, "Tell me a story", vector, 1.0)
    assert answers["steered"] != answers["unsteered"]


def test_batched_prompts_of_different_lengths_match_one_by_one(tiny_gpt2):
    prompts = ["Hi", "A much longer prompt than the first one"]
    vector = vector_for(tiny_gpt2)
    out = generate_texts(tiny_gpt2, prompts, vector=vector, alphas=[0.0, 1.0], max_new_tokens=6)
    assert out[0] == greedy_one(tiny_gpt2, prompts[0], n=6)
    assert out[1] == greedy_one(tiny_gpt2, prompts[1], vector, 1.0, n=6)


def test_seeded_sampling_is_replayable(tiny_llama):
    vector = vector_for(tiny_llama)
    a = side_by_side(tiny_llama, "Hello", vector, 0.5, do_sample=True, seed=5, max_new_tokens=10)
    b = side_by_side(tiny_llama, "Hello", vector, 0.5, do_sample=True, seed=5, max_new_tokens=10)
    assert a == b


def test_empty_prompt_refused(tiny_llama):
    with pytest.raises(SteeringError, match="prompt is empty"):
        generate_texts(tiny_llama, ["  "])


def test_an_answer_that_hits_the_token_limit_says_so(tiny_llama, monkeypatch):
    from steering.engine.generate import generate_answers

    (answer,) = generate_answers(tiny_llama, ["Tell me a story"], max_new_tokens=5)
    reference = greedy_one(tiny_llama, "Tell me a story", n=5)
    assert answer.text == reference and answer.limit == 5
    # The random tiny model never writes its end token in 5 steps: all 5 were used, it was cut.
    assert answer.cut
    # Make the first token it writes the end token: the answer ends by itself, not cut.
    first = greedy_first_token(tiny_llama, "Tell me a story")
    monkeypatch.setattr(tiny_llama.model.generation_config, "eos_token_id", first)
    (ended,) = generate_answers(tiny_llama, ["Tell me a story"], max_new_tokens=5)
    assert not ended.cut


def greedy_first_token(loaded, prompt):
    from steering.engine.text import encode

    ids = list(encode(loaded.tokenizer, prompt).ids)
    with torch.no_grad():
        return int(loaded.model(input_ids=torch.tensor([ids])).logits[0, -1].argmax())


def test_each_pair_takes_the_same_options_and_gives_the_same_answers(tiny_llama):
    from steering.engine.generate import generate_answers, side_by_side_answers

    vector = vector_for(tiny_llama)
    sampled = {"do_sample": True, "seed": 11, "temperature": 1.3, "top_p": 0.8}
    pair = side_by_side(tiny_llama, "Hello", vector, 0.5, max_new_tokens=7, **sampled)
    batch = generate_texts(
        tiny_llama, ["Hello", "Hello"], vector=vector, alphas=[0.0, 0.5], max_new_tokens=7,
        **sampled,
    )  # fmt: skip
    assert [pair["unsteered"], pair["steered"]] == batch
    answers = side_by_side_answers(tiny_llama, "Hello", vector, 0.5, max_new_tokens=7, **sampled)
    assert {key: answer.text for key, answer in answers.items()} == pair
    assert [a.text for a in generate_answers(tiny_llama, ["Hi"], max_new_tokens=4)] == (
        generate_texts(tiny_llama, ["Hi"], max_new_tokens=4)
    )


def test_an_unknown_generation_option_is_refused(tiny_llama):
    vector = vector_for(tiny_llama)
    with pytest.raises(TypeError, match="max_tokens"):
        side_by_side(tiny_llama, "Hello", vector, 0.5, max_tokens=4)  # type: ignore[call-arg]
