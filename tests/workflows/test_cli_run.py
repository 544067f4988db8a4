"""`scriptorium run` as a user types it: the paper on the sample corpus, parked at a review gate,
answered and resumed; and at a terminal, where the run asks and $EDITOR edits the outline."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scriptorium.cli import app
from scriptorium.config import Settings
from scriptorium.events import ModelRequest, read_trace
from scriptorium.serving import ServerState

from ..helpers import CORPUS

pytestmark = pytest.mark.server


def _model_requests(run_dir: Path) -> int:
    return sum(isinstance(e, ModelRequest) for e in read_trace(run_dir / "trace.jsonl"))


def test_a_run_parks_at_a_gate_review_answers_it_and_resume_repeats_no_model_call(
    managed_server: ServerState, session_env: Settings, tmp_path: Path
) -> None:
    runner = CliRunner()  # no terminal: the run parks at the gate
    args = ["run", "paper", "--topic", "LoRA fine-tuning", "--sections", "2", "--corpus", str(CORPUS)]
    parked = runner.invoke(app, [*args, "--review", "outline"])
    assert parked.exit_code == 5, parked.output
    assert "waiting" in parked.output and "scriptorium review" in parked.output
    run_dir = next((tmp_path / "runs").iterdir())
    assert json.loads((run_dir / "inputs.json").read_text())["topic"] == "LoRA fine-tuning"
    assert not (run_dir / "outputs" / "paper.md").exists()
    asked = _model_requests(run_dir)
    assert asked > 0  # the writing went on while the gate waited

    answered = runner.invoke(app, ["review", str(run_dir), "--approve"])
    assert answered.exit_code == 0, answered.output
    resumed = runner.invoke(app, ["run", "--resume", str(run_dir)])
    assert resumed.exit_code == 0, resumed.output
    assert "(from checkpoint)" in resumed.output and "succeeded" in resumed.output
    assert _model_requests(run_dir) == asked  # no finished model call was made again
    assert (run_dir / "outputs" / "paper.md").read_text().startswith("# ")


CHECKED = Path(__file__).parents[1] / "data" / "workflows" / "checked_plan.yaml"


def test_a_batch_parks_the_tasks_that_reach_a_gate_and_finishes_them_after_review(
    managed_server: ServerState, session_env: Settings, tmp_path: Path
) -> None:
    (tmp_path / "checked_plan.yaml").write_text(CHECKED.read_text())
    rows = [{"topic": t, "check": n < 2} for n, t in enumerate(("tides", "glaciers", "moss", "basalt"))]
    (tmp_path / "tasks.jsonl").write_text("\n".join(json.dumps(row) for row in rows))
    runner = CliRunner()
    first = runner.invoke(app, ["batch", "tasks.jsonl", "--workflow", "checked_plan.yaml"])
    assert first.exit_code == 5, first.output  # some tasks wait for a person
    batch_dir = next((tmp_path / "batches").iterdir())
    tasks = sorted(p for p in (batch_dir / "tasks").iterdir() if p.is_dir())
    status = [json.loads((t / "summary.json").read_text())["status"] for t in tasks]
    assert sorted(status) == ["succeeded", "succeeded", "waiting", "waiting"]
    asked = [_model_requests(t) for t in tasks]
    assert all(n > 0 for n in asked)

    answered = runner.invoke(app, ["review", str(batch_dir), "--approve"])
    assert answered.exit_code == 0 and answered.output.count("approve recorded") == 2, answered.output
    resumed = runner.invoke(app, ["batch", "--resume", str(batch_dir)])
    assert resumed.exit_code == 0, resumed.output
    assert [_model_requests(t) for t in tasks] == asked  # no plan was made again
    for task in tasks:
        summary = json.loads((task / "summary.json").read_text())
        assert summary["status"] == "succeeded" and summary["outputs"]["title"]


EDITOR = """\
import sys, yaml
path = sys.argv[1]
outline = yaml.safe_load(open(path))
outline["headings"][0] = "A heading typed by a person"
open(path, "w").write(yaml.safe_dump(outline))
"""


def test_at_a_terminal_the_run_asks_and_the_editor_changes_the_outline(
    managed_server: ServerState, session_env: Settings, tmp_path: Path
) -> None:
    """A scripted terminal: the real CLI in a pseudo-terminal, $EDITOR a script that renames the
    first heading; the person answers 'e' at the outline and 'a' at the drafts."""
    editor = tmp_path / "editor.py"
    editor.write_text(EDITOR)
    env = {**os.environ, "EDITOR": f"{sys.executable} {editor}", "COLUMNS": "120", "TERM": "dumb"}
    command = [
        str(Path(sys.executable).with_name("scriptorium")),
        "run",
        "paper",
        "--topic",
        "LoRA fine-tuning",
    ]
    command += ["--sections", "2", "--corpus", str(CORPUS), "--review", "outline,drafts"]
    main, follower = pty.openpty()
    process = subprocess.Popen(
        command, stdin=follower, stdout=follower, stderr=follower, env=env, cwd=tmp_path
    )
    os.close(follower)
    seen = _converse(main, process, ["e\n", "a\n"], deadline=time.monotonic() + 600)
    assert process.wait(timeout=30) == 0, seen[-3000:]
    assert seen.count("approve, edit or reject?") == 2, seen[-3000:]
    assert "review: outline" in seen and "review: drafts" in seen
    run_dir = next((tmp_path / "runs").iterdir())
    assert "## A heading typed by a person" in (run_dir / "outputs" / "paper.md").read_text()


def _converse(main: int, process: subprocess.Popen[bytes], answers: list[str], deadline: float) -> str:
    """Read the terminal; at each question, type the next answer. Everything read, as text."""
    seen, asked = "", 0
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the process closed the terminal
                break
            if not chunk:
                break
            seen += chunk.decode("utf-8", "replace")
            if seen.count("approve, edit or reject?") > asked and asked < len(answers):
                os.write(main, answers[asked].encode())
                asked += 1
        elif process.poll() is not None:
            break
    os.close(main)
    return seen


def test_bad_inputs_are_reported_before_anything_starts(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run", "paper", "--sections", "9", "-i", "topik=x"])
    assert result.exit_code == 2  # bad input
    assert "missing required input 'topic'" in result.output
    assert "did you mean 'topic'" in result.output
    assert not (tmp_path / "runs").exists()
