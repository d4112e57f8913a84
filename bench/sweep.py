"""The 7-strength multiple-choice sweep: ours (``score_choices``) vs the paper's protocol.

The paper's protocol: for each strength, for each question, for each candidate, one forward pass
of the whole model over prompt + candidate (batch of one, steered at that strength), the
candidate's score being the sum of its tokens' log-probabilities; the prediction is the best one.
"""

from __future__ import annotations

from typing import Any

import torch

from bench.common import compare
from steering.engine.models import LoadedModel
from steering.engine.steer import steer
from steering.engine.text import encode
from steering.vectors import ControlVector

STRENGTHS = (-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0)


def paper_protocol(loaded: LoadedModel, rows: list[Any], vector: ControlVector, layers) -> list:
    tok, model = loaded.tokenizer, loaded.model
    predictions = []
    with torch.inference_mode():
        for alpha in STRENGTHS:
            with steer(loaded, vector, alpha, layers=layers):
                for row in rows:
                    scores = []
                    for choice in row.choices:
                        enc = encode(tok, row.prompt, choice)
                        ids = torch.tensor([enc.ids], device=loaded.device)
                        logp = model(input_ids=ids).logits[0, :-1].float().log_softmax(-1)
                        targets = ids[0, 1:]
                        picked = logp.gather(1, targets[:, None])[:, 0]
                        scores.append(float(picked[enc.prompt_len - 1 :].sum()))
                    predictions.append(max(range(len(scores)), key=scores.__getitem__))
    return predictions


def ours(loaded: LoadedModel, rows: list[Any], vector: ControlVector, layers) -> Any:
    from steering.evaluation.evaluate import score_choices

    return score_choices(loaded, rows, vector=vector, alphas=STRENGTHS, layers=layers)


def run(loaded: LoadedModel, rows: list[Any], vector: ControlVector, reps: int, layers) -> dict:
    medians = compare(
        {
            "paper": lambda: paper_protocol(loaded, rows, vector, layers),
            "ours": lambda: ours(loaded, rows, vector, layers),
        },
        reps,
    )
    return {
        "eval_speedup_vs_per_example": medians["paper"] / medians["ours"],
        "_seconds": medians,
    }
