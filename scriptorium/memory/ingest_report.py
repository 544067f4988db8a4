"""What an `ingest` call did, file by file, and its progress as it goes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["FileOutcome", "IngestReport", "Progress"]


class FileOutcome(BaseModel):
    """What ingesting one path did: `skipped` has no text to give, `failed` could not be read."""

    model_config = ConfigDict(frozen=True)

    source: str
    status: Literal["added", "replaced", "unchanged", "skipped", "failed"]
    chunks: int = 0
    reason: str = ""
    """Why it was skipped or failed."""
    warnings: tuple[str, ...] = ()
    """What to know about a file that was stored (read as cp1252, very large)."""


class IngestReport(BaseModel):
    outcomes: list[FileOutcome] = []

    def count(self, status: str) -> int:
        """Chunks of the files with this status."""
        return sum(o.chunks for o in self.outcomes if o.status == status)

    @property
    def skipped(self) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.status == "skipped"]

    @property
    def failed(self) -> list[FileOutcome]:
        """Paths that could not be read (missing, a symlink loop, no permission)."""
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def warned(self) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.warnings]

    def summary(self) -> str:
        text = (
            f"{len(self.outcomes)} files: {self.count('added')} chunks added, "
            f"{self.count('replaced')} replaced, {self.count('unchanged')} unchanged, "
            f"{len(self.skipped)} skipped"
        )
        if self.failed:
            text += f", {len(self.failed)} could not be read"
        if self.warned:
            text += f", {len(self.warned)} with warnings"
        return text


@dataclass
class Progress:
    """Chunks planned and embedded so far in one `ingest` call, told to its `on_chunks`."""

    on_chunks: Callable[[int, int], None]
    planned: int = 0
    embedded: int = 0

    def plan(self, chunks: int) -> None:
        self.planned += chunks
        self.on_chunks(self.embedded, self.planned)

    def embed(self, chunks: int) -> None:
        self.embedded += chunks
        self.on_chunks(self.embedded, self.planned)
