"""Prompts with their answers are capped in tokens (STEERING_MAX_PROMPT_TOKENS and the model's
context), refused with a message before any model work. The tiny tokenizer is byte-level, so a
text's token count is its byte count plus the chat template's 3 special tokens."""

from __future__ import annotations

import pytest

from steering.engine.generate import generate_texts
from steering.engine.text import TextTooLongError, encode, token_limit
from steering.errors import SteeringError

TEMPLATE_TOKENS = 3  # <|user|>, <|end|>, <|assistant|>


def test_default_limit_is_2048_and_the_variable_changes_it(tiny_llama, monkeypatch):
    monkeypatch.delenv("STEERING_MAX_PROMPT_TOKENS", raising=False)
    assert token_limit(tiny_llama.tokenizer) == 2048
    monkeypatch.setenv("STEERING_MAX_PROMPT_TOKENS", "50")
    assert token_limit(tiny_llama.tokenizer) == 50
    assert token_limit(tiny_llama.tokenizer, context=20) == 20  # the model's context wins
    monkeypatch.setenv("STEERING_MAX_PROMPT_TOKENS", "many")
    with pytest.raises(SteeringError, match="must be a whole number of tokens"):
        token_limit(tiny_llama.tokenizer)


def test_a_text_at_the_limit_passes_one_token_more_is_refused(tiny_llama, monkeypatch):
    monkeypatch.setenv("STEERING_MAX_PROMPT_TOKENS", "50")
    tok = tiny_llama.tokenizer
    prompt, answer = "q" * 20, "a" * (50 - 20 - TEMPLATE_TOKENS)
    assert len(encode(tok, prompt, answer).ids) == 50
    with pytest.raises(TextTooLongError) as caught:
        encode(tok, prompt, answer + "b")
    assert str(caught.value) == (
        f'The text starting "{prompt} {answer[:19]}…" is 51 tokens long, more than the limit of '
        "50 tokens for one prompt with its answer (set by STEERING_MAX_PROMPT_TOKENS and the "
        "model's context). Shorten it, or split it into several examples."
    )


def test_a_huge_text_is_refused_without_tokenizing_it(tiny_llama, monkeypatch):
    monkeypatch.setenv("STEERING_MAX_PROMPT_TOKENS", "10")
    calls = []
    tok = tiny_llama.tokenizer
    monkeypatch.setattr(type(tok), "__call__", lambda *a, **k: calls.append(a) or {})
    template = len("<|user|><|end|><|assistant|>")
    with pytest.raises(TextTooLongError, match=f"is {2_000 + template:,} characters long"):
        encode(tok, "x" * 2_000)
    assert calls == []


def test_generation_refuses_a_prompt_and_answer_past_the_context(tiny_llama, monkeypatch):
    monkeypatch.delenv("STEERING_MAX_PROMPT_TOKENS", raising=False)
    context = tiny_llama.model.config.max_position_embeddings  # 256 in the tiny config
    prompt = "p" * (context - TEMPLATE_TOKENS - 10)  # context - 10 tokens
    with pytest.raises(TextTooLongError) as caught:
        generate_texts(tiny_llama, [prompt], max_new_tokens=11)
    assert str(caught.value).startswith(
        f"The prompt is {context - 10} tokens and 11 more were asked for, but this model reads "
        f"at most {context} tokens at once."
    )
    assert len(generate_texts(tiny_llama, [prompt], max_new_tokens=10)) == 1
