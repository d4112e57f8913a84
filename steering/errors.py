"""Errors a user can cause, with messages a non-engineer can act on.

The UI shows them as they are and the CLI prints them and exits with status 2; anything else that
escapes is a bug and keeps its traceback.
"""


class SteeringError(Exception):
    """A problem with the user's input or environment, phrased so that they can fix it."""


class ModelLoadError(SteeringError):
    """A model could not be found, reached or understood."""


class UnsupportedArchitectureError(SteeringError):
    """The model's decoder blocks could not be located."""
