"""``POST /v1/completions``: plain-text prompts answered, and scored, under the same rules as chat.

The same key, rate limit, gate on submissions (approval, the key's rights, the kill switch, the
signed trail), model fit and number format, prompt limits, admission and usage counters as
``/v1/chat/completions`` (:class:`~dashboard.api.service.ApiService` does every check); only the
prompt differs: as sent, no chat template (a text tokenized by the lab's text rule, or token ids).

Generated tokens come from the model's decoding loop, each prompt of a request a row of its own
(the request holds one of its key's places, however many prompts it has); ``stop`` cuts the text
as in chat. An answer the model ends with its end-of-text token lists that token last in
``logprobs`` and counts it in ``completion_tokens``, though it is not in ``text``: ``echo`` with
``max_tokens: 1`` always gives one entry after the prompt's, which lm-evaluation-harness's
log-likelihood requests rely on (they drop the last entry as the generated one).
Log-probabilities (``logprobs``, with ``echo`` over the prompt too) come from one
scoring pass over the prompt and what was generated
(:func:`steering.evaluation.token_logprobs.token_logprobs`: the forward pass and float32
log-probabilities of the lab's candidate scoring), run on a thread of its own so that the store's
lane never waits behind a forward pass. ``max_tokens: 0`` with ``echo`` scores the prompt only;
such a request takes a key's place but no decoding row.

A conditional vector's gate reads each prompt's text (token ids: their decoded text) and is
decided once per prompt: by the decoding loop when the row is admitted, or, with nothing to
generate, in one batched pass on the scoring thread; the scoring pass uses that same decision.
``control_vector`` then holds ``applied`` and ``similarity`` (one prompt: a value each; a list
of prompts: a list each, in prompt order; an unconditional vector: true and null, whatever the
prompts), and the usage counter counts every prompt as applied or not.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from steering.engine.decoding_rows import decide_gates, gate_condition
from steering.engine.gate import GateDecision
from steering.engine.models import LoadedModel, has_chat_template
from steering.engine.serving import RequestTimedOut, ServeRequest, Ticket, Token
from steering.engine.steer import RowSteering
from steering.engine.text import prompt_ids
from steering.errors import SteeringError
from steering.evaluation.token_logprobs import token_logprobs
from storage import StoredApiKey
from storage.api_keys import UNSTEERED

from .completion_protocol import (
    Choice,
    CompletionRequest,
    Prompt,
    completion_body,
    new_completion_id,
)
from .delivery import CLIENT_GONE, collect, within
from .lane import ApiLane
from .protocol import ApiError, applied_counts, applied_steering
from .service import ApiService
from .stops import StopText

SCORING_THREADS = 1  # a forward pass uses every core it is given: one at a time is enough


@dataclass
class Pending:
    """An admitted completions request: what answers it, its prompts' tokens, its rows."""

    key: StoredApiKey
    request: CompletionRequest
    loaded: LoadedModel
    steering: RowSteering | None
    applied: dict[str, Any] | None
    prompts: list[tuple[int, ...]]
    tickets: list[Ticket]  # one per prompt; none when nothing is generated
    arrived: float
    deadline: float
    gate_texts: list[str] = field(default_factory=list)  # what a conditional gate reads

    @property
    def gated(self) -> bool:
        return gate_condition(self.steering) is not None


