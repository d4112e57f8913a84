"""The control-vector engine: models, example sets, activations, vectors, steering, evaluation.

Imports neither gradio nor sqlalchemy, so it runs from the CLI, a notebook or a GPU box.
"""

__version__ = "0.1.0"
