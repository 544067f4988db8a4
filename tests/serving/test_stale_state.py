"""A managed server's record outlives the server when it is killed: `serve --detach` must see that
the recorded process is gone (or its pid is another program's), clear the record in one line and
start afresh, and keep refusing only while the recorded process really runs. No vLLM is started:
the serving python is a path that does not exist, so a start that gets past the record stops there."""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from scriptorium.config import Settings, load_settings
from scriptorium.errors import ServerStartError
from scriptorium.serving.liveness import recorded_process
from scriptorium.serving.server import ManagedServer
from scriptorium.serving.state import ServerState, read_state, write_state

from ..conftest import free_port


def _record(settings: Settings, pid: int, started_at: datetime | None = None) -> ServerState:
    state = ServerState(
        pid=pid,
        host="127.0.0.1",
        port=settings.server.port,
        api_key=SecretStr("sk-test"),
        model="m",
        model_path="/m",
        log_path=str(settings.state_dir / "logs" / "vllm.log"),
        started_at=started_at or datetime.now(UTC),
    )
    write_state(settings.state_dir, state)
    return state


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(server={"python": tmp_path / "no-such-python", "port": free_port()})


@pytest.fixture
def spawned() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts; all of them are ended and reaped after it."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.kill()
        process.wait()


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()  # reaped: nothing has this pid now
    return process.pid


def test_a_dead_pid_is_gone(settings: Settings) -> None:
    assert recorded_process(_record(settings, _dead_pid())) == "gone"


def test_serve_detach_clears_a_dead_servers_record_and_starts_afresh(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    recorded = _record(settings, _dead_pid())
    with caplog.at_level(logging.WARNING), pytest.raises(ServerStartError) as refused:
        ManagedServer(settings).ensure()  # what `serve --detach` calls
    assert "no-such-python" in str(refused.value)  # it went on to start one: the python is next
    assert read_state(settings.state_dir) is None
    [line] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    where = f"recorded in {settings.state_dir} (pid {recorded.pid})"
    assert line == f"the managed server {where} is gone: cleared its record"


def test_a_live_pid_that_started_after_the_record_is_another_program(
    settings: Settings, spawned: list[subprocess.Popen[bytes]]
) -> None:
    other = subprocess.Popen(["sleep", "60"], start_new_session=True)
    spawned.append(other)
    before = datetime.now(UTC) - timedelta(hours=1)
    assert recorded_process(_record(settings, other.pid, started_at=before)) == "reused"
    child = subprocess.Popen(["sleep", "60"])  # our own process group: not the leader of one
    spawned.append(child)
    assert recorded_process(_record(settings, child.pid)) == "reused"
    with pytest.raises(ServerStartError, match="no-such-python"):
        ManagedServer(settings).start()
    assert other.poll() is None and child.poll() is None  # another program's: left alone
    assert read_state(settings.state_dir) is None


def test_a_running_server_that_does_not_answer_is_still_refused(
    settings: Settings, spawned: list[subprocess.Popen[bytes]]
) -> None:
    server = subprocess.Popen(["sleep", "60"], start_new_session=True)  # as the server is started
    spawned.append(server)
    recorded = _record(settings, server.pid)
    assert recorded_process(recorded) == "running"
    with pytest.raises(ServerStartError) as refused:
        ManagedServer(settings).start()
    message = str(refused.value)
    assert f"(pid {server.pid}) is running but does not answer at {recorded.base_url}" in message
    assert "scriptorium serve --stop" in message
    assert read_state(settings.state_dir) == recorded  # kept: it may still be loading
    assert server.poll() is None


def test_engine_processes_left_by_a_killed_leader_are_stopped_and_the_record_cleared(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    # The leader exits at once and leaves its child running in its process group, as vLLM's
    # engine outlives a killed API server.
    leader = subprocess.Popen(
        ["sh", "-c", "sleep 60 & echo $!"], stdout=subprocess.PIPE, start_new_session=True
    )
    assert leader.stdout is not None
    orphan = int(leader.stdout.readline())
    leader.wait()
    recorded = _record(settings, leader.pid)
    assert recorded_process(recorded) == "orphans"
    with caplog.at_level(logging.WARNING), pytest.raises(ServerStartError, match="no-such-python"):
        ManagedServer(settings).ensure()
    assert not Path(f"/proc/{orphan}").exists() or _zombie(orphan)
    assert read_state(settings.state_dir) is None
    [line] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert line.endswith("is gone (its leftover engine processes are stopped): cleared its record")
    assert recorded_process(recorded) == "gone"


def _zombie(pid: int) -> bool:
    # The orphan's new parent (init, or a subreaper) reaps it in its own time.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False
