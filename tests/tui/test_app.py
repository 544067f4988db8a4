"""The real Textual app driven by its Pilot, on the recorded trace of a real paper run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from textual.widgets import DataTable, Markdown, RichLog, Static, Tree

from scriptorium.tui import ReplaySource, RunView, ScriptoriumTUI

from .conftest import assert_snapshot


def _log_text(app: ScriptoriumTUI) -> str:
    log = app.screen.query_one("#conversation", RichLog)
    return "\n".join(line.text for line in log.lines)


def _counters(app: ScriptoriumTUI) -> str:
    return str(app.screen.query_one("#counters", Static).render())


async def test_replay_to_the_end_shows_steps_counters_and_the_paper(recorded_run: Path) -> None:
    app = ScriptoriumTUI(recorded_run, mode="replay", speed=1.0)
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        view = app.screen
        assert isinstance(view, RunView) and isinstance(view.source, ReplaySource)
        assert view.state.status in ("waiting", "running")  # x1: barely started
        await pilot.press("e")
        await pilot.pause()
        assert str(view.state.status) == "succeeded"  # str(): mypy keeps the status narrowed above
        tree = view.query_one("#steps", Tree)
        labels = [str(node.label) for node in tree.root.children]
        assert any("survey" in label for label in labels) and any("assemble" in label for label in labels)
        assert all(label.startswith("✓") for label in labels)
        counters = _counters(app)
        assert "paper  succeeded" in counters and "in flight 0" in counters
        assert f"requests {view.state.requests}" in counters and "planner:" in counters
        paper = view.query_one("#paper", Markdown)
        title = (recorded_run / "outputs" / "paper.md").read_text().splitlines()[0].lstrip("# ")
        assert title in paper.source
        assert_snapshot(app, "replay-end-200x50")  # type: ignore[arg-type]


async def test_navigate_open_and_filter(recorded_run: Path) -> None:
    app = ScriptoriumTUI(recorded_run, mode="replay")
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.press("e")
        await pilot.pause()
        view = app.screen
        assert isinstance(view, RunView)
        await pilot.press("j")  # from the root to the first step: survey
        await pilot.pause()
        assert view.selected == "survey"
        assert "survey_sources" in _log_text(app)
        await pilot.press("j")
        await pilot.press("enter")
        await pilot.pause()
        assert view.selected == "plan"
        text = _log_text(app)
        assert "planner · prompt" in text and "planner · reply" in text and "writer" not in text
        # the whole run, filtered to the reviewer
        tree = view.query_one("#steps", Tree)
        tree.move_cursor(tree.root)
        await pilot.pause()
        await pilot.press("slash")
        await pilot.press(*"reviewer")
        await pilot.press("enter")
        await pilot.pause()
        assert view.needle == "reviewer"
        rows = view.state.conversation(None, "reviewer")
        assert rows and f"{len(rows)} events matching 'reviewer'" in _log_text(app)
        assert "planner ·" not in _log_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert view.needle == "" and "matching" not in _log_text(app)


async def test_replay_keys_pause_and_change_speed(recorded_run: Path) -> None:
    app = ScriptoriumTUI(recorded_run, mode="replay", speed=8)
    async with app.run_test() as pilot:
        view = app.screen
        assert isinstance(view, RunView) and isinstance(view.source, ReplaySource)
        await pilot.press("p")
        assert view.source.paused
        seen = len(view.state.entries)
        await pilot.pause(0.3)
        assert len(view.state.entries) == seen  # paused: nothing more arrives
        await pilot.press("plus")
        await pilot.press("plus")
        assert view.source.speed == 32
        await pilot.press("minus")
        assert view.source.speed == 16
        await pilot.press("p")
        assert not view.source.paused


async def test_follow_mode_picks_up_lines_another_writer_appends(tmp_path: Path, recorded_run: Path) -> None:
    lines = (recorded_run / "trace.jsonl").read_text().splitlines(keepends=True)
    live = tmp_path / "live"
    live.mkdir()
    half = len(lines) // 2
    (live / "trace.jsonl").write_text("".join(lines[:half]) + lines[half][:30])  # mid-line
    app = ScriptoriumTUI(live, mode="auto")  # no summary.json: a run still going is followed
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        view = app.screen
        assert isinstance(view, RunView) and view.source.label == "following"
        before = len(view.state.entries)
        assert view.state.status == "running"
        with (live / "trace.jsonl").open("a") as writer:
            writer.write(lines[half][30:] + "this line is corrupt\n" + "".join(lines[half + 1 :]))
        await pilot.pause(0.5)
        assert len(view.state.entries) > before
        assert str(view.state.status) == "succeeded"
        assert view.state.corrupt_lines == 1
        assert "corrupt trace line" in _log_text(app) or view.selected is not None


async def test_a_batch_folder_lists_its_tasks_and_opens_one(tmp_path: Path, recorded_run: Path) -> None:
    batch = tmp_path / "batch"
    shutil.copytree(recorded_run, batch / "tasks" / "rag")
    (batch / "manifest.json").write_text(
        json.dumps(
            {
                "workflow_path": "paper.yaml",
                "spec_hash": "x",
                "tasks": [
                    {"id": "rag", "inputs": {"topic": "RAG"}},
                    {"id": "later", "inputs": {"topic": "LoRA"}},
                ],
            }
        )
    )
    app = ScriptoriumTUI(batch)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        table = app.screen.query_one("#tasks", DataTable)
        assert table.row_count == 2
        assert table.get_row("rag")[1] == "succeeded" and table.get_row("later")[1] == "pending"
        assert_snapshot(app, "batch-100x30")  # type: ignore[arg-type]
        await pilot.press("j")
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, RunView)  # 'later' has not started: a warning, no screen
        await pilot.press("k")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, RunView) and app.screen.run_dir == batch / "tasks" / "rag"
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, RunView)


async def test_narrow_terminal_keeps_every_pane_reachable(recorded_run: Path) -> None:
    app = ScriptoriumTUI(recorded_run, mode="replay")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("e")
        await pilot.pause()
        view = app.screen
        assert view.has_class("narrow")
        assert_snapshot(app, "replay-end-80x24")  # type: ignore[arg-type]
        await pilot.press("o")
        await pilot.pause()
        assert view.has_class("show-output")
        assert view.query_one("#centre-paper", Markdown).source.startswith("# ")
