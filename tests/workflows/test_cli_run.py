"""`scriptorium run` as a user types it: the paper on the sample corpus, then a resume."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scriptorium.cli import app
from scriptorium.config import Settings
from scriptorium.serving import ServerState

from ..helpers import CORPUS

pytestmark = pytest.mark.server


def test_run_paper_then_resume_from_the_cli(
    managed_server: ServerState, session_env: Settings, tmp_path: Path
) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app, ["run", "paper", "--topic", "LoRA fine-tuning", "--sections", "2", "--corpus", str(CORPUS)]
    )
    assert result.exit_code == 0, result.output
    assert "succeeded" in result.output and "outputs/paper.md" in result.output
    run_dir = next((tmp_path / "runs").iterdir())
    assert (run_dir / "outputs" / "paper.md").is_file()
    assert json.loads((run_dir / "inputs.json").read_text())["topic"] == "LoRA fine-tuning"
    resumed = runner.invoke(app, ["run", "--resume", str(run_dir)])
    assert resumed.exit_code == 0, resumed.output
    assert "(from checkpoint)" in resumed.output
    assert not re.search(r"^✓ plan ", resumed.output, re.M)  # nothing ran again


def test_bad_inputs_are_reported_before_anything_starts(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run", "paper", "--sections", "9", "-i", "topik=x"])
    assert result.exit_code == 2  # bad input
    assert "missing required input 'topic'" in result.output
    assert "did you mean 'topic'" in result.output
    assert not (tmp_path / "runs").exists()
