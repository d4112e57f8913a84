"""The API's service: who is asking, which model, which steering, and the answer itself.

``GET /v1/models`` lists the models this process has loaded (by the name the dashboard shows),
then ``submission-N`` for each approved submission the key may use on one of them;
``POST /v1/chat/completions`` answers with one of them, steered by ``control_vector.submission``
when the request names one, or by submission N for the model ``submission-N`` (answered by the
model N was built for; the gate then comes before the model, see :meth:`ApiService.served`). The
routes are in :mod:`dashboard.api.routes`. Order of checks: API
key (401; the dashboard's cookie is never read here), the key's rate limit (429), the body (400,
``max_tokens`` above ``STEERING_API_MAX_TOKENS`` included), the model (404; 503
``model_loading`` while it loads), then the gate in
:func:`storage.api_keys.served_submission` (403 unless approved and allowed to this key, and
``record_mismatch`` when the row says approved but the signed audit trail does not; 503
while an admin has steering switched off), the vector's fit to the model (403) and the format
it was evaluated in (:mod:`dashboard.api.formats`: 403 ``format_mismatch`` when the model cannot
run in it here), the prompt's length (400) and admission (:mod:`dashboard.api.admission`: 429
past the key's requests in flight, 503 when too many wait). What is applied is exactly the
submission's approved strength and layers, read from the store on every request, so a
revocation takes effect on the next request.

Generation goes through the model's decoding loop (``steering.engine.serving``): concurrent
requests share forward passes whatever vectors they use, joining and leaving at every step. A
request waits for its tokens on the event loop (:mod:`dashboard.api.waiting`), holding no
thread; a caller that goes away frees its row at the next step, and a request unfinished
``STEERING_API_TIMEOUT_S`` after it arrived ends with 504 ``timeout``. Each answered request
increments a (key, submission, hour) counter; prompts and answers are kept only while sampling
is on.

A conditional vector (issue 21) steers a request only when its gate opens on the last user
message (``ServeRequest.gate_text``; decided by the decoding loop when the row is admitted): the
answer's ``control_vector`` says ``applied`` and ``similarity``, and the usage counter adds the
request to its applied or not-applied count.

Sending the answer, whole or streamed, and accounting for it is :mod:`dashboard.api.delivery`.
Its blocking calls (the store, tokenizing) run on the API's own few threads
(:mod:`dashboard.api.lane`), never on the pool the sign-in and the dashboard's light routes share;
what it serves is counted in :mod:`dashboard.api.metrics` (``GET /metrics``).

Loaded models are reached through :class:`~dashboard.api.host.ModelHost` (the dashboard's
context); the prompt is rendered, tokenized and measured against the model's context by the
engine's text rule (:mod:`steering.engine.text`), as everywhere else in the lab.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import Request

from steering.engine.decoding_rows import gate_condition
from steering.engine.models import LoadedModel, fingerprint
from steering.engine.serving import DecodingLoop, ServeRequest
from steering.engine.steer import RowSteering
from steering.engine.text import ChatTemplateError, context_length, prompt_ids, render_messages
from steering.vectors import ControlVector
from storage import (
    PermissionDeniedError,
    RecordMismatchError,
    ServedSubmission,
    SteeringOffError,
    StorageError,
    Store,
    StoredApiKey,
)

from .admission import Admission
from .delivery import Answer, Delivery
from .formats import model_for_submission
from .host import ModelHost
from .lane import ApiLane
from .metrics import UNKNOWN_MODEL, ApiMetrics
from .protocol import (
    ApiError,
    ChatRequest,
    model_submission,
    new_id,
    submission_model_name,
)
from .rate import RateLimiter
from .readiness import not_ready
from .settings import ApiSettings
from .settings import settings as api_settings

_log = logging.getLogger(__name__)
LOADING_RETRY_S = 5  # a model load takes seconds; coming back sooner only asks again
UNAVAILABLE_RETRY_S = 60  # an admin acts (steering switched back on, the model loaded again)
ADMIN_ROLE = "admin"
# The role of the dashboard user a request's sign-in cookie belongs to (None: no live sign-in).
SignedInRole = Callable[[Headers], str | None]


@dataclass
class ApiService:
    """The API's state: the host (store and loaded models), caches, the rate limiter, its lane
    and its metrics. ``signed_in_role`` reads a dashboard sign-in (only ``GET /metrics`` takes
    one, from admins); without it only metrics keys may read the metrics."""

    host: ModelHost
    settings: ApiSettings = field(default_factory=api_settings)
    limiter: RateLimiter | None = None
    admission: Admission | None = None
    signed_in_role: SignedInRole | None = None
    lane: ApiLane = field(default_factory=ApiLane)
    metrics: ApiMetrics = field(init=False)
    delivery: Delivery = field(init=False)
    _vectors: dict[int, ControlVector] = field(default_factory=dict)
    _fingerprints: dict[int, str] = field(default_factory=dict)
    _observed: weakref.WeakSet[DecodingLoop] = field(default_factory=weakref.WeakSet)
    _observed_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.limiter is None:
            self.limiter = RateLimiter(self.settings.rate_per_minute)
        if self.admission is None:
            self.admission = Admission(self.settings.key_concurrency, self.settings.queue)
        self.metrics = ApiMetrics(self.admission.waiting)
        self.delivery = Delivery(
            self.host, self.lane, self.metrics, self.admission, self.settings.timeout_s
        )

    @property
    def store(self) -> Store:
        return self.host.store

    # ------------------------------------------------------------------ who and how much

    def authenticate(self, request: Request) -> StoredApiKey:
        header = request.headers.get("authorization", "")
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise ApiError(
                401,
                "This API needs an API key: send 'Authorization: Bearer <key>'. An admin creates "
                "keys with 'python -m storage add-api-key NAME'.",
                "missing_api_key",
            )
        key = self.store.api_key_for(secret.strip())
        if key is None:
            raise ApiError(401, "This API key is unknown or revoked.", "invalid_api_key")
        return key

    def check_rate(self, key: StoredApiKey) -> None:
        assert self.limiter is not None
        if not self.limiter.allow(key.id):
            wait = self.limiter.retry_after(key.id)
            raise ApiError(
                429,
                f"Rate limit reached for key {key.name!r}: {self.limiter.per_minute} requests per "
                f"minute. Try again in {wait} s.",
                "rate_limit_exceeded",
                retry_after=wait,
            )

    def check_metrics_reader(self, request: Request) -> None:
        """``GET /metrics`` is for metrics keys and signed-in admins: 401 without either (or
        with a key that is unknown or revoked), 403 for any other key or user."""
        if request.headers.get("authorization"):
            key = self.authenticate(request)
            if not key.metrics:
                raise ApiError(
                    403,
                    f"The API key {key.name!r} may not read the metrics; an admin creates a key "
                    "that may with 'python -m storage add-api-key NAME --metrics'.",
                    "metrics_not_allowed",
                )
            return
        role = self.signed_in_role(request.headers) if self.signed_in_role else None
        if role is None:
            raise ApiError(
                401,
                "The metrics need a metrics key ('Authorization: Bearer <key>', made with "
                "'python -m storage add-api-key NAME --metrics') or an admin's sign-in.",
                "missing_api_key",
            )
        if role != ADMIN_ROLE:
            raise ApiError(403, "Only admins may read the metrics.", "metrics_not_allowed")

    def not_ready(self) -> str | None:
        """Why this process should not be sent requests yet (None: it is ready)."""
        return not_ready(self.store, self.host)

    # ------------------------------------------------------------------ models and vectors

    def loaded_models(self) -> list[LoadedModel]:
        return list(self.host.loaded_models())

    def model_label(self, name: object) -> str:
        """The metrics' ``model`` label for a requested name: the model's name when this server
        lists it (by name or spec), else ``unknown``."""
        for loaded in self.loaded_models():
            if name in (loaded.name, loaded.spec):
                return loaded.name
        return name if isinstance(name, str) and name in self.listed_models() else UNKNOWN_MODEL

    def listed_models(self) -> list[str]:
        """What ``GET /v1/models`` lists: the default model from the start (loaded or not), then
        every model loaded since."""
        default = self.host.model_status().default
        names = [default] if default is not None else []
        return names + [m.name for m in self.loaded_models() if m.name not in names]

    def model(self, name: str) -> LoadedModel:
        """The loaded model called ``name``: 503 while it loads (the default model's load starts
        here when nothing loaded it yet), 404 when this server does not have it."""
        for loaded in self.loaded_models():
            if name in (loaded.name, loaded.spec):
                return loaded
        status = self.host.model_status()
        if name in status.failed:
            raise ApiError(
                503,
                f"The model {name!r} could not be loaded here; an admin can load it again from "
                "the dashboard's Model tab.",
                "model_unavailable",
                retry_after=UNAVAILABLE_RETRY_S,
            )
        if name == status.default and name not in status.loading:
            self.host.load_default()  # --no-preload: the first request starts the load
            status = self.host.model_status()
        if name in status.loading:
            raise ApiError(
                503,
                f"The model {name!r} is still loading. Try again in a few seconds.",
                "model_loading",
                retry_after=LOADING_RETRY_S,
            )
        names = ", ".join(self.listed_models()) or "none is loaded yet"
        raise ApiError(
            404, f"The model {name!r} is not loaded here; available: {names}.", "model_not_found"
        )

    def _fingerprint(self, loaded: LoadedModel) -> str:
        key = id(loaded.model)
        if key not in self._fingerprints:
            self._fingerprints[key] = fingerprint(loaded)
        return self._fingerprints[key]

    def _vector(self, vector_id: int) -> ControlVector:
        # Stored vector files never change (content-addressed, hash-checked on read).
        if vector_id not in self._vectors:
            self._vectors[vector_id] = ControlVector.from_bytes(
                self.store.read_vector_file(vector_id)
            )
        return self._vectors[vector_id]

    def gate(self, key: StoredApiKey, submission_id: int) -> ServedSubmission:
        """What the store's gate serves ``key`` for ``submission_id``; refusals as ApiErrors."""
        try:
            return self.store.served_submission(key, submission_id)
        except SteeringOffError as error:
            raise ApiError(
                503, str(error), "steering_off", retry_after=UNAVAILABLE_RETRY_S
            ) from None
        except RecordMismatchError as error:  # the row says approved, the signed trail does not
            _log.warning("refused to serve: %s", error.detail)
            raise ApiError(403, str(error), "record_mismatch") from None
        except PermissionDeniedError as error:
            raise ApiError(403, str(error), "submission_not_allowed") from None
        except StorageError as error:
            raise ApiError(400, str(error)) from None

    def fits(self, served: ServedSubmission, loaded: LoadedModel) -> bool:
        """Whether ``served``'s vector can steer ``loaded``: its size, layers, its gate's block
        (a conditional vector) and fingerprint."""
        built_for = served.model_fingerprint
        vector = self._vector(served.vector_id)
        condition = vector.condition
        return (
            vector.hidden_size == loaded.hidden_size
            and all(i in vector.directions and i < loaded.num_layers for i in served.layers)
            and (condition is None or condition.layer < loaded.num_layers)
            and (built_for is None or built_for == self._fingerprint(loaded))
        )

    def _row(self, served: ServedSubmission, loaded: LoadedModel) -> RowSteering:
        """``served`` as the steering of a row on ``loaded``; 403 when it cannot steer it."""
        if not self.fits(served, loaded):
            raise ApiError(
                403,
                f"Submission {served.submission_id} was built for another model "
                f"({served.model_id or 'unknown'}), not {loaded.name}; it cannot steer it.",
                "wrong_model",
            )
        return RowSteering(self._vector(served.vector_id), served.strength, served.layers)

    def submission_model(self, served: ServedSubmission) -> LoadedModel:
        """The loaded model ``served`` was built for (the answer to a ``submission-N`` model):
        503 while the default model loads (it may be that one), 403 ``wrong_model`` when no
        model loaded here fits it."""
        loaded = self.loaded_models()
        for candidate in loaded:
            if self.fits(served, candidate):
                return candidate
        default = self.host.model_status().default
        if default is not None and all(default not in (m.name, m.spec) for m in loaded):
            return self.model(default)  # 503 while it loads; once loaded, its fit is checked
        names = ", ".join(m.name for m in loaded) or "none"
        raise ApiError(
            403,
            f"Submission {served.submission_id} was built for another model "
            f"({served.model_id or 'unknown'}), and no model loaded here fits it (loaded: "
            f"{names}); it cannot be served here.",
            "wrong_model",
        )

    def submission_models(self, key: StoredApiKey) -> list[str]:
        """``submission-N`` for every submission the gate would serve ``key`` now whose model
        is loaded here (what ``GET /v1/models`` adds for this key)."""
        loaded = self.loaded_models()
        return [
            submission_model_name(served.submission_id)
            for served in self.store.usable_submissions(key)
            if any(self.fits(served, m) for m in loaded)
        ]

    # ------------------------------------------------------------------ answering

    def served(
        self, key: StoredApiKey, model: str, submission: int | None
    ) -> tuple[LoadedModel, RowSteering | None, dict[str, Any] | None]:
        """The model that answers, the row's steering (None: unsteered) and what the answer
        says was applied; every refusal (model, gate, fit, format) as an ApiError.

        ``model`` ``submission-N`` (``submission`` is then N, see
        :func:`~dashboard.api.protocol.parse_submission`) is answered by the model the
        submission was built for; the gate comes first, so a key that may not use it learns
        exactly what ``control_vector`` would tell it."""
        if model_submission(model) is not None:
            assert submission is not None  # parse_submission took it from the model's name
            served = self.gate(key, submission)
            loaded = self.submission_model(served)
        else:
            loaded = self.model(model)
            if submission is None:
                return loaded, None, None
            served = self.gate(key, submission)
        row = self._row(served, loaded)
        # What is served is what was evaluated: the model in the evaluation's number format.
        loaded = model_for_submission(self.host, loaded, served)
        applied = {
            "submission": served.submission_id,
            "strength": served.strength,
            "layers": list(served.layers),
        }
        return loaded, row, applied

    def budget(self, loaded: LoadedModel, ids: Sequence[int], max_tokens: int, what: str) -> int:
        """How many new tokens a prompt of ``ids`` may get (at most ``max_tokens``); 400
        ``context_length_exceeded`` for a prompt past the limit or the model's context.
        ``what`` names the prompt in the message ("The messages", "The prompt")."""
        are, them = ("are", "them") if what.endswith("s") else ("is", "it")
        limit = self.settings.max_prompt_tokens
        if len(ids) > limit:
            raise ApiError(
                400,
                f"{what} {are} {len(ids)} tokens long; the limit is {limit}. Shorten {them}.",
                "context_length_exceeded",
            )
        room = context_length(loaded.model)
        budget = min(max_tokens, limit)
        if room is not None:
            if len(ids) >= room:
                raise ApiError(
                    400,
                    f"{what} {are} {len(ids)} tokens long; {loaded.name} reads at most {room}. "
                    f"Shorten {them}.",
                    "context_length_exceeded",
                )
            budget = min(budget, room - len(ids))
        return budget

    def start(self, key: StoredApiKey, chat: ChatRequest, arrived: float) -> Answer:
        """Check everything, then queue the generation; returns the request's answer handle,
        which holds one of the key's places in flight until :meth:`finish`. ``arrived``: the
        request's ``time.monotonic()`` on arrival, from which its time limit runs."""
        loaded, row, steering = self.served(key, chat.model, chat.submission)
        try:
            text = render_messages(loaded.tokenizer, chat.messages)
        except ChatTemplateError as error:
            raise ApiError(400, str(error)) from None
        ids = prompt_ids(loaded.tokenizer, text)
        budget = self.budget(loaded, ids, chat.max_tokens, "The messages")
        gate_text = last_user_text(chat.messages)
        if gate_condition(row) is not None and not gate_text.strip():
            raise ApiError(
                400,
                f"Submission {chat.submission}'s vector is conditional: it is applied only when "
                "the last user message reads like its task, and these messages have no user "
                "text. Add a message with role 'user'.",
                "invalid_value",
            )
        request = ServeRequest(
            prompt_ids=ids,
            max_new_tokens=budget,
            steering=row,
            temperature=chat.temperature,
            top_p=chat.top_p,
            seed=chat.seed,
            gate_text=gate_text,
        )
        assert self.admission is not None
        loop = self.host.batcher(loaded)
        self.observe(loop)
        deadline = arrived + self.settings.timeout_s
        ticket = self.admission.admit(key, loop, lambda: loop.submit(request, deadline))
        self.metrics.admitted(loaded.name, steered=row is not None)
        return Answer(
            ident=new_id(),
            model=loaded.name,
            key=key,
            request=chat,
            ticket=ticket,
            prompt_tokens=len(ids),
            steering=steering,
            tokenizer=loaded.tokenizer,
            deadline=deadline,
            arrived=arrived,
        )

    def observe(self, loop: DecodingLoop) -> None:
        """Count the steps of ``loop`` in the metrics (once per loop)."""
        with self._observed_lock:
            if loop not in self._observed:
                self._observed.add(loop)
                loop.on_step(self.metrics.step)

    def refused(self, model: object, status: int, arrived: float) -> None:
        """A chat request refused before it got an answer handle: counted as over."""
        self.metrics.request_over(self.model_label(model), status, time.monotonic() - arrived)

    def finish(self, answer: Answer) -> None:
        """The request is over, however it ended (see :meth:`Delivery.finish`)."""
        self.delivery.finish(answer)

    async def complete(self, answer: Answer) -> dict[str, Any]:
        """The whole answer's ``chat.completion`` body (see :meth:`Delivery.complete`)."""
        return await self.delivery.complete(answer)

    def stream(self, answer: Answer) -> AsyncIterator[str]:
        """The answer as server-sent events (see :meth:`Delivery.stream`)."""
        return self.delivery.stream(answer)


def last_user_text(messages: Sequence[dict[str, str]]) -> str:
    """What a conditional vector's gate reads of a chat: the last user message ("" if none)."""
    for message in reversed(messages):
        if message["role"] == "user":
            return message["content"]
    return ""
