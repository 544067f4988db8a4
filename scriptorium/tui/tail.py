"""Following a trace file another process is still writing: new complete lines only, each once."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from ..events import CorruptLine, Event
from ..events.models import EventAdapter

__all__ = ["TraceTail"]


class TraceTail:
    """Call `read()` as often as you like: it returns what was appended since the last call. A last
    line without its newline is a writer mid-line: it waits for the rest."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""
        self._line_no = 0

    def read(self) -> list[Event | CorruptLine]:
        try:
            with self.path.open("rb") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
        except FileNotFoundError:
            return []
        if not chunk:
            return []
        self._offset += len(chunk)
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        items: list[Event | CorruptLine] = []
        for raw in lines:
            self._line_no += 1
            text = raw.decode("utf-8", errors="replace").strip()
            if not text:
                continue
            try:
                items.append(EventAdapter.validate_json(text))
            except ValidationError as exc:
                items.append(CorruptLine(self._line_no, text[:200], str(exc.errors()[0]["msg"])))
        return items
