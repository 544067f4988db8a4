"""Batch tasks on a Ray cluster: each task runs on a worker, and this process writes the batch folder.

The driver prepares a task's folder as a local run would (inputs, workflow, checkpoint metadata),
then submits the task with what it needs: the workflow and agent specs as data, the model endpoint,
the client settings, the memory server, and the steps already in the checkpoint. The worker runs the
workflow in a scratch folder and tells a relay actor about every trace event and every step it
records; the driver drains the relay, appending to the task's `trace.jsonl` (and to the batch's
sinks: progress bar, TUI) and recording steps in the task's checkpoint as they finish. When the
task ends the worker hands back its summary and output files. A worker that dies mid-task loses
nothing finished: the driver submits the task again with the steps recorded so far.

Workers share memory only through a Chroma server (`memory.url`), and reach the model servers at
the addresses the driver uses, so on a real cluster those must be addresses every machine can reach.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ScriptoriumError
from ..events import Event, EventAdapter, EventSink, TraceWriter
from ..fileio import write_atomic
from .batch import BatchJob, BatchTask
from .checkpoint import Checkpoint
from .session import prepare_run

__all__ = ["RayExecutor", "RayUnavailable"]

log = logging.getLogger(__name__)

# Before ray is imported, in this process and (through the runtime env) in the workers.
_QUIET = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_USAGE_STATS_REPORT_URL": "http://127.0.0.1:9/"}
KEY_ENV = "SCRIPTORIUM_WORKER_API_KEY"
"""The model server's key, in a worker's environment (see `_attempts`)."""
_DRAIN_EVERY_S = 0.2
# Files of a task's run the driver keeps itself, as they are written: a worker does not send them.
DRIVER_KEEPS = {"trace.jsonl", "checkpoint.sqlite", "checkpoint.sqlite-wal", "checkpoint.sqlite-shm"}


class RayUnavailable(ConfigError):
    """The Ray cluster cannot be reached, or its workers cannot run Scriptorium."""


@dataclass
class _Running:
    """A task in flight, as the driver keeps it."""

    trace: TraceWriter
    checkpoint: Checkpoint
    sinks: list[EventSink]
    pid: int | None = None
    attempts: int = 0


@dataclass
class RayExecutor:
    """Runs batch tasks as Ray tasks on the cluster at `address` (`auto`, `HOST:PORT`, `ray://…`)."""

    address: str = "auto"
    retries: int = 2
    """Times a task whose worker died is submitted again (from its checkpoint)."""
    memory_url: str | None = None
    """The Chroma server the workers' memory lives on; none: the workers run without memory."""
    memory_collection: str = "default"
    cpus_per_task: float = 1.0
    """Ray CPUs a task holds: how many tasks a worker machine runs at once (they mostly wait on the
    model, so a fraction packs more)."""
    running: dict[str, _Running] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    """How many times each task was submitted (more than once: its worker died)."""
    worker: str = "scriptorium.ray_worker:run_on_worker"
    """What a worker runs for a task (`module:function`, given the payload, returning the files)."""
    _relay: Any = None
    _drainer: asyncio.Task[None] | None = None
    _remote: Any = None

    # -- the executor interface ------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, and check that the workers run this version of Scriptorium."""
        await self._connect()

    async def run_task(self, job: BatchJob, task: BatchTask, task_dir: Path, resume: bool) -> None:
        await self._connect()
        checkpoint = Checkpoint(task_dir / "checkpoint.sqlite")
        try:
            _, engine = prepare_run(
                checkpoint,
                job.loaded,
                task_dir,
                job.catalog,
                inputs=task.inputs,
                resume=resume,
                engine=job.engine,
            )
            (task_dir / "outputs").mkdir(exist_ok=True)
            running = _Running(TraceWriter(task_dir / "trace.jsonl"), checkpoint, job.sinks)
            self.running[task.id] = running
            try:
                files = await self._attempts(job, task, task_dir, engine, running)
            finally:
                await self._drain()
                running.trace.close()
                del self.running[task.id]
        finally:
            checkpoint.close()
        # The summary last: a task folder with a summary holds everything else too.
        for name in sorted(files, key=lambda n: n == "summary.json"):
            write_atomic(task_dir / name, files[name])

    async def close(self) -> None:
        if self._drainer is not None:
            self._drainer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drainer
            self._drainer = None

    # -- internals -------------------------------------------------------------------------------

    async def _attempts(
        self, job: BatchJob, task: BatchTask, task_dir: Path, engine: str, running: _Running
    ) -> dict[str, bytes]:
        import ray.exceptions

        while True:
            running.attempts += 1
            self.attempts[task.id] = running.attempts
            payload = _payload(job, task, task_dir, engine, running.checkpoint, self)
            try:
                # The key rides in the worker's environment, never in the payload: task arguments
                # are stored in Ray's object store and shown by its dashboard and state API.
                secret = {KEY_ENV: job.client.endpoint.api_key.get_secret_value()}
                runtime_env = {"env_vars": {**_QUIET, **secret}}
                result: dict[str, bytes] = await self._remote.options(runtime_env=runtime_env).remote(payload)
                return result
            except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError) as exc:
                if running.attempts > self.retries:
                    raise _TaskLost(
                        f"task {task.id}: its worker died {running.attempts} times ({exc})"
                    ) from exc
                await self._drain()  # every step it finished is in the checkpoint before it goes again
            except ray.exceptions.RayTaskError as exc:
                cause = exc.cause if isinstance(exc.cause, Exception) else exc
                if isinstance(cause, ScriptoriumError):
                    raise cause from exc
                raise _TaskLost(f"task {task.id} failed on its worker: {cause}") from exc

    async def _connect(self) -> None:
        if self._remote is not None:
            return
        os.environ.update(_QUIET)
        import ray

        _check_reachable(self.address)
        try:
            await asyncio.to_thread(
                ray.init,
                address=self.address,
                runtime_env={"env_vars": dict(_QUIET)},
                log_to_driver=False,
                ignore_reinit_error=True,
            )
        except (ConnectionError, RuntimeError) as exc:
            raise RayUnavailable(
                f"cannot connect to the Ray cluster at {self.address}: {exc}",
                hint="start one with `ray start --head` (then `ray start --address HEAD:6379` on the "
                "others), or pass its address with --ray-address",
            ) from exc
        # Retries are ours: the driver resubmits with the steps recorded since the first try.
        # The worker's side builds its run through Project (above this room): named, not imported.
        module, _, name = self.worker.partition(":")
        worker = importlib.import_module(module)
        run_on_worker, worker_version = getattr(worker, name), worker.worker_version
        remote = ray.remote(max_retries=0, num_cpus=self.cpus_per_task)(run_on_worker)
        try:
            version = await ray.remote(num_cpus=0)(worker_version).remote()
        except ray.exceptions.RayTaskError as exc:
            raise RayUnavailable(
                f"the workers of the Ray cluster at {self.address} cannot import scriptorium ({exc.cause})",
                hint="install scriptorium into the python every `ray start` ran with",
            ) from exc
        from .. import __version__

        if version != __version__:
            raise RayUnavailable(
                f"the Ray workers run scriptorium {version}, this process {__version__}",
                hint="install the same version everywhere",
            )
        self._relay = ray.remote(num_cpus=0)(_Relay).remote()
        # Wait for the relay's process: until it runs, workers' messages (their pids, the first
        # events) only queue, and the driver would see a task start seconds late.
        await self._relay.drain.remote()
        self._remote = remote
        self._drainer = asyncio.create_task(self._drain_forever())

    async def _drain_forever(self) -> None:
        while True:
            await asyncio.sleep(_DRAIN_EVERY_S)
            try:
                await self._drain()
            except Exception:  # one bad message must not stop the relay; the task's end drains again
                log.exception("draining the Ray relay failed")

    async def _drain(self) -> None:
        if self._relay is None:
            return
        for task_id, kind, body in await self._relay.drain.remote():
            running = self.running.get(task_id)
            if running is None:
                continue
            if kind == "event":
                event: Event = EventAdapter.validate_python(body)
                running.trace.handle(event)
                for sink in running.sinks:
                    sink.handle(event)
            elif kind == "step":
                path, record = body
                running.checkpoint.record(
                    path,
                    record["output"],
                    record["prompt_tokens"],
                    record["completion_tokens"],
                    record["duration_s"],
                )
            elif kind == "started":
                running.pid = int(body)


