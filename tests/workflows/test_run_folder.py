"""The run folder's summary: one typed reader; an older folder reads, a newer or broken one is
refused with the file, the field or both format numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scriptorium.workflows.run_folder import RUN_FORMAT, RunFolderError, read_run_summary

OLDER = {  # as session 6 wrote it: no format number
    "workflow": "paper",
    "engine": "autogen",
    "status": "succeeded",
    "error": None,
    "inputs": {"topic": "tides"},
    "outputs": {"words": 420},
    "duration_s": 12.5,
    "prompt_tokens": 100,
    "completion_tokens": 50,
    "finished_at": 1.0,
    "steps": {
        "survey": {"status": "succeeded", "duration_s": 1.0, "prompt_tokens": 0, "completion_tokens": 0}
    },
}


def _folder(tmp_path: Path, data: object) -> Path:
    (tmp_path / "summary.json").write_text(json.dumps(data))
    return tmp_path


def test_an_older_folder_reads_as_format_0(tmp_path: Path) -> None:
    summary = read_run_summary(_folder(tmp_path, OLDER))
    assert summary is not None and summary.format == 0
    assert summary.status == "succeeded" and summary.steps["survey"].duration_s == 1.0


def test_a_folder_without_a_summary_is_a_run_not_finished(tmp_path: Path) -> None:
    assert read_run_summary(tmp_path) is None


def test_a_newer_or_broken_summary_is_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match=rf"format {RUN_FORMAT + 1}.*reads up to {RUN_FORMAT}"):
        read_run_summary(_folder(tmp_path, {**OLDER, "format": RUN_FORMAT + 1}))
    broken = {k: v for k, v in OLDER.items() if k != "status"}
    with pytest.raises(RunFolderError, match=r"summary\.json: field 'status'"):
        read_run_summary(_folder(tmp_path, broken))
    (tmp_path / "summary.json").write_text("{not json")
    with pytest.raises(RunFolderError, match="not JSON"):
        read_run_summary(tmp_path)
