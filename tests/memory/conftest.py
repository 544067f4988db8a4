from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scriptorium.memory import LocalEmbedder, MemoryStore


@pytest.fixture
def store(tmp_path: Path, embedder: LocalEmbedder) -> Iterator[MemoryStore]:
    with MemoryStore(tmp_path / "memory", "test-project", embedder=embedder) as opened:
        yield opened