@dataclass
class Completions:
    """The completions route's work, on top of the chat route's service."""

    service: ApiService
    scoring: ApiLane = field(default_factory=lambda: ApiLane(SCORING_THREADS))

    async def start(self, key: StoredApiKey, request: CompletionRequest, arrived: float) -> Pending:
        """Every check, then the rows queued (or the key's place taken); refusals as ApiErrors."""
        return await self.service.lane.run(self._start, key, request, arrived)

    def _start(self, key: StoredApiKey, request: CompletionRequest, arrived: float) -> Pending:
        service = self.service
        loaded, row, applied = service.served(key, request.model, request.submission)
        prompts = [self._ids(loaded, prompt) for prompt in request.prompts]
        budgets = [service.budget(loaded, ids, request.max_tokens, "The prompt") for ids in prompts]
        deadline = arrived + service.settings.timeout_s
        texts = [
            p
            if isinstance(p, str)
            else loaded.tokenizer.decode(list(ids), skip_special_tokens=True)
            for p, ids in zip(request.prompts, prompts, strict=True)
        ]
        pending = Pending(key, request, loaded, row, applied, prompts, [], arrived, deadline, texts)
        if pending.gated and not all(text.strip() for text in texts):
            raise ApiError(
                400,
                f"Submission {request.submission}'s vector is conditional: it is applied only "
                "when a prompt reads like its task, and a prompt here has no text to read.",
                "invalid_value",
            )
        assert service.admission is not None
        if request.max_tokens == 0:
            service.admission.hold(key)
            return pending
        rows = [
            ServeRequest(
                prompt_ids=ids,
                max_new_tokens=budget,
                steering=row,
                temperature=request.temperature,
                top_p=request.top_p,
                seed=request.seed,
                gate_text=text,
            )
            for ids, budget, text in zip(prompts, budgets, texts, strict=True)
        ]
        loop = service.host.batcher(loaded)
        service.observe(loop)

        def submit() -> Ticket:
            try:
                for one in rows:
                    pending.tickets.append(loop.submit(one, deadline))
            except SteeringError as error:
                for ticket in pending.tickets:
                    ticket.cancel()
                raise ApiError(400, str(error)) from None
            return pending.tickets[0]

        service.admission.admit(key, loop, submit)
        service.metrics.admitted(loaded.name, steered=row is not None)
        return pending

    @staticmethod
    def _ids(loaded: LoadedModel, prompt: Prompt) -> tuple[int, ...]:
        """A text's tokens by the lab's text rule; token ids as sent, when the model has them."""
        if isinstance(prompt, str):
            return prompt_ids(loaded.tokenizer, prompt)
        embeddings: Any = loaded.model.get_input_embeddings()
        vocabulary = int(embeddings.weight.shape[0])
        if max(prompt) >= vocabulary:
            raise ApiError(
                400,
                f"'prompt' holds token id {max(prompt)}; {loaded.name} has {vocabulary} tokens.",
                "invalid_value",
            )
        return prompt

    async def answer(self, pending: Pending) -> dict[str, Any]:
        """The ``text_completion`` body; however it ends, the rows and the key's place are
        given back and the request is counted (499 when the caller left first)."""
        status = CLIENT_GONE
        try:
            body = await self._answer(pending)
            status = 200
            return body
        except RequestTimedOut:
            status = 504
            raise ApiError(
                504,
                f"The answer was not complete {self.service.settings.timeout_s:g} s after the "
                "request arrived (STEERING_API_TIMEOUT_S), waiting time included. Ask for "
                "fewer tokens or shorter prompts, or try again when the server is less busy.",
                "timeout",
            ) from None
        except ApiError as error:
            status = error.status
            raise
        except Exception as error:  # the loop or the scoring pass could not run it
            status = 500
            raise ApiError(500, f"The answer could not be completed: {error}") from None
        finally:
            for ticket in pending.tickets:
                ticket.cancel()  # no-op for finished rows; frees those of an abandoned request
            assert self.service.admission is not None
            self.service.admission.release(pending.key)
            self.service.metrics.request_over(
                pending.loaded.name,
                status,
                time.monotonic() - pending.arrived,
                tokens=sum(t.produced for t in pending.tickets),
            )

    async def _answer(self, pending: Pending) -> dict[str, Any]:
        request, tokenizer = pending.request, pending.loaded.tokenizer
        stop = StopText(request.stop)
        made = await asyncio.gather(
            *(collect(t, pending.deadline, tokenizer, stop) for t in pending.tickets)
        )
        gates = await self._gates(pending)
        choices = []
        texts = [p if isinstance(p, str) else tokenizer.decode(list(p)) for p in request.prompts]
        for i, (prompt, ids) in enumerate(zip(texts, pending.prompts, strict=True)):
            tokens, text, stopped = made[i] if made else ([], "", False)
            ticket = pending.tickets[i] if pending.tickets else None
            finish = "length" if ticket is None else ticket.finish_reason
            if stopped:
                tokens, finish = tokens[: within(tokenizer, tokens, len(text))], "stop"
            elif ticket is not None and ticket.end_token is not None:
                # The end-of-text token the model picked is a generated token (its logprob and
                # the count), not text: "max_tokens": 1 always gives one token after the
                # prompt, which is what lm-evaluation-harness's log-likelihood slicing expects.
                tokens = [*tokens, ticket.end_token]
            logprobs = None
            if request.logprobs is not None:
                logprobs = await self._logprobs(pending, prompt, ids, tokens, gates[i])
            shown = prompt + text if request.echo else text
            choices.append(Choice(shown, finish or "stop", len(tokens), logprobs))
        sample = ([{"role": "user", "content": p} for p in texts], choices[0].text)
        submission = request.submission or UNSTEERED
        applied, not_applied = applied_counts(pending.applied, gates)
        await self.service.lane.run(
            self.service.store.record_api_use,
            pending.key.id,
            submission,
            sample,
            applied=applied,
            not_applied=not_applied,
        )
        if pending.applied is not None:
            self.service.metrics.applied(pending.loaded.name, applied, not_applied)
        return completion_body(
            ident=new_completion_id(),
            model=pending.loaded.name,
            choices=choices,
            prompt_tokens=sum(len(ids) for ids in pending.prompts),
            steering=control_vector(pending.applied, gates),
        )

    async def _gates(self, pending: Pending) -> list[GateDecision | None]:
        """Each prompt's gate: the decoding loop's (on its ticket), or, with nothing generated,
        decided here in one batched pass on the scoring thread (None: no conditional vector)."""
        if pending.tickets:
            return [ticket.gate for ticket in pending.tickets]
        if not pending.gated:
            return [None] * len(pending.prompts)
        remaining = pending.deadline - time.monotonic()
        if remaining <= 0:
            raise RequestTimedOut("The request ran out of time.")

        def decide() -> list[GateDecision | None]:
            rows = [pending.steering] * len(pending.gate_texts)
            with torch.inference_mode():
                return decide_gates(pending.loaded, rows, list(pending.gate_texts))

        try:
            return await asyncio.wait_for(self.scoring.run(decide), timeout=remaining)
        except TimeoutError:
            raise RequestTimedOut("The request ran out of time.") from None

    async def _logprobs(
        self,
        pending: Pending,
        prompt: str,
        ids: tuple[int, ...],
        made: list[Token],
        gate: GateDecision | None,
    ) -> dict[str, Any]:
        """OpenAI's completions ``logprobs`` over the prompt (with ``echo``) and the tokens made,
        from one scoring pass over both; offsets count characters of prompt + answer."""
        request, tokenizer = pending.request, pending.loaded.tokenizer
        every = list(ids) + [t.id for t in made]
        remaining = pending.deadline - time.monotonic()
        if remaining <= 0:
            raise RequestTimedOut("The request ran out of time.")
        try:
            scored = await asyncio.wait_for(
                self.scoring.run(
                    token_logprobs,
                    pending.loaded,
                    every,
                    steering=pending.steering,
                    top=request.logprobs or 0,
                    gate=gate,
                ),
                timeout=remaining,
            )
        except TimeoutError:
            raise RequestTimedOut("The request ran out of time.") from None
        offsets = prompt_offsets(tokenizer, prompt, ids) + answer_offsets(
            tokenizer, len(prompt), made
        )
        first = 0 if request.echo else len(ids)

        def text(token: int) -> str:
            # A token that is part of a character decodes to U+FFFD, as many others do: its
            # vocabulary entry keeps the top_logprobs keys apart.
            shown = str(tokenizer.decode([token]))
            return shown if "\ufffd" not in shown else str(tokenizer.convert_ids_to_tokens(token))

        return {
            "tokens": [text(t) for t in every[first:]],
            "token_logprobs": list(scored.logprobs[first:]),
            "top_logprobs": [
                {text(t): v for t, v in best} if p > 0 else None
                for p, best in enumerate(scored.top)
            ][first:],
            "text_offset": offsets[first:],
        }


