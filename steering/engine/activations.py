"""Batched reading of the residual stream: the output of every decoder block at chosen tokens.

One forward pass per batch; a forward hook on each block keeps only ``[batch, hidden]`` (the last
non-padding token, or the mean over the completion's tokens) and hands it to a reducer, so memory
does not grow with the number of texts or their length. Texts are sorted by length before batching
to minimise padding. The language-model head is never run: we call the base model and stop the pass
after the last block we need.

Texts that start with the same formatted prompt (the positive and negative completions of a pair)
share a prefix: with ``share_prefix`` the shared tokens are run once per group, their
key/value cache is copied to every member, and only the members' remaining tokens are run again.
Readings equal those of the plain path within float tolerance (tested). The chat template's start,
shared by the groups of a batch, also runs once. On by default (see ``SHARE_PREFIX``); how many
tokens it saves and how much faster builds get: bench/README.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import torch

from steering.engine.models import LoadedModel, cache_kwarg_name, decoder_blocks
from steering.engine.text import Encoded
from steering.progress import ProgressCallback

if TYPE_CHECKING:
    from transformers import PreTrainedModel

POSITIONS = ("last", "mean")
# Process-wide default of ``iter_block_outputs(share_prefix=None)``: on, since it makes builds
# faster (bench/README.md, ``build_prefix_sharing_gain``). Benchmarks switch it to measure the
# gain through the unchanged public API.
SHARE_PREFIX = True


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


def can_share_prefix(model: PreTrainedModel) -> bool:
    """Whether a shared prompt can be run once for several texts without changing any reading."""
    # Sliding-window caches drop old keys; a shared prefix is only exact with full-length caches.
    config = model.config
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    if getattr(text, "sliding_window", None) or getattr(text, "attention_chunk_size", None):
        return False
    return "sliding_attention" not in (getattr(text, "layer_types", None) or ())


def common_prefix_length(rows: Sequence[Sequence[int]]) -> int:
    """How many leading tokens all ``rows`` share."""
    first, n = rows[0], min(len(r) for r in rows)
    for k in range(n):
        if any(r[k] != first[k] for r in rows[1:]):
            return k
    return n


@dataclass(frozen=True)
class PrefixGroup:
    """Texts (indices) whose first ``shared`` tokens are identical and run once."""

    members: list[int]
    shared: int


def prefix_groups(encoded: Sequence[Encoded], position: str = "last") -> list[PrefixGroup]:
    """Group texts with the same formatted prompt; singletons get ``shared == 0``.

    The shared part is the longest common prefix of the members' tokens, cut so that every member
    keeps at least the tokens it reads (its last one, or for ``mean`` its whole completion).
    """
    by_prompt: dict[tuple[int, ...], list[int]] = {}
    for i, e in enumerate(encoded):
        by_prompt.setdefault(tuple(e.ids[: e.prompt_len]), []).append(i)
    groups: list[PrefixGroup] = []
    for members in by_prompt.values():
        rows = [encoded[i] for i in members]
        if position == "mean":
            limit = min(min(r.prompt_len, len(r.ids) - 1) for r in rows)
        else:
            limit = min(len(r.ids) for r in rows) - 1
        shared = min(common_prefix_length([r.ids for r in rows]), limit) if len(rows) > 1 else 0
        if shared < 1:
            groups.extend(PrefixGroup([i], 0) for i in members)
        else:
            groups.append(PrefixGroup(members, shared))
    return groups


def _pack(
    groups: list[PrefixGroup], encoded: Sequence[Encoded], batch_size: int
) -> list[list[PrefixGroup]]:
    """Shared groups, longest first, packed into batches of about ``batch_size`` texts."""
    groups = sorted(
        groups,
        key=lambda g: (-g.shared, -max(len(encoded[i].ids) for i in g.members)),
    )
    batches: list[list[PrefixGroup]] = []
    current: list[PrefixGroup] = []
    rows = 0
    for group in groups:
        if current and rows + len(group.members) > batch_size:
            batches.append(current)
            current, rows = [], 0
        current.append(group)
        rows += len(group.members)
    if current:
        batches.append(current)
    return batches


def iter_block_outputs(
    loaded: LoadedModel,
    encoded: Sequence[Encoded],
    layers: Sequence[int],
    *,
    position: str = "last",
    batch_size: int = 16,
    padding_side: str = "right",
    progress: ProgressCallback | None = None,
    share_prefix: bool | None = None,
) -> Iterator[tuple[list[int], dict[int, torch.Tensor]]]:
    """Yield ``(indices, {layer: float32 [batch, hidden]})`` batch by batch.

    ``indices`` say which input texts the rows are. Only one batch's readings exist at a time.
    ``share_prefix`` (default ``SHARE_PREFIX``) runs a prompt shared by several texts once.
    """
    if position not in POSITIONS:
        raise ValueError(f"position must be one of {POSITIONS}")
    model = loaded.model
    blocks = decoder_blocks(model)
    wanted = sorted(set(layers))
    last_needed = wanted[-1]
    pad_id = loaded.tokenizer.pad_token_id
    captured: dict[int, torch.Tensor] = {}
    current: dict[str, torch.Tensor | None] = {}

    def make_hook(index: int) -> Callable:
        def hook(_module: torch.nn.Module, _inputs: tuple, output: object) -> None:
            weights = current["weights"]
            if weights is not None:  # None: a shared prefix, read nothing
                hidden = output[0] if isinstance(output, tuple) else output
                assert isinstance(hidden, torch.Tensor)  # a decoder block's hidden states
                # [batch, seq] x [batch, seq, hidden] -> [batch, hidden]; float32 for exact sums.
                captured[index] = torch.einsum("bs,bsh->bh", weights, hidden.float())
            if index == last_needed:
                raise _StopForward

        return hook

    def run(
        batch_ids: torch.Tensor,
        mask: torch.Tensor,
        positions: torch.Tensor,
        weights: torch.Tensor | None,
        **extra: Any,
    ) -> None:
        current["weights"] = weights
        try:
            model.base_model(
                input_ids=batch_ids, attention_mask=mask, position_ids=positions, **extra
            )
        except _StopForward:
            pass

    if share_prefix is None:
        share_prefix = SHARE_PREFIX
    groups = prefix_groups(encoded, position) if share_prefix and can_share_prefix(model) else []
    shared = [g for g in groups if g.shared]
    single = [g.members[0] for g in groups if not g.shared] if groups else range(len(encoded))
    plain = [
        [single[k] for k in b]
        for b in length_sorted_batches([len(encoded[i].ids) for i in single], batch_size)
    ]
    work: list[tuple[str, list]] = [("shared", b) for b in _pack(shared, encoded, batch_size)]
    work += [("plain", b) for b in plain]
    # Longest first overall, so memory peaks early.
    work.sort(key=lambda w: -_width(w, encoded))

    handles = [blocks[i].register_forward_hook(make_hook(i)) for i in wanted]
    done = 0
    try:
        with torch.inference_mode():
            for kind, item in work:
                captured.clear()
                if kind == "plain":
                    order = item
                    batch = pad_batch(encoded, order, pad_id, position, padding_side, loaded.device)
                    run(
                        batch.input_ids,
                        batch.attention_mask,
                        batch.position_ids,
                        batch.weights,
                        use_cache=False,
                    )
                else:
                    order = _run_shared(loaded, encoded, item, position, padding_side, run)
                yield order, {i: captured[i] for i in wanted}
                done += len(order)
                if progress is not None:
                    progress(done, len(encoded))
    finally:
        for handle in handles:
            handle.remove()


def _width(work: tuple[str, list], encoded: Sequence[Encoded]) -> int:
    kind, item = work
    if kind == "plain":
        return max(len(encoded[i].ids) for i in item)
    return max(len(encoded[i].ids) for g in item for i in g.members)


def _run_shared(
    loaded: LoadedModel,
    encoded: Sequence[Encoded],
    groups: list[PrefixGroup],
    position: str,
    padding_side: str,
    run: Callable,
) -> list[int]:
    """Run each group's shared prefix once, then every member's remaining tokens on its cache.

    The groups of a batch usually start alike too (a chat template's system prompt): that start
    runs once for the whole batch before the groups' own prefixes.
    """
    from transformers import DynamicCache

    device = loaded.device
    pad_id = loaded.tokenizer.pad_token_id
    cache = DynamicCache()
    arg = cache_kwarg_name(loaded.model.base_model)

    def segment(rows: list[Encoded], past: torch.Tensor | None, read: bool) -> torch.Tensor:
        """Run ``rows`` after what the cache holds; return the attention mask of both."""
        batch = pad_batch(
            rows, list(range(len(rows))), pad_id, position if read else "last", padding_side, device
        )
        new = batch.attention_mask
        mask = new if past is None else torch.cat([past, new], dim=1)
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)[:, mask.shape[1] - new.shape[1] :]
        weights = batch.weights if read else None  # None: read nothing
        run(batch.input_ids, mask, positions, weights, use_cache=True, **{arg: cache})
        return mask

    def repeat(mask: torch.Tensor, rows: list[int]) -> torch.Tensor:
        index = cast(torch.LongTensor, torch.tensor(rows, device=device))
        cache.reorder_cache(index)  # one copy of the keys and values per new row
        return mask.index_select(0, index)

    prefixes = [encoded[g.members[0]].ids[: g.shared] for g in groups]
    # Every group keeps at least one token of its own prefix, so no row of a pass is empty.
    common = 0
    if len(groups) > 1:
        common = min(common_prefix_length(prefixes), min(len(p) for p in prefixes) - 1)
    past = None
    if common >= 1:
        past = segment([Encoded(prefixes[0][:common], common)], None, read=False)
        past = repeat(past, [0] * len(groups))
    past = segment([Encoded(p[common:], len(p) - common) for p in prefixes], past, read=False)

    order = [i for g in groups for i in g.members]
    past = repeat(past, [k for k, g in enumerate(groups) for _ in g.members])
    suffixes = [
        Encoded(encoded[i].ids[g.shared :], max(encoded[i].prompt_len - g.shared, 0))
        for g in groups
        for i in g.members
    ]
    segment(suffixes, past, read=True)
    return order
