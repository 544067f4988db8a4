"""Suite-wide fixtures: hermetic settings, and one real vLLM server for the whole test session."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from scriptorium.config import Settings, load_settings
from scriptorium.memory import LocalEmbedder
from scriptorium.serving import Endpoint, ManagedServer, ModelClient, ServerState
from scriptorium.serving.state import read_state

# Tests are hermetic: nothing from the developer's shell may point them at another server or folder.
for _name in [name for name in os.environ if name.startswith("SCRIPTORIUM_")]:
    del os.environ[_name]


# Nothing phones home: every connection this process tries to open beyond loopback is refused and
# recorded, and any test during which one was tried fails (telemetry threads included).
_outbound: list[str] = []
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_loopback(address: Any) -> bool:
    if not isinstance(address, tuple):
        return True  # AF_UNIX paths stay on this machine
    host = str(address[0])
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _guarded_connect(self: socket.socket, address: Any) -> None:
    if not _is_loopback(address):
        _outbound.append(repr(address))
        raise OSError(101, f"test guard: no connections beyond loopback ({address!r})")
    _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    if not _is_loopback(address):
        _outbound.append(repr(address))
        return 101
    return _real_connect_ex(self, address)


_real_getaddrinfo = socket.getaddrinfo


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    # A name lookup already leaves the machine (DNS), before any connect.
    if host is not None and not _is_loopback((host if isinstance(host, str) else host.decode(), 0)):
        _outbound.append(f"lookup {host!r}")
        raise socket.gaierror(socket.EAI_NONAME, f"test guard: no lookups beyond loopback ({host!r})")
    return _real_getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _guarded_getaddrinfo
socket.socket.connect = _guarded_connect  # type: ignore[method-assign,assignment]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign,assignment]


@pytest.fixture(autouse=True)
def _no_connection_beyond_loopback() -> Iterator[None]:
    _outbound.clear()
    yield
    assert not _outbound, f"connections beyond loopback were attempted: {_outbound}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Tests that stop the shared server run after everything that needs it, and tests that start
    # servers of their own after those (they stop the shared one first: never two at once).
    def rank(item: pytest.Item) -> int:
        if item.get_closest_marker("own_server") is not None:
            return 2
        return 1 if item.get_closest_marker("stops_server") is not None else 0

    items.sort(key=rank)


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Per-test config and state dirs; the model cache stays shared so the model converts once."""
    monkeypatch.setenv("SCRIPTORIUM_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("SCRIPTORIUM_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("SCRIPTORIUM_FINETUNE__REGISTRY", str(tmp_path / "models"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def embedder() -> LocalEmbedder:
    """The real bundled MiniLM, loaded once for the session."""
    return LocalEmbedder()


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
def session_env(server_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Point the CLI at the session's server."""
    monkeypatch.setenv("SCRIPTORIUM_STATE_DIR", str(server_settings.state_dir))
    monkeypatch.setenv("SCRIPTORIUM_CONFIG_DIR", str(server_settings.config_dir))
    monkeypatch.setenv("SCRIPTORIUM_SERVER__PORT", str(server_settings.server.port))
    return server_settings


@pytest.fixture
def endpoint(managed_server: ServerState) -> Endpoint:
    return Endpoint(
        base_url=managed_server.base_url, api_key=managed_server.api_key, model=managed_server.model
    )


@pytest.fixture
async def client(endpoint: Endpoint) -> AsyncIterator[ModelClient]:
    async with ModelClient(endpoint) as model_client:
        yield model_client
