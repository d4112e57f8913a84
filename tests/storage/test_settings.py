"""The store's settings: defaults, blank meaning unset, the password kept out of the repr, and
the accessor that follows the environment; the readers of each setting use it."""

from __future__ import annotations

from pathlib import Path

from storage import settings as module
from storage.checkpoints import checkpoint_path
from storage.settings import StorageSettings, from_env, settings
from storage.signing import key_paths


def test_defaults_and_blanks_are_unset():
    assert from_env({}) == StorageSettings()
    blank = {name: "  " for name in module.VARIABLES if name != module.PASSWORD}
    assert from_env(blank) == StorageSettings()


def test_each_variable_is_read():
    built = from_env(
        {
            "STEERING_DATA_DIR": " /srv/lab ",
            "DATABASE_URL": "postgresql://u@h/db",
            "STEERING_AUDIT_KEY_FILE": "/keys/audit.key",
            "STEERING_CHECKPOINT_FILE": "/logs/cp.jsonl",
            "STEERING_PASSWORD": " spaces count ",
        }
    )
    assert built == StorageSettings(
        data_dir="/srv/lab",
        database_url="postgresql://u@h/db",
        audit_key_file="/keys/audit.key",
        checkpoint_file="/logs/cp.jsonl",
        password=" spaces count ",
    )
    assert "spaces count" not in repr(built)


def test_the_accessor_follows_the_environment(monkeypatch, tmp_path):
    assert settings().checkpoint_file is None  # conftest clears the developer's variables
    assert settings() is settings()
    monkeypatch.setenv("STEERING_CHECKPOINT_FILE", str(tmp_path / "cp.jsonl"))
    monkeypatch.setenv("STEERING_AUDIT_KEY_FILE", str(tmp_path / "k" / "audit.key"))
    assert checkpoint_path(Path("/data")) == tmp_path / "cp.jsonl"
    assert key_paths(Path("/data")).keyring == tmp_path / "k" / "audit.pub"
    monkeypatch.delenv("STEERING_CHECKPOINT_FILE")
    assert checkpoint_path(Path("/data")) == Path("/data/checkpoints.jsonl")
    assert settings({"STEERING_DATA_DIR": "/x"}).data_dir == "/x"


def test_from_env_reads_only_the_listed_variables():
    seen: list[str] = []

    class Recording(dict):
        def get(self, name, default=None):
            seen.append(name)
            return super().get(name, default)

    module.from_env(Recording())
    assert set(seen) == set(module.VARIABLES)
