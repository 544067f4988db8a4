"""A finished paper run as data: `outputs/paper.json`, written by the `assemble_paper` step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import ScriptoriumError, plain_message
from ..paper.formats import PAPER_FORMAT
from ..workflows.run_folder import RunFolderError, read_run_summary

__all__ = ["EvaluationError", "PaperData", "load_paper"]


class EvaluationError(ScriptoriumError):
    """A run folder, reference outline or corpus that cannot be evaluated."""


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")  # newer writers may add fields; we read what we know


class PaperSentence(_Loose):
    text: str
    citations: list[str] = []
    quote: bool = False


class PaperSection(_Loose):
    heading: str
    role: str = "body"
    """`body` or `closing` (format 1 papers have body sections only)."""
    paragraphs: list[list[PaperSentence]] = []

    @property
    def sentences(self) -> list[PaperSentence]:
        return [s for paragraph in self.paragraphs for s in paragraph]


class MemoryRef(_Loose):
    path: Path
    collection: str


class EvidencePassage(_Loose):
    title: str = ""
    source: str = ""
    text: str


class PaperData(_Loose):
    format: Literal[1, 2]
    title: str
    topic: str
    memory: MemoryRef | None = None
    lead: list[PaperSentence] = []
    sections: list[PaperSection]
    sections_asked: int | None = None
    evidence: dict[str, EvidencePassage] = {}
    chunks: dict[str, str] = {}
    """Every cited key that resolved, with its chunk's text."""


def load_paper(run_dir: Path) -> PaperData:
    """The paper of `run_dir`, or an `EvaluationError` that says what is wrong with the folder."""
    if not run_dir.is_dir():
        raise EvaluationError(f"{run_dir} is not a folder")
    path = run_dir / "outputs" / "paper.json"
    if not path.is_file():
        if (run_dir / "outputs" / "paper.md").is_file():
            raise EvaluationError(
                f"{run_dir} was made by an older Scriptorium (it has paper.md but no paper.json)",
                hint="run the paper again with this version of Scriptorium",
            )
        status = _status(run_dir)
        raise EvaluationError(
            f"{run_dir} holds no finished paper (no outputs/paper.json; run status: {status})",
            hint=f"finish the run first: scriptorium run --resume {run_dir}",
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EvaluationError(f"{path} is not readable JSON: {exc}") from exc
    if isinstance(data, dict) and data.get("format") not in (1, PAPER_FORMAT):
        raise EvaluationError(
            f"{path} is in format {data.get('format')!r}; this Scriptorium reads format {PAPER_FORMAT}",
            hint="evaluate it with the Scriptorium version that wrote it, or re-run the paper",
        )
    try:
        paper = PaperData.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "top level"
        raise EvaluationError(f"{path} is damaged: {where}: {plain_message(first)}") from exc
    if paper.memory is not None and not paper.memory.path.is_absolute():
        # Written relative to the run folder, so that no output names this machine's paths.
        paper.memory.path = (run_dir / paper.memory.path).resolve()
    return paper


def _status(run_dir: Path) -> str:
    try:
        summary = read_run_summary(run_dir)
    except RunFolderError as exc:
        return f"unknown ({exc.message})"
    return summary.status if summary else "unknown (no summary.json)"
