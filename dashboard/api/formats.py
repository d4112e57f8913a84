"""Serving a submission in the number format it was evaluated in (issue 24).

What is served is what was evaluated: a submission evaluated in float32 is answered by the model in
float32 even where this machine loads models in bfloat16, and the other way round. The host loads
a second copy in the other format when memory allows (:meth:`ModelHost.model_in_format`);
otherwise the request gets 403 ``format_mismatch`` naming both formats. A submission whose
evaluation did not record a format (stored before formats were recorded) is served as loaded.
"""

from __future__ import annotations

from steering.engine.models import LoadedModel
from steering.engine.precision import FORMATS
from steering.errors import SteeringError
from storage import ServedSubmission

from .host import ModelHost
from .protocol import ApiError

FORMAT_MISMATCH = "format_mismatch"


def model_for_submission(
    host: ModelHost, loaded: LoadedModel, served: ServedSubmission
) -> LoadedModel:
    """The model to answer ``served`` with: ``loaded`` in the submission's evaluated format."""
    wanted, running = served.dtype, loaded.precision.name
    if wanted is None or wanted == running:
        return loaded
    if wanted not in FORMATS:
        raise ApiError(
            403,
            f"Submission {served.submission_id} was evaluated in {wanted}, a number format this "
            f"server cannot run; {loaded.name} runs here in {running}.",
            FORMAT_MISMATCH,
        )
    try:
        return host.model_in_format(loaded, wanted)
    except SteeringError as error:  # not enough memory, or the files could not be read again
        raise ApiError(
            403,
            f"Submission {served.submission_id} was evaluated in {wanted}, but {loaded.name} runs "
            f"here in {running}, and it cannot be loaded a second time in {wanted}: {error}. "
            f"Ask an admin to start the app with --dtype {wanted}.",
            FORMAT_MISMATCH,
        ) from None
