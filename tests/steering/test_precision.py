"""The number format per loaded model (issue 24): the per-machine choice with the CPU's flags
replaced by fakes, STEERING_DTYPE and --dtype, the cast at load with a float32 fingerprint, and
the numbers that stay float32 (readings, vectors, steering deltas, scoring logits)."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open

import steering.engine.activations as activations
from steering.build import build_vector
from steering.cli import main as cli_main
from steering.engine import precision
from steering.engine.activations import iter_block_outputs
from steering.engine.models import decoder_blocks, fingerprint, in_format, load_model
from steering.engine.steer import steer
from steering.engine.text import encode
from steering.errors import ModelLoadError, SteeringError
from steering.settings import SettingsError, from_env
from steering.vectors import ControlVector
from tests.steering.pairs import arithmetic_pairs
from tests.steering.reference import block_outputs_one_by_one

# /proc/cpuinfo as three kinds of x86 server report it (flags lines cut to the telling part).
AMD_ZEN4 = (
    "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9R14\n"
    "flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n\n"
    "processor\t: 1\nvendor_id\t: AuthenticAMD\n"
    "flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n"
)
INTEL_AMX = (
    "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel Xeon Platinum 8480+\n"
    "flags\t\t: fpu sse2 avx2 avx512f amx_bf16 amx_tile amx_int8\n"
)
AVX2_ONLY = (
    "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B12\n"
    "flags\t\t: fpu sse2 avx avx2 fma\n"
)
ARM = "processor\t: 0\nFeatures\t: fp asimd bf16\nCPU implementer\t: 0x41\n"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tiny_llama):
    folder = tmp_path_factory.mktemp("tiny-llama-formats")
    tiny_llama.model.save_pretrained(folder)
    tiny_llama.tokenizer.save_pretrained(folder)
    return folder


# ------------------------------------------------------------------ the choice


def test_flags_are_read_from_every_flags_line():
    assert {"avx512_bf16", "avx2", "avx512_vnni"} <= precision.parse_flags(AMD_ZEN4)
    assert "bf16" not in precision.parse_flags(ARM)  # an ARM "Features" line is not x86 flags
    assert precision.parse_flags("") == frozenset()


@pytest.mark.parametrize(
    ("cpuinfo", "dtype", "reason"),
    [
        (AMD_ZEN4, torch.bfloat16, "bfloat16: native on this CPU"),
        (INTEL_AMX, torch.bfloat16, "bfloat16: native on this CPU"),
        (AVX2_ONLY, torch.float32, "float32: this CPU has no native bfloat16"),
        (ARM, torch.float32, "float32: this CPU has no native bfloat16"),
        ("", torch.float32, "float32: this CPU has no native bfloat16"),
    ],
)
def test_auto_on_a_cpu_follows_its_bfloat16_flags(cpu, cpuinfo, dtype, reason):
    cpu(cpuinfo)
    chosen = precision.choose("auto", "cpu")
    assert (chosen.dtype, chosen.reason) == (dtype, reason)
    assert precision.choose("auto", "cpu") == chosen  # the same machine decides the same


@pytest.mark.parametrize("cpuinfo", [AVX2_ONLY, AMD_ZEN4])
def test_auto_on_cuda_is_bfloat16_whatever_the_cpu(cpu, cpuinfo):
    cpu(cpuinfo)
    assert precision.choose("auto", "cuda").lineage() == {
        "dtype": "bfloat16",
        "dtype_reason": "bfloat16: CUDA",
    }


@pytest.mark.parametrize("asked", ["float32", "bfloat16", " BFloat16 ", torch.bfloat16])
def test_an_asked_format_is_taken_whatever_the_hardware(cpu, asked):
    cpu(AMD_ZEN4)
    chosen = precision.choose(asked, "cpu")
    name = str(asked).removeprefix("torch.").strip().lower()
    assert chosen.name == name
    assert chosen.reason == f"{name}: asked for by STEERING_DTYPE/--dtype"


@pytest.mark.parametrize("asked", ["float16", "fp32", "", "half"])
def test_an_unknown_format_is_refused_naming_the_choices(asked):
    with pytest.raises(SteeringError, match="must be one of auto, float32, bfloat16"):
        precision.choose(asked, "cpu")


# ------------------------------------------------------------------ the variable and the flag


@pytest.mark.parametrize(
    ("raw", "read"), [("auto", "auto"), (" Float32 ", "float32"), ("", "auto")]
)
def test_steering_dtype_is_read(raw, read):
    assert from_env({"STEERING_DTYPE": raw}).dtype == read
    assert from_env({}).dtype == "auto"


@pytest.mark.parametrize("raw", ["float16", "bf16", "32"])
def test_a_bad_steering_dtype_is_named_with_the_choices(raw):
    with pytest.raises(SettingsError) as caught:
        from_env({"STEERING_DTYPE": raw})
    assert caught.value.problems == (
        f"STEERING_DTYPE must be one of auto, float32, bfloat16, got {raw!r}",
    )


def test_the_cli_refuses_a_bad_steering_dtype_before_any_work(monkeypatch, capsys, model_dir):
    monkeypatch.setenv("STEERING_DTYPE", "half")
    assert cli_main(["info", "--model", str(model_dir)]) == 2
    assert capsys.readouterr().err == (
        "error: STEERING_DTYPE must be one of auto, float32, bfloat16, got 'half'\n"
    )


def _info(capsys, *args: str) -> dict:
    assert cli_main(["info", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_info_prints_the_format_and_why_and_the_flag_beats_the_variable(
    monkeypatch, capsys, cpu, model_dir
):
    cpu(AMD_ZEN4)
    monkeypatch.setenv("STEERING_DTYPE", "auto")
    card = _info(capsys, "--model", str(model_dir))
    assert (card["dtype"], card["dtype_reason"]) == ("bfloat16", "bfloat16: native on this CPU")
    monkeypatch.setenv("STEERING_DTYPE", "bfloat16")
    flag = _info(capsys, "--model", str(model_dir), "--dtype", "float32")
    assert (flag["dtype"], flag["dtype_reason"]) == (
        "float32",
        "float32: asked for by STEERING_DTYPE/--dtype",
    )
    monkeypatch.setenv("STEERING_DTYPE", "float32")
    auto = _info(capsys, "--model", str(model_dir), "--dtype", "auto")
    assert auto["dtype"] == "bfloat16"  # --dtype auto wins over STEERING_DTYPE=float32 too
    cpu(AVX2_ONLY)
    slow = _info(capsys, "--model", str(model_dir), "--dtype", "auto")
    assert (slow["dtype"], slow["dtype_reason"]) == (
        "float32",
        "float32: this CPU has no native bfloat16",
    )
    # Whatever the format, the fingerprint is the float32 weights' one.
    assert card["fingerprint"] == flag["fingerprint"] == slow["fingerprint"]


@pytest.mark.parametrize("command", ["build", "generate", "evaluate", "import"])
def test_every_model_command_takes_dtype(command):
    from steering.cli import build_parser

    required = {
        "build": ["--pairs", "p.jsonl", "--out", "v.safetensors"],
        "generate": ["--vector", "v.safetensors", "--prompt", "hi"],
        "evaluate": ["--vector", "v.safetensors", "--data", "d.jsonl"],
        "import": ["--gguf", "v.gguf", "--out", "v.safetensors"],
    }[command]
    args = build_parser().parse_args([command, *required, "--dtype", "bfloat16"])
    assert args.dtype == "bfloat16"
    assert build_parser().parse_args([command, *required]).dtype is None  # the variable decides
    with pytest.raises(SystemExit):
        build_parser().parse_args([command, *required, "--dtype", "float16"])


# ------------------------------------------------------------------ the cast at load


def test_load_casts_a_float32_folder_and_keeps_the_float32_fingerprint(
    monkeypatch, cpu, model_dir, tiny_llama
):
    monkeypatch.delenv("STEERING_DTYPE", raising=False)
    cpu(AMD_ZEN4)
    fast = load_model(str(model_dir))
    assert fast.dtype == torch.bfloat16
    assert all(p.dtype == torch.bfloat16 for p in fast.model.parameters())
    # Computed buffers (rotary frequencies) stay float32, as transformers keeps them.
    assert {b.dtype for b in fast.model.buffers() if b.is_floating_point()} == {torch.float32}
    plain = load_model(str(model_dir), dtype="float32")
    assert plain.dtype == torch.float32
    assert fingerprint(fast) == fingerprint(plain) == fingerprint(tiny_llama)
    # A fingerprint of the cast weights themselves would differ: the stored one is not a constant.
    assert fingerprint(fast.model, fast.tokenizer) != fingerprint(plain)
    with safe_open(str(model_dir / "model.safetensors"), "pt") as handle:
        assert {handle.get_slice(k).get_dtype() for k in handle.keys()} == {"F32"}


def test_in_format_copies_a_float32_model_and_refuses_to_go_back(tiny_llama):
    fast = in_format(tiny_llama, "bfloat16")
    assert fast.dtype == torch.bfloat16 and tiny_llama.dtype == torch.float32
    assert fingerprint(fast) == fingerprint(tiny_llama)
    with pytest.raises(ModelLoadError, match="load it again"):
        in_format(fast, "float32")


# ------------------------------------------------------------------ numbers that stay float32


@pytest.fixture(scope="module")
def bf16_llama(tiny_llama):
    return in_format(tiny_llama, "bfloat16")


def test_scoring_logits_are_computed_in_float32(bf16_llama, tiny_llama):
    hidden = torch.randn(3, tiny_llama.hidden_size, generator=torch.Generator().manual_seed(0))
    weight = tiny_llama.model.get_output_embeddings().weight
    expected = hidden.bfloat16().float() @ weight.T  # the float32 weights, not rounded ones
    logits = bf16_llama.float32_logits(hidden.bfloat16())
    assert logits.dtype == torch.float32
    assert torch.equal(logits, expected)
    rounded = bf16_llama.model.get_output_embeddings()(hidden.bfloat16())
    assert not torch.equal(rounded.float(), expected)  # what a bfloat16 head would have given


def test_readings_are_float32_and_summed_in_float32(monkeypatch, bf16_llama):
    pairs = arithmetic_pairs(10)
    # One unpadded text per pass, so each reading equals the block output read one by one.
    monkeypatch.setattr(activations, "SHARE_PREFIX", False)
    texts = [encode(bf16_llama.tokenizer, p.prompt, p.positive) for p in pairs]
    for _, readings in iter_block_outputs(bf16_llama, texts[:1], [1, 3], batch_size=1):
        assert {r.dtype for r in readings.values()} == {torch.float32}
    vector = build_vector(bf16_llama, pairs, layers="all", batch_size=1).vector
    for i in vector.layers:
        reference = torch.zeros(bf16_llama.hidden_size, dtype=torch.float64)
        for p in pairs:
            plus = block_outputs_one_by_one(bf16_llama, p.prompt, p.positive)[i]
            minus = block_outputs_one_by_one(bf16_llama, p.prompt, p.negative or "")[i]
            reference += plus.double() - minus.double()
        assert vector.directions[i].dtype == torch.float32
        torch.testing.assert_close(
            vector.directions[i].double(), reference / len(pairs), rtol=1e-5, atol=1e-7
        )


def test_a_bfloat16_build_records_its_format_and_stores_float32(bf16_llama, tmp_path):
    vector = build_vector(bf16_llama, arithmetic_pairs(6), layers="1-2").vector
    assert vector.metadata["dtype"] == "bfloat16"
    assert vector.metadata["dtype_reason"] == "bfloat16: asked for by STEERING_DTYPE/--dtype"
    again = ControlVector.load(vector.save(tmp_path / "v.safetensors"))
    assert {t.dtype for t in again.directions.values()} == {torch.float32}
    assert again.metadata["dtype"] == "bfloat16"


def test_the_steering_delta_is_cast_to_the_model_format_once(bf16_llama):
    vector = ControlVector(
        {2: torch.randn(bf16_llama.hidden_size, generator=torch.Generator().manual_seed(3))}
    )
    block = decoder_blocks(bf16_llama.model)[2]
    seen: list[torch.Tensor] = []

    def read(_module, _inputs, output):
        seen.append((output[0] if isinstance(output, tuple) else output).clone())

    ids = torch.tensor([encode(bf16_llama.tokenizer, "What is 2 plus 3?").ids])
    plain_handle = block.register_forward_hook(read)
    try:
        with torch.inference_mode():
            bf16_llama.model(input_ids=ids)
    finally:
        plain_handle.remove()
    with steer(bf16_llama, vector, 1.5):
        handle = block.register_forward_hook(read)  # after the steering hook: sees its output
        try:
            with torch.inference_mode():
                bf16_llama.model(input_ids=ids)
        finally:
            handle.remove()
    plain, steered = seen
    assert steered.dtype == torch.bfloat16
    delta = (1.5 * vector.directions[2]).to(torch.bfloat16)
    assert torch.equal(steered, plain + delta)