def control_vector(
    steering: dict[str, Any] | None, gates: list[GateDecision | None]
) -> dict[str, Any] | None:
    """The answer's ``control_vector``: as chat's for one prompt or an unconditional vector
    (``applied`` true, ``similarity`` null); a conditional vector's for a list of prompts has
    ``applied`` and ``similarity`` as lists in prompt order."""
    if steering is None or len(gates) == 1 or all(gate is None for gate in gates):
        return applied_steering(steering, gates[0] if gates else None)
    each = [applied_steering(steering, gate) or {} for gate in gates]
    return steering | {
        "applied": [one["applied"] for one in each],
        "similarity": [one["similarity"] for one in each],
    }


def prompt_offsets(tokenizer: Any, prompt: str, ids: tuple[int, ...]) -> list[int]:
    """Where each of the prompt's tokens starts in ``prompt`` (a special token added by the
    tokenizer: where it stands). The tokenizer's own offsets when it has them for these very
    ids, else the length of the text the tokens before decode to."""
    try:
        encoded = tokenizer(
            prompt,
            add_special_tokens=not has_chat_template(tokenizer),
            return_offsets_mapping=True,
        )
        if tuple(encoded["input_ids"]) == tuple(ids):
            return [int(start) for start, _ in encoded["offset_mapping"]]
    except (NotImplementedError, ValueError, KeyError):  # a tokenizer without offsets
        pass
    return [
        min(len(prompt), len(tokenizer.decode(list(ids[:i]), skip_special_tokens=True)))
        for i in range(len(ids))
    ]


def answer_offsets(tokenizer: Any, start: int, made: list[Token]) -> list[int]:
    """Where each generated token starts, counted from ``start`` (the prompt's length)."""
    offsets: list[int] = []
    ids: list[int] = []
    for token in made:
        offsets.append(start + len(tokenizer.decode(ids, skip_special_tokens=True)))
        ids.append(token.id)
    return offsets
