"""The one text rule: how a prompt and a completion become tokens.

With a chat template the text is the templated user turn plus the generation prompt, followed by the
completion, tokenized without adding special tokens. Without a chat template it is
``prompt + " " + completion`` (no space when the prompt already ends in whitespace), tokenized
normally. Every part of the engine (reading activations, scoring candidates, generating) goes
through here so that a vector built in one place means the same thing everywhere.

The prompt rules that serving needs live here too: :func:`render_messages` turns a whole chat
(the API's ``messages``) into prompt text, :func:`prompt_ids` tokenizes it by the same rule, and
:func:`context_length` is the one reading of how many tokens a model attends to (its text config,
for multimodal models too), used by generation, scoring, serving and the API alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from steering.engine.models import has_chat_template
from steering.errors import SteeringError
from steering.settings import MAX_PROMPT_TOKENS, settings

MAX_TOKENS_VARIABLE = MAX_PROMPT_TOKENS  # named in messages; parsed in steering.settings
# Tokenizers without a known context report a huge sentinel (1e30) as model_max_length.
_NO_CONTEXT = 1_000_000
# A token covers only a few characters in practice; far longer texts are refused before the
# tokenizer spends seconds on them.
_CHARS_PER_TOKEN_BOUND = 16


class TextTooLongError(SteeringError):
    """A prompt (with its answer) longer than the token limit: said before any model work."""


class ChatTemplateError(SteeringError):
    """The model's chat template refused the messages (a role order it does not accept, say)."""


def context_length(model: nn.Module) -> int | None:
    """How many tokens the model attends to at once, from its (text) config; None if unknown."""
    # nn.Module's __getattr__ types every attribute as Tensor | Module; the config is neither.
    config: Any = getattr(model, "config", None)
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    for name in ("max_position_embeddings", "n_positions"):
        value = getattr(text, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def token_limit(tokenizer: Any, context: int | None = None) -> int:
    """The most tokens one prompt with its answer may have: ``STEERING_MAX_PROMPT_TOKENS``
    (default 2,048), and never more than the model's context (``context``, else the
    tokenizer's ``model_max_length`` when it knows one)."""
    limit = settings().max_prompt_tokens
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


def render_messages(tokenizer: Any, messages: Sequence[Mapping[str, str]]) -> str:
    """A whole chat as prompt text: the model's chat template with the generation prompt, else
    ``role: content`` lines followed by ``assistant:``.

    Raises ChatTemplateError when the template refuses the messages.
    """
    if has_chat_template(tokenizer):
        try:
            rendered: str = tokenizer.apply_chat_template(
                [dict(m) for m in messages], add_generation_prompt=True, tokenize=False
            )
        except Exception as error:  # templates raise their own errors (e.g. role order)
            raise ChatTemplateError(
                f"The model's chat template refused the messages: {error}"
            ) from None
        return rendered
    lines = [f"{m['role']}: {m['content']}" for m in messages]
    return "\n".join([*lines, "assistant:"])


def _tokenize(tokenizer: Any, text: str) -> list[int]:
    add_special = not has_chat_template(tokenizer)
    return list(tokenizer(text, add_special_tokens=add_special)["input_ids"])


def prompt_ids(tokenizer: Any, text: str) -> tuple[int, ...]:
    """Tokens of an already formatted prompt (e.g. from :func:`render_messages`), by the text
    rule: no added special tokens after a chat template, the tokenizer's own otherwise."""
    return tuple(_tokenize(tokenizer, text))


def encode(
    tokenizer: Any, prompt: str, completion: str = "", *, context: int | None = None
) -> Encoded:
    """Tokenize ``format_text(prompt, completion)`` and mark where the completion starts.

    Raises TextTooLongError past :func:`token_limit` (``context``: the model's
    :func:`context_length`, when the caller has the model): every part of the engine encodes
    through here, so build, scoring and generation all refuse an overlong text with the same
    message.

    The whole text is tokenized at once (the rule); the prompt boundary is the longest common
    prefix with the tokenized prompt alone, so a token merged across the boundary counts as
    completion.
    """
    text = format_text(tokenizer, prompt, completion)
    limit = token_limit(tokenizer, context)
    if len(text) > limit * _CHARS_PER_TOKEN_BOUND:
        raise _too_long(prompt + " " + completion, f"{len(text):,} characters long", limit)
    ids = _tokenize(tokenizer, text)
    if len(ids) > limit:
        raise _too_long(prompt + " " + completion, f"{len(ids):,} tokens long", limit)
    if not completion:
        return Encoded(tuple(ids), len(ids))
    prompt_only = _tokenize(tokenizer, prompt_text(tokenizer, prompt))
    shared = 0
    for a, b in zip(ids, prompt_only, strict=False):
        if a != b:
            break
        shared += 1
    # A special token appended by the tokenizer (e.g. EOS) is not part of the prompt.
    shared = min(shared, len(ids) - 1)
    return Encoded(tuple(ids), shared)
