"""`scriptorium ingest` end to end: real store in the project folder, summary line, skips."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from typer.testing import CliRunner

from scriptorium.cli import app

from ..helpers import CORPUS


def test_ingest_twice_reports_added_then_unchanged(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(CORPUS, docs)
    (docs / "notes.xyz").write_text("not a supported type")
    (tmp_path / "scriptorium.toml").write_text('[memory]\ncollection = "cli-test"\n')
    runner = CliRunner()
    first = runner.invoke(app, ["ingest", str(docs)])
    assert first.exit_code == 0, first.output
    files = len(list(CORPUS.iterdir())) + 1
    match = re.search(rf"{files} files: (\d+) chunks added, 0 replaced, 0 unchanged, 1 skipped", first.output)
    assert match, first.output
    assert "notes.xyz: unsupported file type" in first.output
    assert (tmp_path / ".scriptorium" / "memory").is_dir()
    second = runner.invoke(app, ["ingest", str(docs)])
    unchanged = match.group(1)
    assert f"{files} files: 0 chunks added, 0 replaced, {unchanged} unchanged, 1 skipped" in second.output


def test_ingest_of_a_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["ingest", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "Error" in result.output
