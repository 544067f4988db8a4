"""A batch task on a Ray worker (`workflows/ray_executor.py` submits `run_on_worker` by name).

The worker has no project folder: the driver sends the workflow, its agents, the endpoint (not the
key: that is in the worker's environment) and the steps already finished; the run is built through
`Project` like any other, in a scratch folder, and its files go back to the driver.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from .agents import AgentCatalog, AgentSpec, LoadedAgent
from .config import ClientSettings, MemorySettings, Settings
from .events import Event
from .memory import LocalEmbedder
from .project import Project
from .serving.client import Endpoint
from .workflows.checkpoint import Checkpoint
from .workflows.loader import LoadedWorkflow
from .workflows.ray_executor import DRIVER_KEEPS, KEY_ENV
from .workflows.spec import WorkflowSpec

__all__ = ["run_on_worker", "worker_version"]

_embedder: LocalEmbedder | None = None


def worker_version() -> str:
    from . import __version__

    return __version__


def run_on_worker(payload: dict[str, Any]) -> dict[str, bytes]:
    return asyncio.run(_run_task(payload))


async def _run_task(payload: Mapping[str, Any]) -> dict[str, bytes]:
    """The task on this worker, through a `Project` built from the payload: no project folder
    here, so the driver's agents come with it; the key from the worker's environment."""
    global _embedder
    relay, task_id = payload["relay"], payload["task_id"]
    relay.tell.remote(task_id, "started", os.getpid())
    loaded = LoadedWorkflow(WorkflowSpec.model_validate(payload["workflow"]), Path(payload["workflow_file"]))
    catalog = AgentCatalog(
        {
            name: LoadedAgent(AgentSpec.model_validate(a["spec"]), Path(a["file"]), a["line"], a["builtin"])
            for name, a in payload["agents"].items()
        }
    )
    given = payload["endpoint"]
    endpoint = Endpoint(
        given["urls"][0],
        SecretStr(os.environ.get(KEY_ENV, "")),
        given["model"],
        replicas=tuple(given["urls"][1:]),
    )

    class Relayed:
        def handle(self, event: Event) -> None:
            relay.tell.remote(task_id, "event", event.model_dump(mode="json"))

    def recorded(path: str, record: dict[str, Any]) -> None:
        relay.tell.remote(task_id, "step", (path, record))

    with tempfile.TemporaryDirectory(prefix="scriptorium-task-") as scratch:
        run_dir = Path(scratch) / payload["run_name"]
        run_dir.mkdir()
        (run_dir / "inputs.json").write_text(payload["inputs_json"])
        restored = Checkpoint(run_dir / "checkpoint.sqlite")
        restored.restore(payload["meta"], payload["steps"])
        restored.close()
        shared = payload["memory"]
        if shared is not None:
            _embedder = _embedder or LocalEmbedder()
        settings = Settings(
            project_dir=Path(scratch),
            client=ClientSettings.model_validate(payload["client"]),
            memory=MemorySettings(url=shared["url"], collection=shared["collection"])
            if shared
            else MemorySettings(),
        )
        project = Project(settings, endpoint=endpoint, catalog=catalog, embedder=_embedder)
        await project.run(
            loaded,
            run_dir=run_dir,
            resume=True,
            sinks=[Relayed()],
            engine=payload["engine"],
            memory=shared is not None,
            on_checkpoint=recorded,
        )
        files = {
            str(path.relative_to(run_dir)): path.read_bytes()
            for path in run_dir.rglob("*")
            if path.is_file() and path.name not in DRIVER_KEEPS
        }
    # Everything told before this answer is in the relay before the driver sees the result.
    await relay.tell.remote(task_id, "finished", None)
    return files
