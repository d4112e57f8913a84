"""The one text rule: how a prompt and a completion become tokens.

With a chat template the text is the templated user turn plus the generation prompt, followed by the
completion, tokenized without adding special tokens. Without a chat template it is
``prompt + " " + completion`` (no space when the prompt already ends in whitespace), tokenized
normally. Every part of the engine (reading activations, scoring candidates, generating) goes
through here so that a vector built in one place means the same thing everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from steering.engine.models import has_chat_template


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

    The whole text is tokenized at once (the rule); the prompt boundary is the longest common
    prefix with the tokenized prompt alone, so a token merged across the boundary counts as
    completion.
    """
    ids = _tokenize(tokenizer, format_text(tokenizer, prompt, completion))
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
