"""The managed server: attach, status, secrets, start failures, stop. Real vLLM processes."""

from __future__ import annotations

import json
import os
import socket
import stat
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from scriptorium.cli import app
from scriptorium.config import Settings
from scriptorium.errors import ServerStartError
from scriptorium.serving import ManagedServer, ServerState
from scriptorium.serving.server import is_healthy
from scriptorium.serving.shipped import prepare_shipped_model, shipped_provenance
from scriptorium.serving.state import read_state, state_path

from ..conftest import free_port

pytestmark = pytest.mark.server


def _group_alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_second_serve_attaches_instead_of_starting(
    managed_server: ServerState, server_settings: Settings
) -> None:
    state, started = ManagedServer(server_settings).ensure()
    assert started is False
    assert state.pid == managed_server.pid


def test_the_default_server_serves_the_shipped_paper_adapter_merged_under_its_name(
    managed_server: ServerState, server_settings: Settings
) -> None:
    assert managed_server.model == f"{server_settings.server.served_model_name}-{shipped_provenance().name}"
    assert Path(managed_server.model_path) == prepare_shipped_model(server_settings.cache_dir)
    reply = httpx.post(
        f"{managed_server.base_url}/chat/completions",
        headers={"Authorization": f"Bearer {managed_server.api_key.get_secret_value()}"},
        json={
            "model": managed_server.model,
            "messages": [{"role": "user", "content": "Sentence: The river floods the town every spring.\n"}],
            "max_tokens": 40,
        },
        timeout=120,
    )
    assert reply.status_code == 200 and reply.json()["model"] == managed_server.model
    assert reply.json()["choices"][0]["message"]["content"].strip()


def test_cli_serve_detach_attaches_and_status_hides_the_key(
    managed_server: ServerState, session_env: Settings
) -> None:
    runner = CliRunner()
    attached = runner.invoke(app, ["serve", "--detach"])
    assert attached.exit_code == 0, attached.output
    assert "already serving" in attached.output and str(managed_server.pid) in attached.output
    status = runner.invoke(app, ["serve", "--status"])
    assert status.exit_code == 0, status.output
    assert managed_server.base_url in status.output
    assert managed_server.api_key.get_secret_value() not in status.output


def test_api_key_stays_out_of_logs_and_state_is_private(
    managed_server: ServerState, server_settings: Settings
) -> None:
    key = managed_server.api_key.get_secret_value()
    assert key not in Path(managed_server.log_path).read_text(errors="replace")
    path = state_path(server_settings.state_dir)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["api_key"] == key
    assert stat.S_IMODE((server_settings.config_dir / "api_key").stat().st_mode) == 0o600


def test_taken_port_is_a_clear_error_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        settings = Settings(
            state_dir=tmp_path / "state", config_dir=tmp_path / "config", server={"port": port}
        )
        with pytest.raises(ServerStartError) as caught:
            ManagedServer(settings).start()
    assert f"port {port}" in str(caught.value)
    assert "--port" in str(caught.value)
    assert read_state(settings.state_dir) is None


def test_bad_model_folder_fails_with_the_log_tail_and_leaves_no_process(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus-model"
    bogus.mkdir()
    (bogus / "config.json").write_text('{"model_type": "no-such-architecture"}')
    settings = Settings(
        state_dir=tmp_path / "state",
        config_dir=tmp_path / "config",
        server={"port": free_port(), "model_path": bogus, "startup_timeout": 300},
    )
    server = ManagedServer(settings)
    with pytest.raises(ServerStartError) as caught:
        server.start()
    message = str(caught.value)
    assert "exited with code" in message
    assert "last lines of the server log" in message and caught.value.log_tail
    assert read_state(settings.state_dir) is None
    assert server._process is not None
    assert not _group_alive(server._process.pid)


def test_missing_serving_venv_says_how_to_create_it(tmp_path: Path) -> None:
    settings = Settings(
        state_dir=tmp_path / "s", config_dir=tmp_path / "c", server={"python": tmp_path / "nope"}
    )
    with pytest.raises(ServerStartError, match=r"scripts/setup\.sh"):
        ManagedServer(settings).start()


@pytest.mark.stops_server
def test_stop_removes_the_state_and_the_processes(managed_server: ServerState, session_env: Settings) -> None:
    runner = CliRunner()
    stopped = runner.invoke(app, ["serve", "--stop"])
    assert stopped.exit_code == 0, stopped.output
    assert f"pid {managed_server.pid}" in stopped.output
    assert not state_path(session_env.state_dir).exists()
    assert not _group_alive(managed_server.pid)
    assert not is_healthy(managed_server.base_url, managed_server.api_key)
    status = runner.invoke(app, ["serve", "--status"])
    assert status.exit_code == 3  # the model server is not there
    again = runner.invoke(app, ["serve", "--stop"])
    assert again.exit_code == 3 and "no managed server" in again.output
