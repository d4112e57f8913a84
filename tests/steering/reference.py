"""Straightforward, slow reference computations the engine's fast paths are checked against."""

from __future__ import annotations

import torch

from steering.engine.models import LoadedModel, decoder_blocks, has_chat_template
from steering.engine.text import format_text


def block_outputs_one_by_one(
    loaded: LoadedModel, prompt: str, completion: str
) -> list[torch.Tensor]:
    """Output of every decoder block at the last token, one unpadded text per forward pass.

    Uses ``output_hidden_states`` (entry i+1 is the output of block i) for every block but the
    last, whose entry is taken after the final norm; a hook reads the last block instead.
    """
    tok = loaded.tokenizer
    text = format_text(tok, prompt, completion)
    ids = tok(text, add_special_tokens=not has_chat_template(tok), return_tensors="pt")["input_ids"]
    blocks = decoder_blocks(loaded.model)
    seen = {}
    handle = blocks[-1].register_forward_hook(
        lambda _m, _i, out: seen.__setitem__("last", (out[0] if isinstance(out, tuple) else out))
    )
    try:
        with torch.no_grad():
            out = loaded.model(input_ids=ids, output_hidden_states=True)
    finally:
        handle.remove()
    states = [h[0, -1].float() for h in out.hidden_states[1:-1]]
    states.append(seen["last"][0, -1].float())
    return states


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.nn.functional.cosine_similarity(a.double(), b.double(), dim=0))
