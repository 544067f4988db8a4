"""A recorded trace of a real paper run (tests/data/runs/paper: produced by `scriptorium run paper`
on examples/corpus with the bundled model), and helpers to copy it and compare screenshots."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from textual.app import App

RECORDED = Path(__file__).parents[1] / "data" / "runs" / "paper"
SNAPSHOTS = Path(__file__).parent / "snapshots"


@pytest.fixture
def recorded_run(tmp_path: Path) -> Path:
    """A copy of the recorded run folder, safe to modify."""
    target = tmp_path / "run"
    shutil.copytree(RECORDED, target)
    return target


def assert_snapshot(app: App[object], name: str) -> None:
    """The app's screen as SVG, compared to tests/tui/snapshots/NAME.svg. A missing snapshot is
    written and the test fails; SCRIPTORIUM_UPDATE_SNAPSHOTS=1 rewrites them all."""
    svg = app.export_screenshot(title=name)
    path = SNAPSHOTS / f"{name}.svg"
    if os.environ.get("SCRIPTORIUM_UPDATE_SNAPSHOTS") == "1" or not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(svg)
        pytest.fail(f"snapshot {path.name} written: look at it, then run again")
    if svg != path.read_text():
        (path.parent / f"{name}.actual.svg").write_text(svg)
        pytest.fail(f"{name} differs from {path} (the new screen is in {name}.actual.svg)")
