import pytest
import torch
from transformers import AutoConfig

from steering.engine.models import decoder_blocks, describe, fingerprint
from steering.errors import UnsupportedArchitectureError
from tests.tiny import TINY_CONFIGS, make_tiny


@pytest.mark.parametrize("arch", sorted(TINY_CONFIGS))
def test_decoder_blocks_found_for_each_architecture(arch):
    loaded = make_tiny(arch)
    blocks = decoder_blocks(loaded.model)
    expected = TINY_CONFIGS[arch].get("num_hidden_layers", TINY_CONFIGS[arch].get("n_layer"))
    assert len(blocks) == expected
    # The blocks are the ones whose outputs feed the next block: hooking them sees [batch, seq, hidden].
    seen = []
    handle = blocks[0].register_forward_hook(
        lambda _m, _i, out: seen.append((out[0] if isinstance(out, tuple) else out).shape)
    )
    with torch.no_grad():
        loaded.model(input_ids=torch.tensor([[5, 6, 7]]))
    handle.remove()
    assert seen == [torch.Size([1, 3, loaded.hidden_size])]


def test_unsupported_architecture_names_it():
    config = AutoConfig.for_model(
        "bert",
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        vocab_size=50,
    )
    from transformers import AutoModel

    model = AutoModel.from_config(config)
    with pytest.raises(UnsupportedArchitectureError, match="bert"):
        decoder_blocks(model)


def test_describe_reports_the_model_card(tiny_llama):
    card = describe(tiny_llama)
    assert card["layers"] == 4
    assert card["hidden_size"] == 32
    assert card["parameters"] == sum(p.numel() for p in tiny_llama.model.parameters())
    assert card["dtype"] == "float32"
    assert card["device"] == "cpu"
    assert card["chat_template"] is True


def test_fingerprint_is_stable_and_sensitive():
    a, b = make_tiny("llama", seed=1), make_tiny("llama", seed=1)
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(make_tiny("llama", seed=2)) != fingerprint(a)
    with torch.no_grad():
        weight = b.model.model.layers[0].mlp.down_proj.weight
        weight.view(-1)[0] += 1.0  # the first element is always among the sampled ones
    assert fingerprint(a) != fingerprint(b)


def test_fingerprint_survives_a_save_and_reload(tmp_path, tiny_gpt2):
    tiny_gpt2.model.save_pretrained(tmp_path)
    tiny_gpt2.tokenizer.save_pretrained(tmp_path)
    from steering.engine.models import load_model

    reloaded = load_model(str(tmp_path))
    assert reloaded.source == "folder"
    assert fingerprint(reloaded) == fingerprint(tiny_gpt2)


def test_missing_model_gives_a_clear_message(monkeypatch):
    from steering.engine.models import load_model
    from steering.errors import ModelLoadError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="Could not load model 'no-such-org/no-such-model'"):
        load_model("no-such-org/no-such-model")
    with pytest.raises(ModelLoadError, match="No GGUF file"):
        load_model("/nonexistent/model.gguf")


def test_converted_cache_of_a_tied_model_loads_every_weight(tmp_path):
    """The GGUF cache writes each tied weight once, under the name transformers loads it by, so a
    reload finds no "missing" weight to initialise and ties the head to the loaded embedding."""
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM

    from steering.engine.models import untied_state_dict

    config = AutoConfig.for_model(
        "llama",
        vocab_size=64,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        tie_word_embeddings=True,
    )
    torch.manual_seed(3)
    model = AutoModelForCausalLM.from_config(config)
    state = untied_state_dict(model)
    assert "lm_head.weight" not in state and "model.embed_tokens.weight" in state
    config.save_pretrained(tmp_path)
    save_file(state, str(tmp_path / "model.safetensors"))
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    for name, tensor in model.state_dict().items():
        assert torch.equal(reloaded.state_dict()[name], tensor), name
    assert reloaded.lm_head.weight.data_ptr() == reloaded.model.embed_tokens.weight.data_ptr()
