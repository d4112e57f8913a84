"""The one text rule: how a prompt and a completion become tokens.

With a chat template the text is the templated user turn plus the generation prompt, followed by the
completion, tokenized without adding special tokens. Without a chat template it is
``prompt + " " + completion`` (no space when the prompt already ends in whitespace), tokenized
normally. Every part of the engine (reading activations, scoring candidates, generating) goes
through here so that a vector built in one place means the same thing everywhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from steering.engine.models import has_chat_template
from steering.errors import SteeringError

MAX_TOKENS_VARIABLE = "STEERING_MAX_PROMPT_TOKENS"
DEFAULT_MAX_TOKENS = 2_048
# Tokenizers without a known context report a huge sentinel (1e30) as model_max_length.
_NO_CONTEXT = 1_000_000
# A token covers only a few characters in practice; far longer texts are refused before the
# tokenizer spends seconds on them.
_CHARS_PER_TOKEN_BOUND = 16


class TextTooLongError(SteeringError):
    """A prompt (with its answer) longer than the token limit: said before any model work."""


def token_limit(tokenizer: Any, context: int | None = None) -> int:
    """The most tokens one prompt with its answer may have: ``STEERING_MAX_PROMPT_TOKENS``
    (default 2,048), and never more than the model's context (``context``, else the
    tokenizer's ``model_max_length`` when it knows one)."""
    raw = os.environ.get(MAX_TOKENS_VARIABLE, "").strip()
    try:
        limit = int(raw) if raw else DEFAULT_MAX_TOKENS
    except ValueError:
        limit = 0
    if limit < 1:
        raise SteeringError(
            f"{MAX_TOKENS_VARIABLE} must be a whole number of tokens of 1 or more, not {raw!r}."
        )
    known = getattr(tokenizer, "model_max_length", None)
    for bound in (context, known):
        if isinstance(bound, int) and 0 < bound < _NO_CONTEXT:
            limit = min(limit, bound)
    return limit


def _too_long(text: str, size: str, limit: int) -> TextTooLongError:
    start = " ".join(text.split())[:40]
    return TextTooLongError(
        f'The text starting "{start}…" is {size}, more than the limit of {limit:,} tokens '
        f"for one prompt with its answer (set by {MAX_TOKENS_VARIABLE} and the model's context). "
        "Shorten it, or split it into several examples."
    )


@dataclass(frozen=True)
class Encoded:
    """Token ids of one text; ``ids[prompt_len:]`` are the completion's tokens."""

    ids: tuple[int, ...]
    prompt_len: int

    @property
    def completion_len(self) -> int:
        return len(self.ids) - self.prompt_len


def prompt_text(tokenizer: Any, prompt: str) -> str:
    """The formatted prompt, ready for the completion to follow."""
    if has_chat_template(tokenizer):
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False
        )
    return prompt


def format_text(tokenizer: Any, prompt: str, completion: str) -> str:
    """The whole text of one side of a pair: formatted prompt followed by the completion."""
    if has_chat_template(tokenizer):
        return prompt_text(tokenizer, prompt) + completion
    if not completion:
        return prompt
    separator = "" if (not prompt or prompt[-1].isspace()) else " "
    return prompt + separator + completion


def _tokenize(tokenizer: Any, text: str) -> list[int]:
    add_special = not has_chat_template(tokenizer)
    return list(tokenizer(text, add_special_tokens=add_special)["input_ids"])


def encode(tokenizer: Any, prompt: str, completion: str = "") -> Encoded:
    """Tokenize ``format_text(prompt, completion)`` and mark where the completion starts.

    Raises TextTooLongError past :func:`token_limit`: every part of the engine encodes through
    here, so build, scoring and generation all refuse an overlong text with the same message.

    The whole text is tokenized at once (the rule); the prompt boundary is the longest common
    prefix with the tokenized prompt alone, so a token merged across the boundary counts as
    completion.
    """
    text = format_text(tokenizer, prompt, completion)
    limit = token_limit(tokenizer)
    if len(text) > limit * _CHARS_PER_TOKEN_BOUND:
        raise _too_long(prompt + " " + completion, f"{len(text):,} characters long", limit)
    ids = _tokenize(tokenizer, text)
    if len(ids) > limit:
        raise _too_long(prompt + " " + completion, f"{len(ids):,} tokens long", limit)
    if not completion:
        return Encoded(tuple(ids), len(ids))
    prompt_ids = _tokenize(tokenizer, prompt_text(tokenizer, prompt))
    shared = 0
    for a, b in zip(ids, prompt_ids, strict=False):
        if a != b:
            break
        shared += 1
    # A special token appended by the tokenizer (e.g. EOS) is not part of the prompt.
    shared = min(shared, len(ids) - 1)
    return Encoded(tuple(ids), shared)
