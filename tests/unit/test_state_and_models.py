"""State file, API key file and the bundled model's preparation."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from scriptorium.config import load_settings
from scriptorium.errors import ModelPreparationError
from scriptorium.serving.keys import load_or_create_api_key
from scriptorium.serving.models import bundled_model, find_bundled_gguf, prepare_model, resolve_model_path
from scriptorium.serving.server import ServedModel, server_command, server_env
from scriptorium.serving.state import ServerState, read_state, state_path, write_state


def test_state_round_trips_with_the_key_and_private_mode(tmp_path: Path) -> None:
    state = ServerState(
        pid=123,
        host="127.0.0.1",
        port=8765,
        api_key=SecretStr("sk-x"),
        model="m",
        model_path="/m",
        log_path="/l",
        started_at=datetime.now(UTC),
    )
    write_state(tmp_path, state)
    assert stat.S_IMODE(state_path(tmp_path).stat().st_mode) == 0o600
    again = read_state(tmp_path)
    assert again is not None and again.api_key.get_secret_value() == "sk-x"
    assert again.base_url == "http://127.0.0.1:8765/v1"


def test_corrupt_state_reads_as_no_server(tmp_path: Path) -> None:
    state_path(tmp_path).write_text("{not json")
    assert read_state(tmp_path) is None


def test_api_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = load_or_create_api_key(tmp_path)
    assert first.get_secret_value().startswith("sk-scriptorium-")
    assert load_or_create_api_key(tmp_path).get_secret_value() == first.get_secret_value()
    assert stat.S_IMODE((tmp_path / "api_key").stat().st_mode) == 0o600


def test_key_travels_in_the_environment_not_the_command_line(tmp_path: Path) -> None:
    settings = load_settings(server={"max_num_seqs": 12})
    command = server_command(settings, ServedModel(tmp_path, "m"))
    env = server_env(settings, SecretStr("sk-hidden"))
    assert "sk-hidden" not in " ".join(command)
    assert env["VLLM_API_KEY"] == "sk-hidden"
    assert command[command.index("--max-num-seqs") + 1] == "12"
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert env["VLLM_NO_USAGE_STATS"] == "1" and env["HF_HUB_OFFLINE"] == "1"
    assert "--enable-lora" not in command  # it slows base requests: only with adapters


def test_adapters_are_served_by_name_with_a_rank_that_fits(tmp_path: Path) -> None:
    served = ServedModel(
        tmp_path, "base", (("writer-ft", tmp_path / "w"), ("planner-ft", tmp_path / "p")), 12
    )
    command = server_command(load_settings(), served)
    assert command[command.index("--max-lora-rank") + 1] == "16"
    assert command[command.index("--max-loras") + 1] == "2"
    at = command.index("--lora-modules")
    assert command[at + 1 : at + 3] == [f"writer-ft={tmp_path / 'w'}", f"planner-ft={tmp_path / 'p'}"]


def test_bundled_model_converts_once_into_a_servable_folder() -> None:
    settings = load_settings()
    model = bundled_model()
    assert model.gguf == find_bundled_gguf() and model.gguf.suffix == ".gguf"
    folder = prepare_model(model, settings.cache_dir)
    assert (folder / "config.json").is_file()
    assert (folder / "model.safetensors").is_file()
    assert (folder / "tokenizer.json").is_file()
    assert model.sha256[:16] in folder.name
    stamp = (folder / "config.json").stat().st_mtime_ns
    assert prepare_model(model, settings.cache_dir) == folder
    assert (folder / "config.json").stat().st_mtime_ns == stamp  # cached, not converted again


def test_a_configured_folder_must_be_a_model(tmp_path: Path) -> None:
    with pytest.raises(ModelPreparationError, match=r"no config\.json"):
        resolve_model_path(tmp_path, tmp_path / "cache")
    (tmp_path / "config.json").write_text("{}")
    assert resolve_model_path(tmp_path, tmp_path / "cache") == tmp_path
