"""A run killed with SIGKILL at different points resumes to a complete result, repeating no step.

The run is a real `scriptorium run` process against the session's server; the kill comes right
after the chosen step's finish reaches the trace file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scriptorium.config import Settings
from scriptorium.events import ModelRequest, RunStarted, StepFinished, read_trace
from scriptorium.serving import ServerState

from ..helpers import CORPUS

pytestmark = pytest.mark.server
BRIEF = Path(__file__).parents[1] / "data" / "workflows" / "brief.yaml"


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "scriptorium", *args]


def wait_for_step(trace: Path, step: str, process: subprocess.Popen[bytes], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if trace.exists():
            for event in read_trace(trace):
                if isinstance(event, StepFinished) and event.step_id == step:
                    return
        if process.poll() is not None:
            raise AssertionError(f"the run ended before step '{step}' finished")
        time.sleep(0.05)
    raise AssertionError(f"step '{step}' did not finish in {timeout}s")


@pytest.mark.parametrize("kill_after", ["plan", "evidence"])
def test_sigkill_then_resume_completes_without_repeating_steps(
    managed_server: ServerState, session_env: Settings, tmp_path: Path, kill_after: str
) -> None:
    env = dict(os.environ)
    process = subprocess.Popen(
        cli("run", str(BRIEF), "--topic", "LoRA", "--corpus", str(CORPUS)),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir()):
            assert time.monotonic() < deadline and process.poll() is None, "no run folder appeared"
            time.sleep(0.05)
        run_dir = next((tmp_path / "runs").iterdir())
        wait_for_step(run_dir / "trace.jsonl", kill_after, process)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    finished_before = {e.step_id for e in read_trace(run_dir / "trace.jsonl") if isinstance(e, StepFinished)}
    assert kill_after in finished_before

    resumed = subprocess.run(
        cli("run", "--resume", str(run_dir)), cwd=tmp_path, env=env, capture_output=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stdout.decode()[-2000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "succeeded"
    assert summary["outputs"]["sentences"] >= 2
    events = list(read_trace(run_dir / "trace.jsonl"))
    assert sum(isinstance(e, RunStarted) for e in events) == 2
    planner_calls = [e for e in events if isinstance(e, ModelRequest) and e.agent == "planner"]
    assert len(planner_calls) == 1  # the plan was never asked for again
    resumed_from = max(i for i, e in enumerate(events) if isinstance(e, RunStarted))
    cached = {e.step_id for e in events[resumed_from:] if isinstance(e, StepFinished) and e.cached}
    assert finished_before & {"plan", "evidence", "write"} <= cached
