"""``GET /tokenizer_info`` (lm-evaluation-harness' remote tokenizer asks it first) answers the real
app's clean 404 in OpenAI's error shape, with or without a key, never the sign-in gate's 401."""

from __future__ import annotations

import httpx
import pytest


@pytest.mark.parametrize("with_key", [False, True], ids=["no-key", "key"])
def test_tokenizer_info_is_a_plain_404_in_openais_shape(api_lab, with_key):
    headers = {}
    if with_key:
        headers["authorization"] = "Bearer " + api_lab.new_key(f"tokenizer-info-{with_key}")
    answer = httpx.get(api_lab.server.url + "/tokenizer_info", headers=headers, timeout=30)
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert error["type"] == "not_found_error"
    assert error["code"] == "unknown_url"
    assert "text" in error["message"]
    # Any other path outside /v1 still meets the sign-in gate.
    assert httpx.get(api_lab.server.url + "/tokenizer", timeout=30).status_code in (
        302,
        303,
        307,
        401,
    )
