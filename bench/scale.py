"""Scale-out figures measured on this machine, and the projection in docs/scale-out.md.

    .venv/bin/python bench/scale.py [--tasks 4] [--gpu-tokens-per-s 20000]

1. Demand of one paper task: a local batch of N paper tasks on the sample corpus gives, per task,
   completion tokens, model requests, memory queries, trace events and checkpointed steps, and this
   machine's tokens/s and tasks/hour.
2. Retrieval capacity: queries/s of a `chroma run` server on loopback holding the corpus, from 8
   client threads with precomputed query embeddings (workers embed their own queries, so only the
   server is shared).
3. The driver's capacity: relayed messages/s it writes (trace events parsed and appended, steps
   recorded in checkpoints), through the Ray executor's own drain code.
Then tasks/hour at 1, 4 and 16 machines is the smallest of the model, retrieval and driver limits,
for machines like this one (measured) and for machines with one GPU each (`--gpu-tokens-per-s`: an
assumption unless you measure it with bench/serving.py on that GPU). Writes bench/results/scale.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))
from batch import CORPUS, TOPICS

from scriptorium import Project
from scriptorium.events import MemoryQuery, ModelRequest, StepFinished, TraceWriter, read_trace
from scriptorium.memory import LocalEmbedder, MemoryStore
from scriptorium.workflows.batch import BatchTask
from scriptorium.workflows.checkpoint import Checkpoint
from scriptorium.workflows.ray_executor import RayExecutor, _Running

RESULTS = Path(__file__).parent / "results" / "scale.json"
MACHINES = (1, 4, 16)


async def task_demand(tasks: int, work: Path) -> dict[str, float]:
    project = Project.open(work)
    batch = [
        BatchTask(f"t{i}", {"topic": TOPICS[i % len(TOPICS)], "sections": 3}, None) for i in range(tasks)
    ]
    project.ingest([CORPUS])
    started = time.perf_counter()
    await project.batch("paper", batch, work / "batch", concurrency=tasks)
    wall = time.perf_counter() - started
    tokens = project.ledger.total().completion_tokens
    events = [e for t in batch for e in read_trace(work / "batch" / "tasks" / t.id / "trace.jsonl")]
    return {
        "tasks": tasks,
        "wall_s": wall,
        "tokens_per_s": tokens / wall,
        "tasks_per_hour": tasks / wall * 3600,
        "completion_tokens_per_task": tokens / tasks,
        "requests_per_task": sum(isinstance(e, ModelRequest) for e in events) / tasks,
        "memory_queries_per_task": sum(isinstance(e, MemoryQuery) for e in events) / tasks,
        "events_per_task": len(events) / tasks,
        "steps_per_task": sum(isinstance(e, StepFinished) for e in events) / tasks,
    }


def retrieval_capacity(work: Path, seconds: float = 10.0) -> dict[str, float]:
    port = _free_port()
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "chroma"),
            "run",
            "--path",
            str(work / "chroma"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "RUST_LOG": "warn"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        embedder = LocalEmbedder()
        with MemoryStore(work / "unused", "bench", embedder=embedder, url=url) as store:
            store.ingest([CORPUS])
            queries = np.asarray(embedder.embed([f"{t} methods and results" for t in TOPICS]))
            collection = store._collection
            done = 0
            deadline = time.perf_counter() + seconds

            def client(index: int) -> int:
                count = 0
                while time.perf_counter() < deadline:
                    collection.query(query_embeddings=[queries[(index + count) % len(queries)]], n_results=4)
                    count += 1
                return count

            started = time.perf_counter()
            with ThreadPoolExecutor(8) as pool:
                done = sum(pool.map(client, range(8)))
            elapsed = time.perf_counter() - started
            chunks = store.count()
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {"queries_per_s": done / elapsed, "chunks": chunks, "clients": 8}


async def driver_capacity(work: Path, sample: Path, messages: int = 20000) -> dict[str, float]:
    """Messages/s the driver writes, relayed as a worker sends them (events of a real trace, and
    one checkpoint step per finished step)."""
    events = [e.model_dump(mode="json") for e in read_trace(sample) if not hasattr(e, "line_no")]
    stream: list[tuple[str, str, Any]] = []
    while len(stream) < messages:
        for body in events:
            stream.append(("t0", "event", body))
            if body["kind"] == "step_finished":
                record = {
                    "output": {"ok": True},
                    "prompt_tokens": 1,
                    "completion_tokens": 1,
                    "duration_s": 0.1,
                }
                stream.append(("t0", "step", (f"s{len(stream)}", record)))
    batches = [stream[i : i + 500] for i in range(0, len(stream), 500)]

    class Relay:
        class drain:
            @staticmethod
            def remote() -> Any:
                future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
                future.set_result(batches.pop() if batches else [])
                return future

    executor = RayExecutor()
    executor._relay = Relay()
    checkpoint = Checkpoint(work / "driver" / "checkpoint.sqlite")
    executor.running["t0"] = _Running(TraceWriter(work / "driver" / "trace.jsonl"), checkpoint, [])
    total = len(stream)
    started = time.perf_counter()
    while batches:
        await executor._drain()
    elapsed = time.perf_counter() - started
    checkpoint.close()
    return {"messages_per_s": total / elapsed, "messages": total}


def project(
    demand: dict[str, float], retrieval: dict[str, float], driver: dict[str, float], gpu: float
) -> list[dict[str, Any]]:
    rows = []
    for kind, per_machine in (
        ("this machine (CPU, measured)", demand["tokens_per_s"]),
        ("1 GPU each (assumed)", gpu),
    ):
        for machines in MACHINES:
            limits = {
                "model": machines * per_machine / demand["completion_tokens_per_task"] * 3600,
                "retrieval": retrieval["queries_per_s"] / max(demand["memory_queries_per_task"], 1) * 3600,
                "driver writes": driver["messages_per_s"]
                / (demand["events_per_task"] + demand["steps_per_task"])
                * 3600,
            }
            bottleneck = min(limits, key=lambda k: limits[k])
            rows.append(
                {
                    "machines": kind,
                    "count": machines,
                    **{f"{k} limit": v for k, v in limits.items()},
                    "tasks_per_hour": limits[bottleneck],
                    "bottleneck": bottleneck,
                }
            )
    return rows


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def main(tasks: int, gpu: float) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="scriptorium-scale-"))
    demand = await task_demand(tasks, work)
    retrieval = await asyncio.to_thread(retrieval_capacity, work)
    driver = await driver_capacity(work, work / "batch" / "tasks" / "t0" / "trace.jsonl")
    return {
        "demand": demand,
        "retrieval": retrieval,
        "driver": driver,
        "gpu_tokens_per_s_assumed": gpu,
        "projection": project(demand, retrieval, driver, gpu),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=4)
    parser.add_argument("--gpu-tokens-per-s", type=float, default=20000.0)
    args = parser.parse_args()
    result = asyncio.run(main(args.tasks, args.gpu_tokens_per_s))
    console = Console()
    d = result["demand"]
    console.print(
        f"one paper task: {d['completion_tokens_per_task']:.0f} completion tokens, "
        f"{d['requests_per_task']:.0f} model requests, {d['memory_queries_per_task']:.0f} memory queries, "
        f"{d['events_per_task']:.0f} trace events, {d['steps_per_task']:.0f} steps; "
        f"this machine: {d['tokens_per_s']:.0f} tok/s, "
        f"{d['tasks_per_hour']:.0f} tasks/hour"
    )
    console.print(
        f"chroma server: {result['retrieval']['queries_per_s']:.0f} queries/s; driver: "
        f"{result['driver']['messages_per_s']:.0f} messages/s"
    )
    table = Table(title="tasks per hour (the smallest limit wins)")
    for column in ("machines", "n", "model", "retrieval", "driver writes", "tasks/hour", "bottleneck"):
        table.add_column(column, justify="right")
    for row in result["projection"]:
        table.add_row(
            row["machines"],
            str(row["count"]),
            f"{row['model limit']:.0f}",
            f"{row['retrieval limit']:.0f}",
            f"{row['driver writes limit']:.0f}",
            f"{row['tasks_per_hour']:.0f}",
            row["bottleneck"],
        )
    console.print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": platform.platform(), **result}, indent=2))
    print(f"wrote {RESULTS}")
