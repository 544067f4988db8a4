"""eval.json: written with its format number, read back by the one reader, older files read as
format 0, newer or broken ones refused with the file and the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scriptorium.evaluation import (
    EVAL_FORMAT,
    BatchReport,
    EvaluationError,
    PaperReport,
    read_eval,
    write_eval,
)
from scriptorium.evaluation.batch import BatchSummary, TaskEval

SUMMARY = BatchSummary(
    papers=2, evaluated=1, complete=1, dangling=0, cited_share=1.0, supported_share=0.9,
    grounded_share=0.8, heading_soft_recall=None, repeated_share=0.0, topic_similarity=0.5,
)  # fmt: skip


def batch_report() -> BatchReport:
    return BatchReport(batch_dir="b", tasks=[TaskEval(task="t1"), TaskEval(task="t2")], summary=SUMMARY)


def test_a_batch_report_round_trips_with_its_format_and_kind(tmp_path: Path) -> None:
    write_eval(tmp_path / "eval.json", batch_report())
    written = json.loads((tmp_path / "eval.json").read_text())
    assert written["format"] == EVAL_FORMAT and written["kind"] == "batch"
    back = read_eval(tmp_path / "eval.json")
    assert isinstance(back, BatchReport) and [t.task for t in back.tasks] == ["t1", "t2"]
    assert back.summary.supported_share == 0.9


def test_an_older_file_without_a_format_is_read_as_format_0(tmp_path: Path) -> None:
    old = batch_report().model_dump(mode="json")
    del old["format"], old["kind"]  # as eval wrote it before the number existed
    (tmp_path / "eval.json").write_text(json.dumps(old))
    back = read_eval(tmp_path / "eval.json")
    assert isinstance(back, BatchReport) and back.format == 0


def test_a_paper_report_is_told_from_a_batch_one(tmp_path: Path) -> None:
    fields = {name: None for name, f in PaperReport.model_fields.items() if f.is_required()}
    (tmp_path / "eval.json").write_text(json.dumps({**fields, "run_dir": "r", "title": "T", "topic": "t"}))
    with pytest.raises(EvaluationError, match=r"eval\.json: field 'sections_planned'"):
        read_eval(tmp_path / "eval.json")  # read as a paper (no batch_dir), its first bad field named


def test_a_newer_format_and_a_broken_file_are_refused_with_the_file(tmp_path: Path) -> None:
    newer = batch_report().model_dump(mode="json") | {"format": EVAL_FORMAT + 1}
    (tmp_path / "new.json").write_text(json.dumps(newer))
    with pytest.raises(EvaluationError, match=f"format {EVAL_FORMAT + 1}, written by a newer"):
        read_eval(tmp_path / "new.json")
    (tmp_path / "broken.json").write_text('{"batch_dir": ')
    with pytest.raises(EvaluationError, match=r"broken\.json: not JSON"):
        read_eval(tmp_path / "broken.json")
    with pytest.raises(EvaluationError, match="no such file"):
        read_eval(tmp_path / "missing.json")
