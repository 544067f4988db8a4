"""A review gate in the live TUI, through Pilot: the outline opens in an editor, a wrong edit shows
its error and keeps the words, an edited heading is approved and lands in the finished paper."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from textual.pilot import Pilot
from textual.widgets import Static, TextArea
from textual.widgets.text_area import Selection

from scriptorium import Project
from scriptorium.serving import Endpoint
from scriptorium.testing import SchemaModel
from scriptorium.tui import GateScreen, LiveSource, RunView, ScriptoriumTUI, tui_reviewer
from scriptorium.workflows import RunOutcome

NEUTRAL = Path(__file__).parents[2] / "bench" / "quality" / "neutral" / "nikola-tesla"


async def _until(pilot: Pilot[Any], ready: Any, seconds: float) -> None:
    for _ in range(int(seconds * 10)):
        if ready():
            return
        await asyncio.sleep(0.1)
    await pilot.pause()
    assert ready(), f"not ready after {seconds} s"


def _select(editor: TextArea, needle: str) -> None:
    """Select `needle` in the editor, as a person would with the mouse."""
    for row, line in enumerate(editor.text.split("\n")):
        column = line.find(needle)
        if column >= 0:
            editor.selection = Selection((row, column), (row, column + len(needle)))
            return
    raise AssertionError(f"{needle!r} is not in the editor")


async def _edit_the_outline_in_the_tui(project: Project, tmp_path: Path, wait_s: float) -> Path:
    corpus = tmp_path / "notes"
    shutil.copytree(NEUTRAL / "sources", corpus)
    run_dir = tmp_path / "runs" / "tesla"
    live = LiveSource()
    app = ScriptoriumTUI(run_dir, live=live)
    app.work = lambda: project.run(
        "paper",
        {"topic": "Nikola Tesla", "sections": 2},
        run_dir=run_dir,
        corpus=[corpus],
        review=["outline"],
        sinks=[live],
        reviewer=tui_reviewer(app, project.outputs),
    )
    async with app.run_test(size=(140, 40)) as pilot:
        # The screen is pushed before its widgets are mounted: wait for the editor itself.
        await _until(
            pilot,
            lambda: isinstance(app.screen, GateScreen) and bool(app.screen.query("#gate-editor")),
            wait_s,
        )
        gate = app.screen
        assert isinstance(gate, GateScreen) and gate.gate.path == "outline"
        editor = gate.query_one("#gate-editor", TextArea)
        first = gate.gate.shown["headings"][0]

        _select(editor, "title:")  # a wrong edit: a field the outline does not have
        await pilot.press(*"titel:")
        await pilot.press("ctrl+s")
        error = str(gate.query_one("#gate-error", Static).render())
        assert "changes the fields of the value" in error and app.screen is gate
        assert "titel:" in editor.text  # the person's words are kept

        _select(editor, "titel:")
        await pilot.press(*"title:")
        _select(editor, first)
        await pilot.press(*"Edited heading one")
        await pilot.press("ctrl+s")
        await _until(pilot, lambda: isinstance(app.result, RunOutcome), wait_s)
        assert isinstance(app.result, RunOutcome)
        assert app.result.result.status == "succeeded", app.result.result.error
        view = app.screen
        assert isinstance(view, RunView)
        await _until(pilot, lambda: view.state.status == "succeeded", 5)  # the trace is drawn as it comes
    edited = yaml.safe_load(editor.text)
    assert edited["headings"][0] == "Edited heading one"
    return run_dir


async def test_a_gate_in_the_tui_takes_an_edited_heading_into_the_paper(tmp_path: Path) -> None:
    run_dir = await _edit_the_outline_in_the_tui(Project.open(tmp_path, model=SchemaModel()), tmp_path, 60)
    assert "## Edited heading one" in (run_dir / "outputs" / "paper.md").read_text()


@pytest.mark.server
async def test_a_gate_in_the_tui_on_the_real_model(endpoint: Endpoint, tmp_path: Path) -> None:
    run_dir = await _edit_the_outline_in_the_tui(Project.open(tmp_path, endpoint=endpoint), tmp_path, 300)
    paper = (run_dir / "outputs" / "paper.md").read_text()
    assert "## Edited heading one" in paper and "## References" in paper
