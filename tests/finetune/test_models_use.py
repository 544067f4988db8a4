"""`scriptorium models use NAME`: measured beside the current model, then made the project's default."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scriptorium.cli import app
from scriptorium.config import Settings
from scriptorium.finetune.registry import ModelRecord, ModelRegistry
from scriptorium.serving import ServerState
from scriptorium.serving.state import read_state


def _clean(output: str) -> None:
    assert "Traceback" not in output


def test_an_unknown_model_is_refused_before_anything_is_served_or_written(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["models", "use", "nope"])
    assert result.exit_code != 0
    assert "no fine-tune named 'nope'" in result.output and "scriptorium models list" in result.output
    _clean(result.output)
    assert not (tmp_path / "scriptorium.toml").exists()


def test_a_trained_topic_a_model_folder_or_a_server_it_does_not_manage_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trained = CliRunner().invoke(app, ["models", "use", "base", "--topics", "black-death"])
    assert trained.exit_code != 0 and "not a held-out topic: black-death" in trained.output
    monkeypatch.setenv("SCRIPTORIUM_SERVER__MODEL_PATH", str(tmp_path))
    folder = CliRunner().invoke(app, ["models", "use", "base"])
    assert folder.exit_code != 0 and "server.model_path is set" in folder.output
    monkeypatch.setenv("SCRIPTORIUM_BASE_URL", "http://127.0.0.1:9/v1")
    remote = CliRunner().invoke(app, ["models", "use", "base"])
    assert remote.exit_code != 0 and "http://127.0.0.1:9/v1" in remote.output
    assert "managed server" in remote.output
    _clean(trained.output + folder.output + remote.output)
    assert not (tmp_path / "scriptorium.toml").exists()


@pytest.mark.server
def test_models_use_measures_both_prints_them_and_writes_the_projects_setting(
    managed_server: ServerState, session_env: Settings, tmp_path: Path
) -> None:
    """The candidate is a fine-tune whose merged folder is the one the session serves, so no
    server is restarted (bench/quality.py switches servers for real)."""
    (tmp_path / "scriptorium.toml").write_text("# mine\n[memory]\nchunk_size = 1000\n")
    registry = ModelRegistry(tmp_path / "models")
    registry.put(
        ModelRecord(
            name="paper-copy",
            base="bundled",
            base_path=managed_server.model_path,
            roles=["writer"],
            data_hash="0" * 64,
            examples=1,
            recipe={},
            adapter_path=str(tmp_path / "adapter"),
            merged_path=managed_server.model_path,
            lora_rank=16,
        )
    )
    result = CliRunner().invoke(app, ["models", "use", "paper-copy", "--topics", "kyoto"])
    assert result.exit_code == 0, result.output
    assert "restater on held-out topics (kyoto)" in result.output
    assert "items restated" in result.output
    assert f"is now the served model (server.model in {tmp_path / 'scriptorium.toml'})" in " ".join(
        result.output.split()
    )
    written = (tmp_path / "scriptorium.toml").read_text()
    assert written.startswith("# mine\n") and tomllib.loads(written)["server"] == {"model": "paper-copy"}
    measured = registry.get("paper-copy").metrics["eval_restater"]
    assert measured["topics"] == ["kyoto"] and measured["items"] > 0
    assert read_state(session_env.state_dir) is not None  # same folder: the session's server kept
