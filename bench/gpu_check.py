"""The same ratios on a lent GPU, with a randomly initialised ~1B-parameter Llama (bfloat16).

The lent machine has torch and transformers but no weights and no network, so the model is built
from a config (Llama-3.2-1B-like shape: hidden 2048, 16 layers, MLP 8192, GQA 32/8 heads) with the
byte-level tokenizer of the test suite (one token per byte, so texts are long). Timings of random
weights equal those of trained ones; the generated text is noise and is not looked at.

``python -m bench.gpu_check`` (via ``bench/gpu_check.sh``); ``--dry-run`` uses a tiny model on the
CPU with small counts, to check the script without a GPU. ``--dtype`` is the engine's option
(``steering.engine.precision``): ``auto`` by default, which is bfloat16 on CUDA; ``float32`` with
``--dry-run`` unless given, so the check stays seconds long on any CPU. The model is built in
float32 and cast the way ``load_model`` casts (``in_format``: float32 fingerprint and output
layer kept), and the JSON records the format and why (``dtype``, ``dtype_reason``).
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from transformers import AutoConfig, AutoModelForCausalLM

from bench import build, generation, sweep
from bench.common import ROOT, load_rows, machine, write_json
from steering.build import build_vector
from steering.engine.models import LoadedModel, in_format
from steering.engine.precision import choose
from steering.settings import DTYPES
from tests.tiny import byte_tokenizer

ONE_B = dict(
    hidden_size=2048,
    intermediate_size=8192,
    num_hidden_layers=16,
    num_attention_heads=32,
    num_key_value_heads=8,
    max_position_embeddings=4096,
)
TINY = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=4,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=4096,
)


def make_model(dry_run: bool, requested: str) -> LoadedModel:
    """The random Llama on its device, in the format ``requested`` chooses there."""
    device = torch.device("cpu" if dry_run else "cuda")
    chosen = choose(requested, device)
    tokenizer = byte_tokenizer(chat_template=True)
    config = AutoConfig.for_model(
        "llama",
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.eos_token_id,
        **(TINY if dry_run else ONE_B),
    )
    torch.manual_seed(0)
    started = time.perf_counter()
    with device:
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.eval()
    model.requires_grad_(False)
    built = LoadedModel(
        model, tokenizer, "random-llama", "random Llama", time.perf_counter() - started, "config"
    )
    if chosen.dtype == torch.float32:
        built.format_choice = chosen
        return built
    # Cast as load_model casts; the float32 copy is dropped so that only one stays in memory.
    cast_copy = in_format(built, requested)
    del built, model
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return cast_copy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dry-run", action="store_true", help="tiny model on the CPU")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--sweep-reps", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "gpu.json"))
    parser.add_argument(
        "--dtype",
        choices=DTYPES,
        default=None,
        help="number format: auto (bfloat16 on CUDA), float32 or bfloat16 (default: auto; "
        "float32 with --dry-run)",
    )
    args = parser.parse_args(argv)
    if not args.dry_run and not torch.cuda.is_available():
        raise SystemExit("No CUDA device: run with --dry-run to check the script on a CPU.")
    reps = 1 if args.dry_run else args.reps
    requested = args.dtype or ("float32" if args.dry_run else "auto")
    loaded = make_model(args.dry_run, requested)
    params = sum(p.numel() for p in loaded.model.parameters())
    print(
        f"model: {params / 1e9:.2f}B parameters, {loaded.precision.reason}, {loaded.device}",
        flush=True,
    )
    n_pairs = 10 if args.dry_run else 100
    pairs = load_rows("arithmetic", n_pairs)
    vector = build_vector(loaded, pairs[:16], layers="all").vector
    results: dict = {"parameters": params, **loaded.precision.lineage()}
    started = time.perf_counter()

    out = build.run(loaded, pairs, reps)
    print(f"build done {time.perf_counter() - started:.0f}s", flush=True)
    prompts = [e.prompt for e in load_rows("arithmetic", 8)]
    gen = generation.run(loaded, vector, prompts, reps, new_tokens=8 if args.dry_run else 64)
    print(f"generate done {time.perf_counter() - started:.0f}s", flush=True)
    rows = load_rows("arithmetic", 6 if args.dry_run else 100)
    layers = list(range(loaded.num_layers // 4, loaded.num_layers // 2 + 1))
    sw = sweep.run(loaded, rows, vector, 1 if args.dry_run else args.sweep_reps, layers)
    print(f"sweep done {time.perf_counter() - started:.0f}s", flush=True)
    for part in (out, gen, sw):
        results.update(part)
    results["extraction_pairs_per_s"] = out["_pairs_per_s"]
    results["tokens_per_s_unsteered"] = gen["_tokens_per_s"]["unsteered"]
    results["tokens_per_s_steered"] = gen["_tokens_per_s"]["steered"]
    results["machine"] = machine()
    results["machine"].update(reps=reps, dtype=loaded.precision.name, dtype_requested=requested)
    write_json(ROOT / args.out if not args.out.startswith("/") else args.out, results)
    print(json.dumps({k: v for k, v in results.items() if k != "machine"}, indent=1, default=str))
    print(json.dumps(results["machine"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
