"""The OpenAI chat-completions wire format: the request as we accept it, answers, chunks, errors.

Only the fields this API honours are read; a request using one it cannot honour (``n`` > 1) is
refused rather than silently answered differently. Field names, defaults and error shapes follow
OpenAI's API so that its official client works unchanged; the one extra field is
``control_vector`` (``{"submission": ID}``), sent by that client through ``extra_body``. A client
that can send no extra field (an evaluation harness' log-likelihood requests) names the
submission as the model instead: ``"model": "submission-ID"`` is the same request as
``control_vector`` ``{"submission": ID}`` on the model the submission was built for.

An answer's ``control_vector`` says what was applied: the submission, its strength and layers,
and ``applied`` / ``similarity``: for a conditional vector, whether its gate opened on the last
user message and the cosine similarity that decided it; for an unconditional vector, ``applied``
true and ``similarity`` null (it applies to every prompt). A stream says it in its first chunk.
"""

from __future__ import annotations

import json
import math
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from steering.engine.gate import GateDecision

DEFAULT_TEMPERATURE = 1.0
DEFAULT_MAX_TOKENS = 256
MAX_STOPS = 4  # OpenAI's limit on stop sequences
ROLES = ("system", "user", "assistant", "developer", "tool")

# OpenAI's error type for each status this API answers with.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    503: "server_error",
    504: "server_error",
}
# Answers that tell the caller to come back later: each carries Retry-After (whole seconds).
RETRY_STATUSES = (429, 503)


class ApiError(Exception):
    """An answer other than success: HTTP status, a message the caller can act on, a code.

    A 429 or 503 always says when to try again: ``retry_after`` whole seconds, at least 1.
    """

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        *,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.retry_after: int | None = None
        if status in RETRY_STATUSES or retry_after is not None:
            self.retry_after = max(1, math.ceil(retry_after or 1))

    def headers(self) -> dict[str, str]:
        """The answer's headers: Retry-After for a 429 or 503, the Bearer challenge for a 401."""
        headers = {}
        if self.retry_after is not None:
            headers["retry-after"] = str(self.retry_after)
        if self.status == 401:
            headers["www-authenticate"] = 'Bearer realm="cvlab-api"'
        return headers

    def body(self) -> dict[str, Any]:
        kind = ERROR_TYPES.get(self.status, "server_error")
        return {"error": {"message": self.message, "type": kind, "code": self.code}}


def bad_request(message: str, code: str = "invalid_value") -> ApiError:
    return ApiError(400, message, code)


@dataclass(frozen=True)
class ChatRequest:
    """A validated ``POST /v1/chat/completions`` body."""

    model: str
    messages: tuple[dict[str, str], ...]
    temperature: float = DEFAULT_TEMPERATURE
    top_p: float = 1.0
    max_tokens: int = DEFAULT_MAX_TOKENS
    stream: bool = False
    logprobs: bool = False
    seed: int | None = None
    submission: int | None = None
    stop: tuple[str, ...] = ()


