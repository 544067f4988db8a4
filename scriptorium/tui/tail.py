"""Following a trace file another process is still writing: new complete lines only, each once."""

from __future__ import annotations

from pathlib import Path

from ..events import CorruptLine, Event
from ..events.trace import parse_line

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
            item = parse_line(self._line_no, raw.decode("utf-8", errors="replace"))
            if item is not None:
                items.append(item)
        return items
