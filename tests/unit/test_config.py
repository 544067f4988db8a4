"""Settings precedence and the errors bad settings produce."""

from __future__ import annotations

from pathlib import Path

import pytest

from scriptorium.config import load_settings
from scriptorium.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_defaults_are_loopback_and_matched_concurrency(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.server.host == "127.0.0.1"
    assert settings.base_url is None


def test_server_batch_follows_the_client_cap_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCRIPTORIUM_CLIENT__MAX_CONCURRENCY", "12")
    assert load_settings().max_num_seqs == 12
    assert load_settings(server={"max_num_seqs": 4}).max_num_seqs == 4


def test_precedence_flag_over_env_over_toml_over_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(
        tmp_path / "scriptorium.toml", "[server]\nport = 9001\nmax_num_seqs = 8\n[client]\nmax_retries = 7\n"
    )
    settings = load_settings()
    assert (settings.server.port, settings.server.max_num_seqs, settings.client.max_retries) == (9001, 8, 7)
    monkeypatch.setenv("SCRIPTORIUM_SERVER__PORT", "9002")
    assert load_settings().server.port == 9002
    assert load_settings(server={"port": 9003, "model_path": None}).server.port == 9003
    assert load_settings().server.max_num_seqs == 8  # untouched by the env
    assert load_settings().server.dtype == "bfloat16"  # untouched by anything


def test_toml_is_found_in_a_parent_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "scriptorium.toml", 'model = "writer"\n')
    (tmp_path / "deep" / "er").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "deep" / "er")
    assert load_settings().model == "writer"


def test_unknown_toml_field_names_the_file_and_suggests(tmp_path: Path) -> None:
    path = write(tmp_path / "scriptorium.toml", "[server]\nprot = 9000\n")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    text = str(caught.value)
    assert str(path) in text
    assert "server.prot" in text
    assert "did you mean 'port'?" in text


def test_bad_env_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCRIPTORIUM_CLIENT__MAX_CONCURRENCY", "many")
    with pytest.raises(ConfigError, match="SCRIPTORIUM_CLIENT__MAX_CONCURRENCY"):
        load_settings()


def test_broken_toml_is_a_config_error(tmp_path: Path) -> None:
    write(tmp_path / "scriptorium.toml", "[server\n")
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings()


def test_base_url_loses_its_trailing_slash_and_key_is_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCRIPTORIUM_BASE_URL", "http://gpu-box:8000/v1/")
    monkeypatch.setenv("SCRIPTORIUM_API_KEY", "sk-very-secret")
    settings = load_settings()
    assert settings.base_url == "http://gpu-box:8000/v1"
    assert "sk-very-secret" not in repr(settings)
