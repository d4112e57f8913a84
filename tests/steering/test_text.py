from steering.engine.text import encode, format_text, prompt_text


def test_chat_template_rule(tiny_llama):
    tok = tiny_llama.tokenizer
    assert format_text(tok, "2+2?", "4") == "<|user|>2+2?<|end|><|assistant|>4"
    enc = encode(tok, "2+2?", "four")
    assert (
        list(enc.ids)
        == tok("<|user|>2+2?<|end|><|assistant|>four", add_special_tokens=False)["input_ids"]
    )
    assert tok.decode(enc.ids[enc.prompt_len :]) == "four"
    assert enc.completion_len == 4


def test_plain_rule_adds_one_space_unless_the_prompt_ends_in_whitespace(tiny_gpt2):
    tok = tiny_gpt2.tokenizer
    assert format_text(tok, "Q: 2+2?", "4") == "Q: 2+2? 4"
    assert format_text(tok, "Q: 2+2?\n", "4") == "Q: 2+2?\n4"
    assert prompt_text(tok, "Q") == "Q"
    enc = encode(tok, "Q: 2+2?", "4")
    assert tok.decode(enc.ids[enc.prompt_len :]) == " 4"


def test_prompt_only_encoding_has_no_completion(tiny_llama):
    enc = encode(tiny_llama.tokenizer, "hello")
    assert enc.completion_len == 0
    assert tiny_llama.tokenizer.decode(enc.ids).endswith("<|assistant|>")
