"""Tiny randomly initialised causal LMs of each supported architecture, for fast tests."""

from __future__ import annotations

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedTokenizerFast

from steering.engine.models import LoadedModel

CHAT_TEMPLATE = (
    "{% for m in messages %}<|user|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
SPECIALS = ["<pad>", "<eos>", "<|user|>", "<|end|>", "<|assistant|>"]

# Small configs per architecture; every other field keeps the library default.
TINY_CONFIGS: dict[str, dict] = {
    "llama": dict(num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2),
    "mistral": dict(num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2),
    "qwen2": dict(num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2),
    "qwen3": dict(num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=8),
    "gemma": dict(num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=1, head_dim=8),
    "gemma2": dict(num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=8),
    "gemma3_text": dict(
        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=8
    ),
    "phi3": dict(num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4),
    "gpt2": dict(n_layer=3, n_head=4, n_embd=32, n_positions=256),
    "gpt_neox": dict(num_hidden_layers=2, num_attention_heads=4),
}


def byte_tokenizer(chat_template: bool) -> PreTrainedTokenizerFast:
    """A byte-level tokenizer (one token per byte) with pad/eos and optional chat template."""
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {tok: i for i, tok in enumerate(SPECIALS + sorted(alphabet))}
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token="<pad>",
        eos_token="<eos>",
        additional_special_tokens=SPECIALS[2:],
    )
    if chat_template:
        tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def make_tiny(arch: str, chat_template: bool = True, seed: int = 0, **overrides) -> LoadedModel:
    """A randomly initialised model of ``arch``; ``overrides`` change its config (e.g. a window)."""
    tokenizer = byte_tokenizer(chat_template)
    extra = dict(TINY_CONFIGS[arch]) | overrides
    if arch not in ("gpt2",):
        extra.setdefault("hidden_size", 32)
        extra.setdefault("intermediate_size", 64)
        extra.setdefault("max_position_embeddings", 256)
    config = AutoConfig.for_model(
        arch,
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
        **extra,
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.eval()
    model.requires_grad_(False)
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        spec=f"tiny-{arch}",
        name=f"tiny-{arch}",
        load_seconds=0.0,
        source="test",
    )
