"""`eval.json`: what `scriptorium eval paper` and `eval batch` write, with a format number, and the
one reader every consumer uses (an older file is read as format 0; a newer one is refused)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from ..fileio import read_versioned_json, write_json_atomic
from .batch import BatchEval
from .judge import JudgeReport
from .paper import EvaluationError
from .scoring import PaperEval

__all__ = ["EVAL_FORMAT", "BatchReport", "PaperReport", "read_eval", "write_eval"]

EVAL_FORMAT = 1
"""The eval.json format this version writes and reads (0: written before the number was added)."""


class PaperReport(PaperEval):
    """One paper's evaluation, and the judge's verdict when one was asked."""

    format: int = EVAL_FORMAT
    kind: Literal["paper"] = "paper"
    judge: JudgeReport | None = None


class BatchReport(BatchEval):
    """Every paper of a batch, and the batch's means."""

    format: int = EVAL_FORMAT
    kind: Literal["batch"] = "batch"


def write_eval(path: Path, report: PaperReport | BatchReport) -> None:
    write_json_atomic(path, report.model_dump(mode="json"))


def read_eval(path: Path) -> PaperReport | BatchReport:
    """An eval.json, paper or batch (a format-0 file says which by its fields)."""
    if not path.is_file():
        raise EvaluationError(f"{path}: no such file", hint="write one with `scriptorium eval paper|batch`")
    try:
        peek = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        peek = {}  # the reader below says what is wrong with it
    kind = (
        peek.get("kind", "batch" if "batch_dir" in peek else "paper") if isinstance(peek, dict) else "paper"
    )
    model: type[PaperReport] | type[BatchReport] = BatchReport if kind == "batch" else PaperReport
    return read_versioned_json(path, model, EVAL_FORMAT, EvaluationError, upgrade={"kind": kind})
