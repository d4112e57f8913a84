"""The control-vector engine: models, example sets, activations, vectors, steering, evaluation.

Imports neither gradio nor sqlalchemy, so it runs from the CLI, a notebook or a GPU box. The names
a notebook needs are importable from here; each is loaded on first use, so ``import steering``
stays quick (torch and transformers are only imported when a name that needs them is used).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from steering.version import __version__ as __version__  # re-exported

# name -> the module that defines it
_EXPORTS = {
    "load_model": "steering.engine.models",
    "LoadedModel": "steering.engine.models",
    "load_examples": "steering.data.examples",
    "ExampleSet": "steering.data.examples",
    "build_vector": "steering.build",
    "ControlVector": "steering.vectors",
    "steer": "steering.engine.steer",
    "side_by_side": "steering.engine.generate",
    "generate_texts": "steering.engine.generate",
    "evaluate": "steering.evaluation.evaluate",
    "evaluate_heldout": "steering.evaluation.evaluate",
    "EvaluationReport": "steering.evaluation.results",
    "StrengthResult": "steering.evaluation.results",
    "Verdict": "steering.evaluation.results",
    "export_gguf": "steering.export",
    "parse_layers": "steering.layers",
    "SteeringError": "steering.errors",
}

__all__ = [
    "ControlVector",
    "EvaluationReport",
    "ExampleSet",
    "LoadedModel",
    "SteeringError",
    "StrengthResult",
    "Verdict",
    "build_vector",
    "evaluate",
    "evaluate_heldout",
    "export_gguf",
    "generate_texts",
    "load_examples",
    "load_model",
    "parse_layers",
    "side_by_side",
    "steer",
]

if TYPE_CHECKING:
    from steering.build import build_vector
    from steering.data.examples import ExampleSet, load_examples
    from steering.engine.generate import generate_texts, side_by_side
    from steering.engine.models import LoadedModel, load_model
    from steering.engine.steer import steer
    from steering.errors import SteeringError
    from steering.evaluation.evaluate import evaluate, evaluate_heldout
    from steering.evaluation.results import EvaluationReport, StrengthResult, Verdict
    from steering.export import export_gguf
    from steering.layers import parse_layers
    from steering.vectors import ControlVector


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'steering' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