class _TaskLost(ScriptoriumError):
    """A task could not be finished on the cluster."""


class _Relay:
    """Messages from workers to the driver (a Ray actor; one per batch). Sync, so each worker's
    messages are kept in the order it sent them."""

    def __init__(self) -> None:
        self._messages: list[tuple[str, str, Any]] = []

    def tell(self, task_id: str, kind: str, body: Any) -> None:
        self._messages.append((task_id, kind, body))

    def drain(self) -> list[tuple[str, str, Any]]:
        out, self._messages = self._messages, []
        return out


def _payload(
    job: BatchJob, task: BatchTask, task_dir: Path, engine: str, checkpoint: Checkpoint, executor: RayExecutor
) -> dict[str, Any]:
    endpoint = job.client.endpoint
    return {
        "task_id": task.id,
        "run_name": task_dir.name,
        "workflow": job.loaded.spec.model_dump(mode="json", by_alias=True),
        "workflow_file": str(job.loaded.file),
        "agents": {
            name: {
                "spec": a.spec.model_dump(mode="json"),
                "file": str(a.file),
                "line": a.line,
                "builtin": a.builtin,
            }
            for name, a in job.catalog.agents.items()
        },
        "endpoint": {
            "urls": list(endpoint.urls),
            "model": endpoint.model,
        },
        "client": job.client.settings.model_dump(mode="json"),
        "memory": {"url": executor.memory_url, "collection": executor.memory_collection}
        if executor.memory_url
        else None,
        "engine": engine,
        "inputs_json": (task_dir / "inputs.json").read_text(),
        "meta": checkpoint.meta(),
        "steps": {path: row.model_dump(mode="json") for path, row in checkpoint.finished().items()},
        "relay": executor._relay,
    }


def _check_reachable(address: str) -> None:
    """Fail at once on a `HOST:PORT` nobody listens on (ray.init would retry for minutes)."""
    if address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not port.isdigit():
        raise RayUnavailable(f"the Ray address '{address}' is not HOST:PORT, ray://HOST:PORT or auto")
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
    except OSError as exc:
        raise RayUnavailable(
            f"nothing answers at the Ray address {address} ({exc.strerror or exc})",
            hint="start the head with `ray start --head --port PORT` there, or pass --ray-address",
        ) from exc
