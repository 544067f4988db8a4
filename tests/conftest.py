"""Suite-wide fixtures: hermetic settings, and one real vLLM server for the whole test session."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from scriptorium.config import Settings, load_settings
from scriptorium.serving import Endpoint, ManagedServer, ModelClient, ServerState
from scriptorium.serving.state import read_state

# Tests are hermetic: nothing from the developer's shell may point them at another server or folder.
for _name in [name for name in os.environ if name.startswith("SCRIPTORIUM_")]:
    del os.environ[_name]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Tests that stop the shared server run after everything that needs it.
    items.sort(key=lambda item: item.get_closest_marker("stops_server") is not None)


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Per-test config and state dirs; the model cache stays shared so the model converts once."""
    monkeypatch.setenv("SCRIPTORIUM_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("SCRIPTORIUM_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def server_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings of the session's managed server: its own port, state and config dirs."""
    root = tmp_path_factory.mktemp("server")
    return load_settings(
        None,
        config_dir=root / "config",
        state_dir=root / "state",
        server={"port": free_port(), "max_model_len": 4096},
    )


@pytest.fixture(scope="session")
def managed_server(server_settings: Settings) -> Iterator[ServerState]:
    """One real vLLM server with the bundled model, started once per test session."""
    server = ManagedServer(server_settings)
    state = server.start()
    yield state
    if read_state(server_settings.state_dir) is not None:
        server.stop()


@pytest.fixture
def endpoint(managed_server: ServerState) -> Endpoint:
    return Endpoint(
        base_url=managed_server.base_url, api_key=managed_server.api_key, model=managed_server.model
    )


@pytest.fixture
async def client(endpoint: Endpoint) -> AsyncIterator[ModelClient]:
    async with ModelClient(endpoint) as model_client:
        yield model_client
