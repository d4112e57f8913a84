"""Batched reading of the residual stream: the output of every decoder block at chosen tokens.

One forward pass per batch; a forward hook on each block keeps only ``[batch, hidden]`` (the last
non-padding token, or the mean over the completion's tokens) and hands it to a reducer, so memory
does not grow with the number of texts or their length. Texts are sorted by length before batching
to minimise padding. The language-model head is never run: we call the base model and stop the pass
after the last block we need.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch

from steering.models import LoadedModel, decoder_blocks
from steering.text import Encoded

ProgressCallback = Callable[[int, int], None]
POSITIONS = ("last", "mean")


class _StopForward(Exception):
    """Raised by the hook of the last needed block: the rest of the model is not needed."""


@dataclass(frozen=True)
class Batch:
    """One padded batch: ``order`` maps batch rows back to indices of the input list."""

    order: list[int]
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    position_ids: torch.Tensor
    weights: torch.Tensor  # [batch, seq]: which tokens are read, summing to 1 per row


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length (longest first, so memory peaks early)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def pad_batch(
    encoded: Sequence[Encoded],
    order: list[int],
    pad_id: int,
    position: str = "last",
    padding_side: str = "right",
    device: torch.device | str = "cpu",
) -> Batch:
    """Pad the chosen texts into tensors and precompute which tokens each row reads."""
    if position not in POSITIONS:
        raise ValueError(f"position must be one of {POSITIONS}")
    rows = [encoded[i] for i in order]
    width = max(len(r.ids) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    weights = torch.zeros((len(rows), width), dtype=torch.float32)
    for b, row in enumerate(rows):
        n = len(row.ids)
        start = width - n if padding_side == "left" else 0
        ids[b, start : start + n] = torch.tensor(row.ids)
        mask[b, start : start + n] = 1
        if position == "last":
            weights[b, start + n - 1] = 1.0
        else:  # mean over the completion's tokens (the last token when there is no completion)
            first = start + min(row.prompt_len, n - 1)
            weights[b, first : start + n] = 1.0 / (start + n - first)
    position_ids = (mask.cumsum(dim=1) - 1).clamp(min=0)
    return Batch(
        order=order,
        input_ids=ids.to(device),
        attention_mask=mask.to(device),
        position_ids=position_ids.to(device),
        weights=weights.to(device),
    )


def iter_block_outputs(
    loaded: LoadedModel,
    encoded: Sequence[Encoded],
    layers: Sequence[int],
    *,
    position: str = "last",
    batch_size: int = 16,
    padding_side: str = "right",
    progress: ProgressCallback | None = None,
) -> Iterator[tuple[list[int], dict[int, torch.Tensor]]]:
    """Yield ``(indices, {layer: float32 [batch, hidden]})`` batch by batch.

    ``indices`` say which input texts the rows are. Only one batch's readings exist at a time.
    """
    model = loaded.model
    blocks = decoder_blocks(model)
    wanted = sorted(set(layers))
    last_needed = wanted[-1]
    pad_id = loaded.tokenizer.pad_token_id
    captured: dict[int, torch.Tensor] = {}
    current: dict[str, torch.Tensor] = {}

    def make_hook(index: int) -> Callable:
        def hook(_module: torch.nn.Module, _inputs: tuple, output: object) -> None:
            hidden = output[0] if isinstance(output, tuple) else output
            # [batch, seq] x [batch, seq, hidden] -> [batch, hidden]; float32 for exact sums.
            captured[index] = torch.einsum("bs,bsh->bh", current["weights"], hidden.float())
            if index == last_needed:
                raise _StopForward

        return hook

    handles = [blocks[i].register_forward_hook(make_hook(i)) for i in wanted]
    groups = length_sorted_batches([len(e.ids) for e in encoded], batch_size)
    done = 0
    try:
        with torch.inference_mode():
            for group in groups:
                batch = pad_batch(encoded, group, pad_id, position, padding_side, loaded.device)
                current["weights"] = batch.weights
                captured.clear()
                try:
                    model.base_model(
                        input_ids=batch.input_ids,
                        attention_mask=batch.attention_mask,
                        position_ids=batch.position_ids,
                        use_cache=False,
                    )
                except _StopForward:
                    pass
                yield group, {i: captured[i] for i in wanted}
                done += len(group)
                if progress is not None:
                    progress(done, len(encoded))
    finally:
        for handle in handles:
            handle.remove()
