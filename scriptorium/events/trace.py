"""`trace.jsonl`: one event a line, flushed line by line so another process can follow the run."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pydantic import ValidationError

from .models import Event, EventAdapter

__all__ = ["CorruptLine", "TraceWriter", "parse_line", "read_trace"]


class TraceWriter:
    """An event sink appending to a trace file; whole lines only, from any thread."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file: IO[str] | None = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def handle(self, event: Event) -> None:
        line = event.model_dump_json() + "\n"
        with self._lock:
            if self._file is None:
                return
            self._file.write(line)
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


@dataclass(frozen=True)
class CorruptLine:
    """A line of a trace that does not parse: shown as an error, never a crash."""

    line_no: int
    text: str
    error: str


def read_trace(path: Path, *, complete_only: bool = True) -> Iterator[Event | CorruptLine]:
    """Events of a trace in order. A last line without its newline is a run still writing:
    it is skipped when `complete_only`, else reported as corrupt."""
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.endswith("\n") and complete_only:
                return
            item = parse_line(line_no, line)
            if item is not None:
                yield item


def parse_line(line_no: int, line: str) -> Event | CorruptLine | None:
    """One trace line as its event, a `CorruptLine`, or None when blank."""
    text = line.strip()
    if not text:
        return None
    try:
        return EventAdapter.validate_json(text)
    except ValidationError as exc:
        return CorruptLine(line_no, text[:200], str(exc.errors()[0]["msg"]))
