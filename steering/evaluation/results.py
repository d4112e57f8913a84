"""Typed evaluation results: what an evaluation measured, as frozen values with their units.

``StrengthResult`` is one strength (one row of the results table), ``EvaluationReport`` a whole
evaluation. ``to_dict`` writes the JSON that the CLI's ``--json`` and the store keep (a superset of
the earlier loose dicts: the ten ``CLI_KEYS`` are always there), and ``from_dict`` reads every
evaluation stored so far, including those written before these types existed (no ``outcome``: the
store keeps it in a column, an old file's is read from its sentence by ``outcome_from_old_sentence``;
side-effect keys written as ``"0.0"`` or ``"0"``). Column labels for every view live in
``RESULT_COLUMNS`` here, next to the fields they name, so a unit is stated once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from enum import Enum, StrEnum
from typing import Any

import numpy as np

# The keys the CLI's ``--json`` contract names for each strength; they must always be present.
CLI_KEYS = (
    "alpha",
    "accuracy",
    "accuracy_norm",
    "ci_low",
    "ci_high",
    "kl",
    "entropy_bits",
    "mass_correct",
    "mass_incorrect",
    "mcnemar_p",
)


def jsonable(value: Any) -> Any:
    """Plain JSON values: numpy scalars to Python, NaN to None, tuples to lists, keys to str."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {_key(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else None
    return value


def _key(key: Any) -> str:
    # Strength keys are written the way people read them: 0.5 -> "0.5", 1.0 -> "1".
    if isinstance(key, (float, np.floating)):
        return f"{float(key):g}"
    return str(key)


