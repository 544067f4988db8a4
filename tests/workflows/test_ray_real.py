"""Batch on a real local Ray cluster (a head and a worker node, on loopback) against the session's
vLLM server: results like the local executor's, a worker killed mid-task loses nothing finished,
and an address nobody listens on is a clear error before any task runs."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from scriptorium.agents import AgentCatalog, default_outputs
from scriptorium.cli import app
from scriptorium.config import Settings
from scriptorium.events import RunStarted, StepFinished, read_trace
from scriptorium.serving import Endpoint, ModelClient, ServerState
from scriptorium.tools import default_registry
from scriptorium.workflows import load_workflow
from scriptorium.workflows.batch import BatchTask, Executor, LocalExecutor, TaskOutcome, run_batch
from scriptorium.workflows.ray_executor import RayExecutor, RayUnavailable

from ..conftest import free_port

pytestmark = pytest.mark.server
FANOUT = Path(__file__).parents[1] / "data" / "workflows" / "fanout.yaml"
TASKS = [
    BatchTask(f"t{i}", {"topics": topics}, None)
    for i, topics in enumerate([["LoRA", "RAG"], ["vLLM"], ["agents"]])
]


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    """A head node and one worker node on 127.0.0.2 (Ray moves 127.0.0.1 to the host's address)."""
    os.environ.update(RAY_USAGE_STATS_ENABLED="0", RAY_USAGE_STATS_REPORT_URL="http://127.0.0.1:9/")
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 0, "include_dashboard": False, "node_ip_address": "127.0.0.2"},
    )
    cluster.add_node(num_cpus=3, node_ip_address="127.0.0.2")  # tasks run on the worker node
    cluster.wait_for_nodes()
    yield cluster.address
    ray.shutdown()
    cluster.shutdown()  # type: ignore[no-untyped-call]


def parts() -> dict[str, Any]:
    tools, outputs = default_registry(plugins=False), default_outputs()
    return {"catalog": AgentCatalog.load(tools, outputs), "tools": tools, "outputs": outputs}


async def batch(endpoint: Endpoint, folder: Path, executor: Executor) -> list[TaskOutcome]:
    given = parts()
    loaded = load_workflow(FANOUT, **given)
    async with ModelClient(endpoint) as client:
        return await run_batch(
            loaded, TASKS, folder, client=client, memory=None, concurrency=3, executor=executor, **given
        )


def shape(outcome: TaskOutcome, folder: Path) -> tuple[Any, ...]:
    task_dir = Path(outcome.run_dir)
    files = sorted(
        str(p.relative_to(task_dir))
        for p in task_dir.rglob("*")
        if p.is_file() and "-wal" not in p.name and "-shm" not in p.name
    )
    summary = json.loads((task_dir / "summary.json").read_text())
    return (
        outcome.id,
        outcome.status,
        sorted(outcome.outputs),
        len(outcome.outputs["titles"]),
        files,
        sorted(summary["steps"]),
    )


async def test_a_batch_on_ray_matches_the_local_executor(
    ray_address: str, endpoint: Endpoint, tmp_path: Path
) -> None:
    local = await batch(endpoint, tmp_path / "local", LocalExecutor())
    remote = await batch(endpoint, tmp_path / "ray", RayExecutor(ray_address))
    assert all(o.status == "succeeded" for o in remote), [o.error for o in remote]
    assert [shape(o, tmp_path / "ray") for o in remote] == [shape(o, tmp_path / "local") for o in local]
    events = list(read_trace(tmp_path / "ray" / "tasks" / "t0" / "trace.jsonl"))
    assert isinstance(events[0], RunStarted) and events[0].run_id == "t0"
    assert {e.step_id for e in events if isinstance(e, StepFinished)} >= {"plans[0]", "plans[1]", "titles"}
    summary = json.loads((tmp_path / "ray" / "summary.json").read_text())
    assert summary["succeeded"] == 3

    # As if t0's worker died after its first item: resuming on Ray repeats only what was lost.
    task_dir = tmp_path / "ray" / "tasks" / "t0"
    with sqlite3.connect(task_dir / "checkpoint.sqlite") as db:
        db.execute("DELETE FROM steps WHERE path IN ('plans[1]', 'titles', 'plans')")
    (task_dir / "summary.json").unlink()
    again = await batch(endpoint, tmp_path / "ray", RayExecutor(ray_address))
    assert [o.status for o in again] == ["succeeded"] * 3
    resumed = list(read_trace(task_dir / "trace.jsonl"))
    resumed = resumed[max(i for i, e in enumerate(resumed) if isinstance(e, RunStarted)) :]
    ended = {e.step_id: e.cached for e in resumed if isinstance(e, StepFinished)}
    assert ended["plans[0]"] is True and ended["plans[1]"] is False and ended["titles"] is False


async def test_a_worker_killed_mid_task_loses_nothing_finished(
    ray_address: str, endpoint: Endpoint, tmp_path: Path
) -> None:
    executor = RayExecutor(ray_address)
    running = asyncio.ensure_future(batch(endpoint, tmp_path / "ray", executor))
    killed: dict[str, int] = {}
    while not running.done() and not killed:
        await asyncio.sleep(0.02)
        for task_id, task in executor.running.items():
            if task.pid is not None:  # its worker has started on it: kill that process
                os.kill(task.pid, signal.SIGKILL)
                killed[task_id] = task.pid
                break
    outcomes = await running
    assert killed, "every task finished before a worker could be killed"
    assert [o.status for o in outcomes] == ["succeeded"] * 3, [o.error for o in outcomes]
    (victim,) = killed
    assert executor.attempts[victim] == 2 and executor.attempts.get("t1", 1) <= 2
    events = list(read_trace(tmp_path / "ray" / "tasks" / victim / "trace.jsonl"))
    finished = [e.step_id for e in events if isinstance(e, StepFinished) and not e.cached]
    assert len(finished) == len(set(finished))  # no finished step was done twice


async def test_an_address_nobody_listens_on_stops_the_batch_before_any_task(
    endpoint: Endpoint, tmp_path: Path
) -> None:
    address = f"127.0.0.2:{free_port()}"
    with pytest.raises(RayUnavailable) as caught:
        await batch(endpoint, tmp_path / "ray", RayExecutor(address))
    assert address in caught.value.message and "ray start --head" in str(caught.value.hint)
    assert not (tmp_path / "ray" / "tasks").exists()


def test_the_batch_command_runs_on_ray(
    ray_address: str, managed_server: ServerState, session_env: Settings, tmp_path: Path
) -> None:
    tasks = tmp_path / "tasks.yaml"
    tasks.write_text("- {id: a, topics: [LoRA]}\n- {id: b, topics: [RAG]}\n")
    result = CliRunner().invoke(
        app,
        ["batch", str(tasks), "--workflow", str(FANOUT), "--executor", "ray", "--ray-address", ray_address],
    )
    assert result.exit_code == 0, result.output
    assert "without memory.url" in result.output  # workers share memory only through a server
    (batch_dir,) = (tmp_path / "batches").iterdir()
    summary = json.loads((batch_dir / "summary.json").read_text())
    assert summary["succeeded"] == 2
    assert all((batch_dir / "tasks" / t / "outputs").is_dir() for t in ("a", "b"))