def parse_number(body: dict[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise bad_request(f"'{name}' must be a number between {low:g} and {high:g}.")
    if not low <= value <= high:
        raise bad_request(f"'{name}' is {value:g}; it must be between {low:g} and {high:g}.")
    return float(value)


def parse_whole(value: Any, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise bad_request(f"'{name}' must be a whole number of at least {low}.")
    return value


def _content(message: Any, index: int) -> dict[str, str]:
    if not isinstance(message, dict):
        raise bad_request(f"messages[{index}] must be an object with 'role' and 'content'.")
    role = message.get("role")
    if role not in ROLES:
        raise bad_request(f"messages[{index}].role must be one of {', '.join(ROLES)}.")
    content = message.get("content")
    if isinstance(content, list):  # content parts: only text can reach a text model
        texts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text":
                raise bad_request(f"messages[{index}].content may only hold text parts.")
            texts.append(str(part.get("text", "")))
        content = "".join(texts)
    if not isinstance(content, str):
        raise bad_request(f"messages[{index}].content must be text.")
    return {"role": role, "content": content}


SUBMISSION_MODEL_PREFIX = "submission-"


def submission_model_name(submission_id: int) -> str:
    """The model id that names an approved submission, as ``GET /v1/models`` lists it."""
    return f"{SUBMISSION_MODEL_PREFIX}{submission_id}"


def model_submission(model: str) -> int | None:
    """The submission a model id like ``submission-3`` names (None: an ordinary model name);
    400 for ``submission-`` followed by anything but an id."""
    if not model.startswith(SUBMISSION_MODEL_PREFIX):
        return None
    digits = model[len(SUBMISSION_MODEL_PREFIX) :]
    if not digits.isascii() or not digits.isdigit() or digits.startswith("0"):
        raise bad_request(
            f"'model' is {model!r}: a submission is named 'submission-<id>', e.g. "
            "'submission-3', as GET /v1/models lists it."
        )
    return int(digits)


def _control_vector(body: dict[str, Any]) -> int | None:
    chosen = body.get("control_vector")
    if chosen is None:
        return None
    if not isinstance(chosen, dict) or "submission" not in chosen:
        raise bad_request(
            'control_vector must look like {"submission": 3}: the id of an approved submission.'
        )
    value = chosen["submission"]
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request("control_vector.submission must be a submission id (a whole number).")
    return value


def parse_submission(body: dict[str, Any]) -> int | None:
    """The submission that steers the request (None: unsteered), named by ``control_vector``
    or by a ``submission-N`` model; both is allowed only when they name the same one. The one
    place chat and completions read it (``body["model"]`` is already checked to be text)."""
    by_vector = _control_vector(body)
    by_model = model_submission(str(body["model"]).strip())
    if by_model is not None and by_vector is not None and by_model != by_vector:
        raise bad_request(
            f"'model' names submission {by_model} and 'control_vector' names submission "
            f"{by_vector}: name the submission once, in one of the two fields.",
            "conflicting_submission",
        )
    return by_vector if by_model is None else by_model


def parse_stop(body: dict[str, Any]) -> tuple[str, ...]:
    """``stop``: one string or a list of up to four non-empty strings (None: no stop)."""
    value = body.get("stop")
    if value is None:
        return ()
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
        raise bad_request("'stop' must be a non-empty string or a list of non-empty strings.")
    if len(stops) > MAX_STOPS:
        raise bad_request(
            f"'stop' has {len(stops)} strings; at most {MAX_STOPS} are allowed.", "too_many_stops"
        )
    return tuple(dict.fromkeys(stops))


def parse_max_tokens(body: dict[str, Any], limit: int, low: int = 1) -> int:
    """The answer's token budget as asked; more than ``limit`` is refused, never clamped."""
    name = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
    value = body.get(name)
    if value is None:
        return min(DEFAULT_MAX_TOKENS, limit)
    asked = parse_whole(value, name, low)
    if asked > limit:
        raise bad_request(
            f"'{name}' is {asked:,}; this server makes at most {limit:,} new tokens per answer "
            "(STEERING_API_MAX_TOKENS). Ask for fewer.",
            "max_tokens_too_large",
        )
    return asked


def parse_chat(body: Any, max_tokens_limit: int) -> ChatRequest:
    """Validate a request body; raises ApiError (400) naming the field at fault.
    ``max_tokens_limit``: the most new tokens one answer may ask for."""
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.", "invalid_json")
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise bad_request(
            "'model' is required: one of the names GET /v1/models lists.", "missing_model"
        )
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad_request("'messages' must be a non-empty list of {role, content} objects.")
    if body.get("n") not in (None, 1):
        raise bad_request("Only one answer per request is served ('n' must be 1).")
    seed = body.get("seed")
    return ChatRequest(
        model=model.strip(),
        messages=tuple(_content(m, i) for i, m in enumerate(messages)),
        temperature=parse_number(body, "temperature", DEFAULT_TEMPERATURE, 0.0, 2.0),
        top_p=parse_number(body, "top_p", 1.0, 0.0, 1.0),
        max_tokens=parse_max_tokens(body, max_tokens_limit),
        stream=bool(body.get("stream", False)),
        logprobs=bool(body.get("logprobs", False)),
        seed=None if seed is None else parse_whole(seed, "seed", 0),
        submission=parse_submission(body),
        stop=parse_stop(body),
    )


def new_id() -> str:
    return "chatcmpl-" + secrets.token_hex(12)


def logprob_entry(text: str, logprob: float) -> dict[str, Any]:
    """One token's entry in ``logprobs.content``."""
    return {
        "token": text,
        "logprob": logprob,
        "bytes": list(text.encode("utf-8")),
        "top_logprobs": [],
    }


def completion_body(
    *,
    ident: str,
    model: str,
    content: str,
    finish_reason: str,
    prompt_tokens: int,
    completion_tokens: int,
    logprobs: list[dict[str, Any]] | None,
    steering: dict[str, Any] | None,
) -> dict[str, Any]:
    """A ``chat.completion`` object; ``control_vector`` says what was applied (None: nothing)."""
    return {
        "id": ident,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "logprobs": None if logprobs is None else {"content": logprobs},
                "finish_reason": finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
        "control_vector": steering,
    }


def applied_steering(
    steering: dict[str, Any] | None, gate: GateDecision | None
) -> dict[str, Any] | None:
    """The answer's ``control_vector``: ``steering`` (None: unsteered) with ``applied`` and
    ``similarity`` from the row's gate (None: an unconditional vector, applied, similarity null)."""
    if steering is None:
        return None
    if gate is None:
        return steering | {"applied": True, "similarity": None}
    return steering | {"applied": gate.applied, "similarity": gate.similarity}


def applied_counts(
    steering: dict[str, Any] | None, gates: Sequence[GateDecision | None]
) -> tuple[int, int]:
    """``(applied, not_applied)`` over the prompts of one request, for the usage counters:
    (0, 0) unsteered; a prompt without a gate (unconditional vector) counts as applied."""
    if steering is None:
        return 0, 0
    closed = sum(1 for gate in gates if gate is not None and not gate.applied)
    return len(gates) - closed, closed


def chunk_event(
    ident: str,
    model: str,
    delta: dict[str, Any],
    *,
    finish_reason: str | None = None,
    logprobs: list[dict[str, Any]] | None = None,
    first: bool = False,
    steering: dict[str, Any] | None = None,
) -> str:
    """One server-sent event of a streamed answer; the ``first`` carries ``control_vector``
    (``steering``, None when unsteered)."""
    chunk: dict[str, Any] = {
        "id": ident,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "delta": delta,
                "logprobs": None if logprobs is None else {"content": logprobs},
                "finish_reason": finish_reason,
            }
        ],
    }
    if first:
        chunk["control_vector"] = steering
    return f"data: {json.dumps(chunk)}\n\n"


DONE_EVENT = "data: [DONE]\n\n"