def _float(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


class Verdict(StrEnum):
    """What an evaluation concluded about the chosen strength (one of today's outcomes)."""

    IMPROVES = "improves"  # significant, more questions gained than lost
    WORSE = "worse"  # significant, more lost than gained
    NO_EVIDENCE = "no_evidence"  # enough changed answers, but the difference could be chance
    TOO_FEW_CHANGED = "too_few_changed"  # too few answers changed to tell
    NO_EFFECT = "no_effect"  # the vector changed no answer
    TOO_FEW_QUESTIONS = "too_few_questions"  # fewer questions than a conclusion needs
    NO_STRENGTH_CHOSEN = "no_strength_chosen"  # no strength beat strength 0 on the build rows
    NOTHING_TO_COMPARE = "nothing_to_compare"  # only strength 0 evaluated, or no build rows
    # Significant gain, but with the probability on the correct answer falling or the mass on
    # every answer collapsing (``verdict.disruption_note``): the model was disrupted, not helped.
    GAIN_BY_DISRUPTION = "gain_by_disruption"
    # Significant gain, but with side effects beyond the lab's limits at that strength (neutral
    # perplexity, everyday answers changed: ``verdict.side_effect_note``): not fit to deploy.
    GAIN_WITH_SIDE_EFFECTS = "gain_with_side_effects"

    @property
    def recommendation(self) -> Recommendation:
        """What the outcome means for a decision to deploy, in the three words a manager reads."""
        return _RECOMMENDATIONS[self]


class Recommendation(StrEnum):
    """The decision an evaluation supports; only a significant gain supports deploying."""

    DEPLOY = "deploy"
    DO_NOT_DEPLOY = "do not deploy"
    NOT_ENOUGH_EVIDENCE = "not enough evidence"


# Worse, no effect, no strength beating the unsteered model, a gain that comes from disrupting
# the model or one with side effects beyond the lab's limits are all evidence against deploying;
# the rest are "could not tell" (too few questions or changed answers, chance).
_RECOMMENDATIONS: dict[Verdict, Recommendation] = {
    Verdict.IMPROVES: Recommendation.DEPLOY,
    Verdict.WORSE: Recommendation.DO_NOT_DEPLOY,
    Verdict.NO_EFFECT: Recommendation.DO_NOT_DEPLOY,
    Verdict.NO_STRENGTH_CHOSEN: Recommendation.DO_NOT_DEPLOY,
    Verdict.GAIN_BY_DISRUPTION: Recommendation.DO_NOT_DEPLOY,
    Verdict.GAIN_WITH_SIDE_EFFECTS: Recommendation.DO_NOT_DEPLOY,
    Verdict.NO_EVIDENCE: Recommendation.NOT_ENOUGH_EVIDENCE,
    Verdict.TOO_FEW_CHANGED: Recommendation.NOT_ENOUGH_EVIDENCE,
    Verdict.TOO_FEW_QUESTIONS: Recommendation.NOT_ENOUGH_EVIDENCE,
    Verdict.NOTHING_TO_COMPARE: Recommendation.NOT_ENOUGH_EVIDENCE,
}


# Phrases that only the matching branch of ``steering.evaluation.verdict`` writes.
_SENTENCE_MARKERS: tuple[tuple[str, Verdict], ...] = (
    ("No strength did better than the unsteered model", Verdict.NO_STRENGTH_CHOSEN),
    ("so the vector improves accuracy", Verdict.IMPROVES),
    ("so the vector makes the model worse", Verdict.WORSE),
    ("too few to tell whether the vector helps", Verdict.TOO_FEW_QUESTIONS),
    ("too few to tell whether the vector helps or hurts", Verdict.TOO_FEW_CHANGED),
    ("changed none of the answers", Verdict.NO_EFFECT),
    ("the difference could be chance", Verdict.NO_EVIDENCE),
)
# "too few to tell whether the vector helps or hurts" contains the shorter phrase: check it first.
_SENTENCE_MARKERS = tuple(sorted(_SENTENCE_MARKERS, key=lambda item: -len(item[0])))


def outcome_from_old_sentence(sentence: str) -> Verdict:
    """Compatibility only: the outcome of a report file written before outcomes were stored,
    recovered from its verdict sentence.

    Its one caller is :meth:`EvaluationReport.from_dict`, for JSON that carries no ``outcome``
    (old ``--json`` files). Evaluations in the store have theirs in a column (migration 0004
    filled it for the old ones), so nothing read from the store comes through here.
    """
    for marker, outcome in _SENTENCE_MARKERS:
        if marker in (sentence or ""):
            return outcome
    return Verdict.NOTHING_TO_COMPARE


@dataclass(frozen=True)
class StrengthResult:
    """Accuracy and diagnostics at one strength (or one layer set of a layer sweep).

    Accuracies and probability masses are fractions in [0, 1]; ``kl`` is in nats, entropy in bits;
    p-values are McNemar's exact test against strength 0 on the same questions.
    """

    alpha: float  # steering strength (0 = the unsteered model)
    accuracy: float  # fraction of questions answered correctly
    accuracy_norm: float | None  # same, candidates scored per token (length-normalised)
    ci_low: float  # Wilson 95% interval on ``accuracy``
    ci_high: float
    kl: float | None  # mean KL(unsteered || steered) at the first answer token, nats
    entropy_bits: float | None  # mean entropy of the next-token distribution there, bits
    mass_correct: float | None  # mean probability of the correct answer's first token
    mass_incorrect: float | None  # mean probability of the incorrect answers' first tokens
    mcnemar_p: float | None  # exact McNemar p-value vs strength 0 (1.0 at strength 0)
    n: int | None = None  # questions
    correct: int | None = None  # questions answered correctly
    correct_norm: int | None = None
    ci_norm_low: float | None = None
    ci_norm_high: float | None = None
    mcnemar_p_norm: float | None = None
    gained: int | None = None  # wrong without the vector, right with it
    lost: int | None = None  # right without the vector, wrong with it
    diff: float | None = None  # accuracy difference vs strength 0 (fraction)
    diff_low: float | None = None  # paired bootstrap 95% interval on ``diff``
    diff_high: float | None = None
    perplexity: float | None = None  # perplexity of neutral text at this strength
    neutral_changed: float | None = None  # fraction of neutral prompts whose answer changed
    layers: tuple[int, ...] | None = None  # layer set (layer sweeps); None: the evaluation's

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: jsonable(getattr(self, f.name)) for f in fields(self)}
        # Optional fields that were never measured stay out, as in the JSON written so far.
        for name in ("layers", "perplexity", "neutral_changed"):
            if data[name] is None:
                del data[name]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StrengthResult:
        ints = {"n", "correct", "correct_norm", "gained", "lost"}
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = data.get(f.name)
            if f.name == "layers":
                values[f.name] = _layers(raw)
            elif f.name in ints:
                values[f.name] = _int(raw)
            else:
                values[f.name] = _float(raw)
        values["alpha"] = float(data.get("alpha") or 0.0)
        values["accuracy"] = float(data.get("accuracy") or 0.0)
        values["ci_low"] = _float(data.get("ci_low")) or 0.0
        values["ci_high"] = _float(data.get("ci_high")) or 0.0
        return cls(**values)


def _layers(raw: Any) -> tuple[int, ...] | None:
    if raw is None or raw == "none":
        return None if raw is None else ()
    if isinstance(raw, str):
        return tuple(int(part) for part in raw.split(",") if part.strip())
    return tuple(int(i) for i in raw)


