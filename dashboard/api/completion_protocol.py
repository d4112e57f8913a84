"""OpenAI's (legacy) completions wire format, ``POST /v1/completions``: the request as we accept
it and the ``text_completion`` answer.

Evaluation harnesses use it (lm-evaluation-harness' ``local-completions``): a prompt as text or
as token ids, no chat template; with ``echo`` and ``logprobs`` the answer scores the prompt's own
tokens, which is how multiple-choice questions are asked. Every field is one this API honours; any other
is refused with 400 naming it, never ignored. ``control_vector``, and a ``submission-N`` model,
are the same as in chat (the harness' log-likelihood requests can only use the second).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from .protocol import (
    DEFAULT_TEMPERATURE,
    bad_request,
    parse_max_tokens,
    parse_number,
    parse_stop,
    parse_submission,
    parse_whole,
)

DEFAULT_COMPLETION_TOKENS = 16  # OpenAI's default for completions
MAX_LOGPROBS = 5  # OpenAI's limit on alternatives per position
MAX_PROMPTS = 16
FIELDS = frozenset(
    {
        "model",
        "prompt",
        "max_tokens",
        "temperature",
        "top_p",
        "seed",
        "stop",
        "echo",
        "logprobs",
        "control_vector",
        "n",
        "stream",
        "user",
    }
)


@dataclass(frozen=True)
class CompletionRequest:
    """A validated ``POST /v1/completions`` body."""

    model: str
    prompts: tuple[Prompt, ...]
    max_tokens: int = DEFAULT_COMPLETION_TOKENS
    temperature: float = DEFAULT_TEMPERATURE
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    echo: bool = False
    logprobs: int | None = None  # alternatives per position; None: no log-probabilities
    submission: int | None = None


Prompt = str | tuple[int, ...]  # a text, or token ids of the model's tokenizer


def _is_ids(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in value)
    )


def _prompts(body: dict[str, Any]) -> tuple[Prompt, ...]:
    """OpenAI's four forms: a text, a list of texts, token ids, a list of token-id lists."""
    value = body.get("prompt")
    if isinstance(value, str) or _is_ids(value):
        value = [value]
    if not isinstance(value, list) or not value:
        value = None
    prompts: list[Prompt] = []
    for one in value or [None]:
        if isinstance(one, str) and one:
            prompts.append(one)
        elif _is_ids(one):
            prompts.append(tuple(one))
        else:
            raise bad_request(
                "'prompt' must be a non-empty text, a list of texts, token ids (whole numbers) "
                "or a list of token-id lists."
            )
    if len(prompts) > MAX_PROMPTS:
        raise bad_request(
            f"'prompt' has {len(prompts)} prompts; at most {MAX_PROMPTS} per request."
        )
    return tuple(prompts)


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise bad_request(f"'{name}' must be true or false.")
    return value


def parse_completion(body: Any, max_tokens_limit: int) -> CompletionRequest:
    """Validate a request body; raises ApiError (400) naming the field at fault."""
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.", "invalid_json")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise bad_request(
            f"'{unknown[0]}' is not a field this API can honour on /v1/completions; remove it.",
            "unsupported_field",
        )
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise bad_request(
            "'model' is required: one of the names GET /v1/models lists.", "missing_model"
        )
    if body.get("n") not in (None, 1):
        raise bad_request("Only one answer per prompt is served ('n' must be 1).")
    if _flag(body, "stream"):
        raise bad_request("'stream' is not served on /v1/completions: leave it out or false.")
    echo = _flag(body, "echo")
    logprobs = body.get("logprobs")
    if logprobs is not None:
        logprobs = parse_whole(logprobs, "logprobs", 0)
        if logprobs > MAX_LOGPROBS:
            raise bad_request(f"'logprobs' is {logprobs}; it must be at most {MAX_LOGPROBS}.")
    max_tokens = DEFAULT_COMPLETION_TOKENS
    if body.get("max_tokens") is not None:  # 0 only with echo: the prompt scored, nothing made
        max_tokens = parse_max_tokens(body, max_tokens_limit, 0 if echo else 1)
    seed = body.get("seed")
    return CompletionRequest(
        model=model.strip(),
        prompts=_prompts(body),
        max_tokens=max_tokens,
        temperature=parse_number(body, "temperature", DEFAULT_TEMPERATURE, 0.0, 2.0),
        top_p=parse_number(body, "top_p", 1.0, 0.0, 1.0),
        seed=None if seed is None else parse_whole(seed, "seed", 0),
        stop=parse_stop(body),
        echo=echo,
        logprobs=logprobs,
        submission=parse_submission(body),
    )


def new_completion_id() -> str:
    return "cmpl-" + secrets.token_hex(12)


@dataclass(frozen=True)
class Choice:
    """One prompt's answer: its text (the prompt first with ``echo``), why it ended and, when
    asked for, its log-probabilities in OpenAI's shape."""

    text: str
    finish_reason: str
    completion_tokens: int
    logprobs: dict[str, Any] | None = None


def completion_body(
    *,
    ident: str,
    model: str,
    choices: list[Choice],
    prompt_tokens: int,
    steering: dict[str, Any] | None,
) -> dict[str, Any]:
    """A ``text_completion`` object; ``control_vector`` says what was applied (None: nothing)."""
    made = sum(c.completion_tokens for c in choices)
    return {
        "id": ident,
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": i,
                "text": c.text,
                "logprobs": c.logprobs,
                "finish_reason": c.finish_reason,
            }
            for i, c in enumerate(choices)
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": made,
            "total_tokens": prompt_tokens + made,
        },
        "control_vector": steering,
    }
