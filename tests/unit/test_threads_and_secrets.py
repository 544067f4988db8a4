"""Events from many threads keep whole lines in seq order; the model server's key stays out of
what a Ray task carries."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from scriptorium.events import EventBus, StepStarted, TraceWriter, read_trace
from scriptorium.testing import SchemaModel
from scriptorium.workflows.batch import BatchJob, BatchTask
from scriptorium.workflows.checkpoint import Checkpoint
from scriptorium.workflows.ray_executor import RayExecutor, _payload

THREADS, EACH = 8, 400


def test_the_trace_writer_keeps_whole_lines_in_seq_order_under_threads(tmp_path: Path) -> None:
    writer = TraceWriter(tmp_path / "trace.jsonl")
    bus = EventBus("run", sinks=[writer])
    barrier = threading.Barrier(THREADS)

    def hammer(n: int) -> None:
        barrier.wait()
        for i in range(EACH):
            bus.emit(StepStarted(step_id=f"t{n}-{i}" + "x" * (i % 200), step_kind="agent"))

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()
    events = list(read_trace(tmp_path / "trace.jsonl"))
    assert all(isinstance(e, StepStarted) for e in events)  # no torn or interleaved line
    seqs = [e.seq for e in events if isinstance(e, StepStarted)]
    assert seqs == list(range(1, THREADS * EACH + 1))


def test_a_ray_task_payload_carries_no_api_key(tmp_path: Path) -> None:
    from scriptorium import Project

    model = SchemaModel()
    project = Project.open(tmp_path, model=model)
    loaded = project.workflow("paper")
    task_dir = tmp_path / "task"
    task_dir.mkdir()
    (task_dir / "inputs.json").write_text('{"topic": "tides"}')
    job = BatchJob(loaded, model.client(), project.catalog, project.tools, project.outputs, None, "autogen")
    checkpoint = Checkpoint(task_dir / "checkpoint.sqlite")
    try:
        payload = _payload(
            job, BatchTask("t", {"topic": "tides"}, None), task_dir, "autogen", checkpoint, RayExecutor()
        )
    finally:
        checkpoint.close()
    payload.pop("relay")
    text = json.dumps(payload)
    assert "test-key" not in text and model.endpoint().api_key.get_secret_value() == "test-key"
