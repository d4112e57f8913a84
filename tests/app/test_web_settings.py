"""The dashboard's settings (web and API): defaults, each rule, every problem reported at once,
the API's token limit taken from the engine's settings, and the accessors following the
environment."""

from __future__ import annotations

import pytest

from dashboard.api import settings as api_module
from dashboard.api.settings import ApiSettings
from dashboard.web import settings as web_module
from dashboard.web.errors import SettingsError, WebError
from dashboard.web.settings import WebSettings
from steering.settings import SteeringSettings


def test_web_defaults():
    assert web_module.from_env({}) == WebSettings(
        host="127.0.0.1",
        port=7860,
        model="default",
        session_idle_s=1800.0,
        login_base_delay_s=1.0,
        login_max_delay_s=900.0,
        trusted_proxies=frozenset(),
        max_upload_bytes=20 * 1024 * 1024,
        download_ttl_s=300.0,
    )


def test_each_web_variable_is_read():
    built = web_module.from_env(
        {
            "STEERING_HOST": "0.0.0.0",
            "STEERING_PORT": "9001",
            "STEERING_MODEL": "some/model",
            "STEERING_SESSION_IDLE_MIN": "0.5",
            "STEERING_LOGIN_BASE_DELAY_S": "0",
            "STEERING_TRUSTED_PROXIES": "127.0.0.1; 10.0.0.5,",
            "STEERING_MAX_UPLOAD_MB": "1.5",
            "STEERING_DOWNLOAD_TTL_S": "2",
        }
    )
    assert (built.host, built.port, built.model) == ("0.0.0.0", 9001, "some/model")
    assert (built.session_idle_s, built.login_base_delay_s, built.download_ttl_s) == (30.0, 0, 2)
    assert built.trusted_proxies == {"127.0.0.1", "10.0.0.5"}
    assert built.max_upload_bytes == int(1.5 * 1024 * 1024)


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        (
            "STEERING_PORT",
            "http",
            "STEERING_PORT must be a whole number from 1 to 65535, got 'http'",
        ),
        ("STEERING_PORT", "0", "STEERING_PORT must be a whole number from 1 to 65535, got '0'"),
        (
            "STEERING_SESSION_IDLE_MIN",
            "0",
            "STEERING_SESSION_IDLE_MIN must be a number of minutes, at least 0.001, got '0'",
        ),
        (
            "STEERING_LOGIN_BASE_DELAY_S",
            "-1",
            "STEERING_LOGIN_BASE_DELAY_S must be a number of seconds, at least 0, got '-1'",
        ),
        (
            "STEERING_MAX_UPLOAD_MB",
            "lots",
            "STEERING_MAX_UPLOAD_MB must be a number of megabytes, at least 0.001, got 'lots'",
        ),
        (
            "STEERING_DOWNLOAD_TTL_S",
            "inf",
            "STEERING_DOWNLOAD_TTL_S must be a number of seconds, at least 0.1, got 'inf'",
        ),
        (
            "STEERING_TRUSTED_PROXIES",
            "127.0.0.1,proxy",
            "STEERING_TRUSTED_PROXIES: 'proxy' is not an IP address; list the proxy addresses "
            "separated by commas, e.g. 127.0.0.1,10.0.0.5.",
        ),
    ],
)
def test_each_web_rule(name, value, problem):
    with pytest.raises(SettingsError) as caught:
        web_module.from_env({name: value})
    assert caught.value.problems == (problem,)


def test_every_bad_web_variable_is_reported_together():
    with pytest.raises(SettingsError) as caught:
        web_module.from_env({"STEERING_PORT": "x", "STEERING_MAX_UPLOAD_MB": "y"})
    assert [p.split()[0] for p in caught.value.problems] == [
        "STEERING_PORT",
        "STEERING_MAX_UPLOAD_MB",
    ]
    assert isinstance(caught.value, WebError)  # the dashboard shows it as a user error


def test_api_settings_take_the_token_limit_from_the_engine():
    engine = SteeringSettings(max_prompt_tokens=512)
    assert api_module.from_env({}, engine) == ApiSettings(rate_per_minute=60, max_prompt_tokens=512)
    assert api_module.from_env({"STEERING_API_RATE": "25"}, engine).rate_per_minute == 25
    # One parse of the token limit: the API's settings use the engine's rule and value.
    assert api_module.settings({"STEERING_MAX_PROMPT_TOKENS": "300"}).max_prompt_tokens == 300
    assert "STEERING_MAX_PROMPT_TOKENS" not in api_module.VARIABLES


@pytest.mark.parametrize("value", ["x", "0", "1.5", "-3"])
def test_the_api_rate_is_a_whole_number_of_at_least_one(value):
    with pytest.raises(SettingsError) as caught:
        api_module.from_env({"STEERING_API_RATE": value}, SteeringSettings())
    assert caught.value.problems == (
        f"STEERING_API_RATE must be a whole number of requests per minute, at least 1, "
        f"got {value!r}",
    )


def test_the_accessors_follow_the_environment(monkeypatch):
    monkeypatch.setenv("STEERING_PORT", "8123")
    monkeypatch.setenv("STEERING_API_RATE", "7")
    monkeypatch.setenv("STEERING_MAX_PROMPT_TOKENS", "99")
    assert web_module.settings().port == 8123
    assert web_module.settings() is web_module.settings()
    assert api_module.settings() == ApiSettings(rate_per_minute=7, max_prompt_tokens=99)
    monkeypatch.setenv("STEERING_API_RATE", "8")
    assert api_module.settings().rate_per_minute == 8
    monkeypatch.setenv("STEERING_PORT", "nine")
    with pytest.raises(SettingsError, match="got 'nine'"):
        web_module.settings()


@pytest.mark.parametrize("module", [web_module, api_module])
def test_from_env_reads_only_the_listed_variables(module):
    seen: list[str] = []

    class Recording(dict):
        def get(self, name, default=None):
            seen.append(name)
            return super().get(name, default)

    if module is api_module:
        module.from_env(Recording(), SteeringSettings())
    else:
        module.from_env(Recording())
    assert set(seen) == set(module.VARIABLES)