@dataclass(frozen=True)
class Column:
    """One column of a results table: the field, its label with its unit, and what it means."""

    key: str
    label: str
    help: str


# The results table's columns, in the order every view shows them.
RESULT_COLUMNS: tuple[Column, ...] = (
    Column("alpha", "strength", "how strongly the vector is added (0 = without the vector)"),
    Column("accuracy", "accuracy", "share of questions answered correctly"),
    Column("ci_low", "95% low", "lower end of the 95% confidence interval on accuracy"),
    Column("ci_high", "95% high", "upper end of the 95% confidence interval on accuracy"),
    Column("correct", "correct", "questions answered correctly"),
    Column("n", "questions", "questions asked"),
    Column(
        "mcnemar_p",
        "p (vs no vector)",
        "chance of a difference this large if the vector did nothing (McNemar's exact test)",
    ),
    Column(
        "kl",
        "KL (nats)",
        "how far the vector moves the next-word probabilities at the first "
        "answer word (KL divergence from the unsteered model, in nats)",
    ),
    Column(
        "entropy_bits",
        "entropy (bits)",
        "how unsure the model is about the first answer word (entropy, in bits)",
    ),
    Column(
        "mass_correct", "P(correct)", "probability the model gives the correct answer's first word"
    ),
    Column(
        "mass_incorrect", "P(incorrect)", "probability the model gives a wrong answer's first word"
    ),
)


# Fields some views show beyond ``RESULT_COLUMNS`` (the CLI table), labelled here all the same.
EXTRA_COLUMNS: tuple[Column, ...] = (
    Column(
        "accuracy_norm",
        "accuracy (per token)",
        "share of questions answered correctly when answers are scored per token (length-fair)",
    ),
)


def column_label(key: str) -> str:
    """The label, with its unit, that every view gives the ``StrengthResult`` field ``key``."""
    for column in RESULT_COLUMNS + EXTRA_COLUMNS:
        if column.key == key:
            return column.label
    raise KeyError(f"no column is labelled for the field '{key}'")


@dataclass(frozen=True)
class VectorSummary:
    """Which vector was evaluated, on which layers (from the vector's lineage)."""

    hash: str
    method: str | None
    negatives: str | None
    layers: tuple[int, ...]
    dataset_hash: str | None
    model_id: str | None

    def to_dict(self) -> dict[str, Any]:
        return jsonable({f.name: getattr(self, f.name) for f in fields(self)})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VectorSummary:
        return cls(
            hash=str(data.get("hash") or ""),
            method=data.get("method"),
            negatives=data.get("negatives"),
            layers=_layers(data.get("layers")) or (),
            dataset_hash=data.get("dataset_hash"),
            model_id=data.get("model_id"),
        )


