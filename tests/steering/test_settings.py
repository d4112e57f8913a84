"""The engine's settings: defaults, each variable's rule, every problem reported at once, and the
cached accessor that follows the environment (tests change it with monkeypatch)."""

from __future__ import annotations

from pathlib import Path

import pytest

from steering.errors import SteeringError
from steering.settings import (
    EnvReader,
    SettingsError,
    SteeringSettings,
    from_env,
    settings,
)


def test_defaults(monkeypatch):
    monkeypatch.setenv("HOME", "/home/someone")
    built = from_env({})
    assert built == SteeringSettings(
        threads=0,
        max_prompt_tokens=2048,
        cache_dir=Path("/home/someone/.cache/control-vector-lab"),
        hub_offline=False,
    )
    assert from_env({"STEERING_THREADS": " ", "STEERING_MAX_PROMPT_TOKENS": ""}) == built


def test_each_variable_is_read():
    built = from_env(
        {
            "STEERING_THREADS": " 3 ",
            "STEERING_MAX_PROMPT_TOKENS": "512",
            "STEERING_CACHE_DIR": "/srv/models",
            "HF_HUB_OFFLINE": "TRUE",
        }
    )
    assert built == SteeringSettings(
        threads=3, max_prompt_tokens=512, cache_dir=Path("/srv/models"), hub_offline=True
    )


def test_the_cache_folder_follows_xdg_unless_named():
    assert from_env({"XDG_CACHE_HOME": "/xdg"}).cache_dir == Path("/xdg/control-vector-lab")
    named = {"XDG_CACHE_HOME": "/xdg", "STEERING_CACHE_DIR": "/named"}
    assert from_env(named).cache_dir == Path("/named")


@pytest.mark.parametrize(
    ("value", "offline"), [("1", True), ("yes", True), ("True", True), ("0", False), ("no", False)]
)
def test_hub_offline_flag(value, offline):
    assert from_env({"HF_HUB_OFFLINE": value}).hub_offline is offline


@pytest.mark.parametrize("value", ["four", "-1", "2.5", "1e3", "²", "+4"])
def test_threads_must_be_a_whole_number(value):
    with pytest.raises(SettingsError) as caught:
        from_env({"STEERING_THREADS": value})
    assert caught.value.problems == (
        f"STEERING_THREADS must be a whole number of threads, got {value!r}",
    )


def test_zero_threads_means_every_core():
    assert from_env({"STEERING_THREADS": "0"}).threads == 0


@pytest.mark.parametrize("value", ["0", "many", "-5", "12.0"])
def test_the_token_limit_is_a_whole_number_of_at_least_one(value):
    with pytest.raises(SettingsError) as caught:
        from_env({"STEERING_MAX_PROMPT_TOKENS": value})
    assert caught.value.problems == (
        f"STEERING_MAX_PROMPT_TOKENS must be a whole number of tokens, at least 1, got {value!r}",
    )


def test_every_bad_variable_is_reported_together():
    with pytest.raises(SettingsError) as caught:
        from_env({"STEERING_THREADS": "four", "STEERING_MAX_PROMPT_TOKENS": "0"})
    assert caught.value.problems == (
        "STEERING_THREADS must be a whole number of threads, got 'four'",
        "STEERING_MAX_PROMPT_TOKENS must be a whole number of tokens, at least 1, got '0'",
    )
    assert str(caught.value) == "\n".join(caught.value.problems)
    assert isinstance(caught.value, SteeringError)  # the CLI and the UI show it as a user error


def test_the_reader_rules():
    read = EnvReader(
        {"W": "7", "BIG": "70000", "N": "0.5", "INF": "inf", "NAN": "nan", "LOW": "-1", "T": " x "}
    )
    assert read.whole("W", 1, minimum=1, maximum=10) == 7
    assert read.whole("BIG", 5, minimum=1, maximum=65535) == 5
    assert read.number("N", 1.0, minimum=0.1) == 0.5
    assert read.number("INF", 1.0, unit="seconds", minimum=0.0) == 1.0
    assert read.number("NAN", 1.0, minimum=0.0) == 1.0
    assert read.number("LOW", 2.0, minimum=0.0) == 2.0
    assert read.text("T") == "x" and read.text("MISSING") is None
    assert read.problems == [
        "BIG must be a whole number from 1 to 65535, got '70000'",
        "INF must be a number of seconds, at least 0, got 'inf'",
        "NAN must be a number, at least 0, got 'nan'",
        "LOW must be a number, at least 0, got '-1'",
    ]


def test_the_accessor_follows_the_environment(monkeypatch):
    monkeypatch.delenv("STEERING_MAX_PROMPT_TOKENS", raising=False)
    assert settings().max_prompt_tokens == 2048
    assert settings() is settings()  # parsed once while nothing changes
    monkeypatch.setenv("STEERING_MAX_PROMPT_TOKENS", "64")
    assert settings().max_prompt_tokens == 64
    monkeypatch.setenv("STEERING_MAX_PROMPT_TOKENS", "lots")
    with pytest.raises(SettingsError, match="got 'lots'"):
        settings()
    assert settings({"STEERING_MAX_PROMPT_TOKENS": "9"}).max_prompt_tokens == 9


def test_from_env_reads_only_the_listed_variables():
    from steering import settings as module

    seen: list[str] = []

    class Recording(dict):
        def get(self, name, default=None):
            seen.append(name)
            return super().get(name, default)

    module.from_env(Recording())
    assert set(seen) == set(module.VARIABLES)
