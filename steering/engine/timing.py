"""How fast a loaded model runs on this machine, to say how long a job will take before it starts.

The cost of a batched forward pass is close to a fixed part (launching the pass through every
block) plus a part proportional to the tokens in the batch. Two tiny timed passes measure both on
the machine at hand (about a second on a laptop CPU for a 135M model), so an estimate holds on a
GPU box and a laptop alike; :class:`Work` counts what a job will run in the same two units.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from steering.engine.models import LoadedModel
from steering.engine.text import format_text

# Texts whose lengths are measured to estimate a whole list's (tokenizing all is needless work).
_LENGTH_SAMPLE = 48
# Padding to the longest text of a batch makes batches cost more than their mean length says.
_PADDING = 1.2


@dataclass(frozen=True)
class Work:
    """Forward passes and the tokens they hold: what a job costs, independent of the machine."""

    passes: float = 0.0
    tokens: float = 0.0

    def __add__(self, other: Work) -> Work:
        return Work(self.passes + other.passes, self.tokens + other.tokens)

    def __mul__(self, factor: float) -> Work:
        return Work(self.passes * factor, self.tokens * factor)


@dataclass(frozen=True)
class Pace:
    """Seconds per forward pass (its fixed part) and per token in it, measured on this machine."""

    per_pass: float
    per_token: float

    def seconds(self, work: Work) -> float:
        return work.passes * self.per_pass + work.tokens * self.per_token


def _timed_pass(loaded: LoadedModel, rows: int, tokens: int) -> float:
    vocab = int(getattr(loaded.model.config, "vocab_size", 0) or 1000)
    ids = torch.randint(0, vocab, (rows, tokens), device=loaded.device)
    started = time.perf_counter()
    with torch.inference_mode():
        loaded.model(input_ids=ids, use_cache=False)
    if loaded.device.type == "cuda":
        torch.cuda.synchronize(loaded.device)
    return time.perf_counter() - started


def measure_pace(loaded: LoadedModel, rows: int = 8, tokens: int = 48, repeats: int = 3) -> Pace:
    """Time a one-token pass and a ``rows`` x ``tokens`` pass (after a warm-up pass).

    Each is the fastest of ``repeats`` tries: a pass is only ever slowed down by other work on
    the machine, never sped up, so the fastest is the model's own pace.
    """
    _timed_pass(loaded, 1, 4)  # the first pass pays for one-off setup
    small = min(_timed_pass(loaded, 1, 1) for _ in range(repeats))
    large = min(_timed_pass(loaded, rows, tokens) for _ in range(repeats))
    per_token = max(large - small, 0.0) / max(rows * tokens - 1, 1)
    return Pace(per_pass=max(small, 1e-5), per_token=max(per_token, 1e-7))


def mean_tokens(loaded: LoadedModel, texts: Sequence[tuple[str, str]]) -> float:
    """The mean length in tokens of ``(prompt, completion)`` texts, as the text rule joins them.

    Measured on an evenly spaced sample of at most ``_LENGTH_SAMPLE`` texts.
    """
    if not texts:
        return 0.0
    step = max(1, len(texts) // _LENGTH_SAMPLE)
    sample = list(texts)[::step][:_LENGTH_SAMPLE]
    lengths = [
        len(loaded.tokenizer(format_text(loaded.tokenizer, p, c))["input_ids"]) for p, c in sample
    ]
    return sum(lengths) / len(lengths)


def reading_work(loaded: LoadedModel, texts: Sequence[tuple[str, str]], batch_size: int) -> Work:
    """One forward pass over each text, ``batch_size`` texts at a time (reading, scoring)."""
    if not texts:
        return Work()
    passes = math.ceil(len(texts) / batch_size)
    return Work(passes, len(texts) * mean_tokens(loaded, texts) * _PADDING)


def generation_work(
    loaded: LoadedModel, prompts: Sequence[str], max_new_tokens: int, batch_size: int
) -> Work:
    """Greedy answers to ``prompts``: the prompt pass, then one pass per new token (cached)."""
    if not prompts:
        return Work()
    batches = math.ceil(len(prompts) / batch_size)
    prompt_work = reading_work(loaded, [(p, "") for p in prompts], batch_size)
    return prompt_work + Work(batches * max_new_tokens, len(prompts) * max_new_tokens)