@dataclass(frozen=True)
class NeutralAnswer:
    """One neutral prompt's answers, keyed by strength."""

    prompt: str
    answers: dict[float, str]

    def to_dict(self) -> dict[str, Any]:
        return {"prompt": self.prompt, "answers": jsonable(self.answers)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NeutralAnswer:
        answers = data.get("answers") or {}
        return cls(str(data.get("prompt") or ""), {float(k): str(v) for k, v in answers.items()})


@dataclass(frozen=True)
class SideEffects:
    """Side effects on neutral text at each strength (empty when not measured)."""

    perplexity: dict[float, float] = field(default_factory=dict)  # perplexity of neutral text
    changed_share: dict[float, float] = field(default_factory=dict)  # fraction of answers changed
    answers: tuple[NeutralAnswer, ...] = ()

    @property
    def measured(self) -> bool:
        return bool(self.perplexity or self.changed_share or self.answers)

    def to_dict(self) -> dict[str, Any]:
        if not self.measured:
            return {}
        return {
            "perplexity": jsonable(self.perplexity),
            "changed_share": jsonable(self.changed_share),
            "answers": [a.to_dict() for a in self.answers],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> SideEffects:
        data = data or {}
        return cls(
            perplexity=_by_strength(data.get("perplexity")),
            changed_share=_by_strength(data.get("changed_share")),
            answers=tuple(NeutralAnswer.from_dict(a) for a in data.get("answers") or ()),
        )


def _by_strength(raw: Any) -> dict[float, float]:
    if not isinstance(raw, Mapping):
        return {}
    return {float(k): float(v) for k, v in raw.items() if v is not None}


@dataclass(frozen=True)
class GateReport:
    """A conditional vector's gate as the evaluation measured it (JSON key ``gate``; an
    unconditional vector's report has ``gate: null``).

    Rates are fractions 0-1: of the task questions the evaluation reports on (held-out rows for a
    held-out evaluation) and of the held-out everyday half where the gate opened (the vector was
    applied). ``layer`` and ``threshold`` are the vector's condition: the block whose output is
    read and the cosine similarity at or above which the gate opens.
    """

    task_open_rate: float
    everyday_open_rate: float
    task_rows: int
    everyday_rows: int
    layer: int
    threshold: float

    @property
    def task_applied(self) -> int:
        """Task questions the vector was applied to (the count shown to people)."""
        return round(self.task_open_rate * self.task_rows)

    @property
    def everyday_applied(self) -> int:
        """Everyday prompts the vector was applied to (the count shown to people)."""
        return round(self.everyday_open_rate * self.everyday_rows)

    def to_dict(self) -> dict[str, Any]:
        return jsonable({f.name: getattr(self, f.name) for f in fields(self)})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateReport:
        try:
            return cls(
                task_open_rate=float(data["task_open_rate"]),
                everyday_open_rate=float(data["everyday_open_rate"]),
                task_rows=int(data["task_rows"]),
                everyday_rows=int(data["everyday_rows"]),
                layer=int(data["layer"]),
                threshold=float(data["threshold"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(
                "An evaluation's 'gate' needs task_open_rate, everyday_open_rate, task_rows, "
                f"everyday_rows, layer and threshold as numbers ({error})."
            ) from None


def _gate(raw: Any) -> GateReport | None:
    # Reports stored before conditional vectors have no "gate": they were unconditional.
    return GateReport.from_dict(raw) if isinstance(raw, Mapping) else None


@dataclass(frozen=True)
class Sample:
    """One question's answers without and with the vector (a sample a reviewer reads)."""

    row: int  # the row number the user's file shows
    prompt: str
    answer: str  # the correct answer
    unsteered: str | None  # the answer picked or extracted without the vector
    steered: str | None  # ... and with it
    alpha: float
    unsteered_text: str | None = None  # generated text (generated-answer mode only)
    steered_text: str | None = None
    # Whether each answer was right; None in evaluations stored before these were recorded.
    unsteered_correct: bool | None = None
    steered_correct: bool | None = None
    steered_cut: bool | None = None  # generated answers: stopped at the token limit
    unsteered_cut: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        data = jsonable({f.name: getattr(self, f.name) for f in fields(self)})
        for name in _SAMPLE_OPTIONAL:
            if data[name] is None:
                del data[name]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Sample:
        def text(name: str) -> str | None:
            value = data.get(name)
            return None if value is None else str(value)

        return cls(
            row=int(data.get("row") or 0),
            prompt=str(data.get("prompt") or ""),
            answer=str(data.get("answer") or ""),
            unsteered=text("unsteered"),
            steered=text("steered"),
            alpha=float(data.get("alpha") or 0.0),
            unsteered_text=text("unsteered_text"),
            steered_text=text("steered_text"),
            unsteered_correct=_bool(data.get("unsteered_correct")),
            steered_correct=_bool(data.get("steered_correct")),
            steered_cut=_bool(data.get("steered_cut")),
            unsteered_cut=_bool(data.get("unsteered_cut")),
        )


# Sample fields left out of the JSON when not recorded, as in the JSON written before them.
_SAMPLE_OPTIONAL = (
    "unsteered_text",
    "steered_text",
    "unsteered_correct",
    "steered_correct",
    "steered_cut",
    "unsteered_cut",
)


def _bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


@dataclass(frozen=True)
class EvaluationReport:
    """Everything a reviewer needs about one evaluation; ``to_dict`` is the ``--json`` schema.

    ``results`` are the strengths on the rows reported on (held-out rows for a held-out
    evaluation), ``build_results`` the strengths on the rows the strength was chosen on.
    ``chosen_on`` is ``"build"``, ``"given"`` or ``"same"`` (see ``verdict_sentence``).
    """

    model: str
    vector: VectorSummary
    rows: int  # questions reported on
    mode: str  # "choice" (multiple choice) or "generate" (generated answers)
    results: tuple[StrengthResult, ...]
    verdict: str  # the plain-language sentence
    outcome: Verdict
    chosen_alpha: float | None
    chosen_on: str
    side_effects: SideEffects = field(default_factory=SideEffects)
    samples: tuple[Sample, ...] = ()  # a few questions at each evaluated strength (older: one)
    build_results: tuple[StrengthResult, ...] | None = None
    # Accuracy by guessing: the mean over questions of 1 / their number of answer options
    # (None without options, or in evaluations stored before it was recorded).
    chance: float | None = None
    options: tuple[int, int] | None = None  # fewest and most answer options per question
    # The number format the model ran in and why ("bfloat16: native on this CPU"); None in
    # evaluations stored before it was recorded (those ran float32 on CPUs, bfloat16 on CUDA).
    dtype: str | None = None
    dtype_reason: str | None = None
    # A conditional vector's gate as measured (None: an unconditional vector, or a report
    # stored before conditional vectors existed).
    gate: GateReport | None = None
    # Why the accuracy gain at the chosen strength comes from disrupting the model
    # (``verdict.disruption_note``; also in ``verdict``), None when it does not.
    disruption: str | None = None
    # The per-question table (pandas) the results were computed from; not part of the JSON.
    table: Any = field(default=None, compare=False, repr=False)

    def result_at(self, alpha: float) -> StrengthResult | None:
        """The held-out result at strength ``alpha``, if it was evaluated."""
        return next((r for r in self.results if r.alpha == float(alpha)), None)

    @property
    def baseline(self) -> StrengthResult | None:
        return self.result_at(0.0)

    def samples_at(self, alpha: float) -> tuple[Sample, ...]:
        """The sample questions answered at strength ``alpha`` (and without the vector)."""
        return tuple(s for s in self.samples if s.alpha == float(alpha))

    @property
    def strengths(self) -> tuple[float, ...]:
        return tuple(r.alpha for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "model": self.model,
            "vector": self.vector.to_dict(),
            "rows": int(self.rows),
            "mode": self.mode,
            "results": [r.to_dict() for r in self.results],
            "verdict": self.verdict,
            "outcome": self.outcome.value,
            "chosen_alpha": _float(self.chosen_alpha),
            "chosen_on": self.chosen_on,
            "side_effects": self.side_effects.to_dict(),
            "samples": [s.to_dict() for s in self.samples],
            "gate": None if self.gate is None else self.gate.to_dict(),
        }
        if self.build_results is not None:
            data["build_results"] = [r.to_dict() for r in self.build_results]
        if self.chance is not None:
            data["chance"] = _float(self.chance)
        if self.options is not None:
            data["options"] = list(self.options)
        if self.dtype is not None:
            data["dtype"] = self.dtype
            data["dtype_reason"] = self.dtype_reason
        if self.disruption is not None:
            data["disruption"] = self.disruption
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, outcome: str | None = None) -> EvaluationReport:
        """Read the ``to_dict`` JSON back. The JSON's own outcome comes first; ``outcome`` is the
        one the store keeps beside JSON written before outcomes were (``StoredEvaluation.outcome``);
        only JSON with neither (an old report file) goes to :func:`outcome_from_old_sentence`."""
        verdict = str(data.get("verdict") or "")
        outcome = data.get("outcome") or outcome
        build = data.get("build_results")
        chosen = _float(data.get("chosen_alpha"))
        return cls(
            model=str(data.get("model") or ""),
            vector=VectorSummary.from_dict(data.get("vector") or {}),
            rows=int(data.get("rows") or 0),
            mode=str(data.get("mode") or "choice"),
            results=_results(data.get("results")),
            verdict=verdict,
            outcome=Verdict(outcome) if outcome else outcome_from_old_sentence(verdict),
            chosen_alpha=chosen,
            chosen_on=str(data.get("chosen_on") or "build"),
            side_effects=SideEffects.from_dict(data.get("side_effects")),
            samples=tuple(
                # Samples stored before they named their strength were all at the chosen one.
                Sample.from_dict(s if s.get("alpha") is not None else {**s, "alpha": chosen})
                for s in data.get("samples") or ()
            ),
            build_results=None if build is None else _results(build),
            chance=_float(data.get("chance")),
            options=_options(data.get("options")),
            dtype=data.get("dtype"),
            dtype_reason=data.get("dtype_reason"),
            gate=_gate(data.get("gate")),
            disruption=data.get("disruption"),
        )


def _options(raw: Any) -> tuple[int, int] | None:
    if not isinstance(raw, Sequence) or isinstance(raw, str) or len(raw) != 2:
        return None
    return int(raw[0]), int(raw[1])


def _results(raw: Sequence[Mapping[str, Any]] | None) -> tuple[StrengthResult, ...]:
    return tuple(StrengthResult.from_dict(r) for r in raw or ())
