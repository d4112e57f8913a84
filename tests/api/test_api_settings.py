"""The API's limits as settings: defaults, each rule, and every bad variable named at once."""

from __future__ import annotations

import pytest

from dashboard.api import settings as api_module
from dashboard.api.settings import ApiSettings
from dashboard.web.errors import SettingsError
from steering.settings import SteeringSettings


def test_the_limits_default_as_documented():
    built = api_module.from_env({}, SteeringSettings())
    assert (built.max_batch, built.max_tokens, built.timeout_s) == (16, 1024, 300.0)
    assert (built.key_concurrency, built.queue) == (8, 64)


def test_each_limit_is_read_from_its_variable():
    env = {
        "STEERING_API_MAX_BATCH": "4",
        "STEERING_API_MAX_TOKENS": "100",
        "STEERING_API_TIMEOUT_S": "2.5",
        "STEERING_API_KEY_CONCURRENCY": "3",
        "STEERING_API_QUEUE": "0",
    }
    built = api_module.from_env(env, SteeringSettings())
    assert built == ApiSettings(
        max_batch=4, max_tokens=100, timeout_s=2.5, key_concurrency=3, queue=0
    )


def test_every_bad_limit_is_named_with_what_to_write_instead():
    env = {
        "STEERING_API_MAX_BATCH": "0",
        "STEERING_API_MAX_TOKENS": "many",
        "STEERING_API_TIMEOUT_S": "0",
        "STEERING_API_KEY_CONCURRENCY": "-1",
        "STEERING_API_QUEUE": "1.5",
    }
    with pytest.raises(SettingsError) as caught:
        api_module.from_env(env, SteeringSettings())
    assert caught.value.problems == (
        "STEERING_API_MAX_BATCH must be a whole number of rows, at least 1, got '0'",
        "STEERING_API_MAX_TOKENS must be a whole number of tokens, at least 1, got 'many'",
        "STEERING_API_TIMEOUT_S must be a number of seconds, at least 0.1, got '0'",
        "STEERING_API_KEY_CONCURRENCY must be a whole number of requests, at least 1, got '-1'",
        "STEERING_API_QUEUE must be a whole number of requests, got '1.5'",
    )
