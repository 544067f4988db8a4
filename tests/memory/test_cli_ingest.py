"""`scriptorium ingest` end to end: real store in the project folder, summary line, skips."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from typer.testing import CliRunner

from scriptorium.cli import app
from scriptorium.memory import LocalEmbedder, MemoryStore

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
    assert f"not read {tmp_path / 'nope'}: does not exist" in result.output


def test_bad_paths_cost_nothing_else_and_exit_2_after(tmp_path: Path, embedder: LocalEmbedder) -> None:
    """A missing path and a symlink loop are listed with their reasons, the good files are stored,
    a binary file is skipped and a Latin-1 one read with a warning; the exit code says 2 (bad input)."""
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(CORPUS / "rag.md", docs / "rag.md")
    (docs / "noise.md").write_bytes(bytes(range(256)) * 16)
    (docs / "cafe.md").write_bytes("# Café\n\nUn café très apprécié.\n".encode("cp1252"))
    (docs / "loop.md").symlink_to(docs / "loop.md")
    (tmp_path / "scriptorium.toml").write_text('[memory]\ncollection = "cli-bad-input"\n')
    result = CliRunner().invoke(app, ["ingest", str(tmp_path / "missing.md"), str(docs)])
    assert result.exit_code == 2, result.output
    output = " ".join(result.output.split())  # the console wraps long lines
    assert f"not read {tmp_path / 'missing.md'}: does not exist" in output
    assert f"not read {docs / 'loop.md'}: a symlink loop" in output
    assert f"skipped {docs / 'noise.md'}: binary: not text" in output
    assert f"warning {docs / 'cafe.md'}: not UTF-8: read as Windows Latin-1 (cp1252)" in output
    summary = "chunks added, 0 replaced, 0 unchanged, 1 skipped, 2 could not be read, 1 with warnings"
    assert re.search(rf"5 files: [1-9]\d* {summary}", output), output
    with MemoryStore(tmp_path / ".scriptorium" / "memory", "cli-bad-input", embedder=embedder) as store:
        assert set(store.sources()) == {str(docs / "rag.md"), str(docs / "cafe.md")}
        assert "très apprécié" in store.chunks_of([str(docs / "cafe.md")])[0].text
