"""A run folder's `summary.json` as a typed model, and the one reader every consumer uses.

The summary carries a format number. A folder written before the number existed reads as format 0
(the same fields); one written by a newer Scriptorium is refused with both numbers, never misread.
A summary that is not JSON or lacks a field is an error naming the file and the field.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..errors import ConfigError
from ..fileio import read_versioned_json, write_json_atomic

__all__ = [
    "RUN_FORMAT",
    "BatchRunSummary",
    "RunFolderError",
    "RunSummary",
    "StepSummary",
    "TaskResult",
    "read_batch_run_summary",
    "read_run_summary",
    "write_batch_run_summary",
    "write_run_summary",
]

RUN_FORMAT = 1
"""The summary format this version writes and reads (0: written before the number was added)."""


class RunFolderError(ConfigError):
    """A run folder's summary that cannot be read: broken, incomplete, or from a newer version."""


class StepSummary(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: str
    duration_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None


class RunSummary(BaseModel):
    """What a finished (or failed) run says about itself."""

    model_config = ConfigDict(extra="ignore")  # a later minor addition must not break older readers

    format: int = RUN_FORMAT
    workflow: str
    engine: str = "autogen"
    status: str
    error: str | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, Any] = Field(default_factory=dict)
    duration_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finished_at: float = Field(default_factory=time.time)
    steps: dict[str, StepSummary] = Field(default_factory=dict)


def write_run_summary(run_dir: Path, summary: RunSummary) -> None:
    write_json_atomic(run_dir / "summary.json", summary.model_dump(mode="json"))


def read_run_summary(run_dir: Path) -> RunSummary | None:
    """The run's summary; None when it has none (a run never finished or still going)."""
    path = run_dir / "summary.json"
    if not path.is_file():
        return None
    return read_versioned_json(path, RunSummary, RUN_FORMAT, RunFolderError)


class TaskResult(BaseModel):
    """One task of a batch, as the batch's summary.json records it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    status: str
    duration_s: float
    prompt_tokens: int
    completion_tokens: int
    run_dir: str
    outputs: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None


class BatchRunSummary(BaseModel):
    """What a batch folder's summary.json says: every task's result and the totals."""

    model_config = ConfigDict(extra="ignore")

    format: int = RUN_FORMAT
    workflow: str
    tasks: int
    succeeded: int
    failed: int
    prompt_tokens: int = 0
    completion_tokens: int = 0
    results: list[TaskResult] = Field(default_factory=list)


def write_batch_run_summary(batch_dir: Path, summary: BatchRunSummary) -> None:
    write_json_atomic(batch_dir / "summary.json", summary.model_dump(mode="json"))


def read_batch_run_summary(batch_dir: Path) -> BatchRunSummary | None:
    """The batch's summary; None before the batch has written one."""
    path = batch_dir / "summary.json"
    if not path.is_file():
        return None
    return read_versioned_json(path, BatchRunSummary, RUN_FORMAT, RunFolderError)
