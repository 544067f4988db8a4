"""The run's corpus for grounding: the memory collection the run retrieved from, opened read-only
in spirit (nothing is written) and once per evaluation however many papers share it."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

from ..errors import MemoryStoreError
from ..memory import LocalEmbedder, MemoryStore
from ..paper.checks import CopyIndex
from .paper import EvaluationError, PaperData
from .scoring import CorpusSearch

__all__ = ["CorpusStores"]


class CorpusStores:
    """Opens each (store folder, collection) a paper names, once; close it (or use `with`)."""

    def __init__(self, embedder: LocalEmbedder) -> None:
        self.embedder = embedder
        self._stores: dict[tuple[Path, str], MemoryStore] = {}
        self._copies: dict[tuple[Path, str], CopyIndex] = {}
        self._exit = ExitStack()

    def __enter__(self) -> CorpusStores:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._exit.close()

    def search_for(self, paper: PaperData, run_dir: Path) -> CorpusSearch:
        store = self._store(paper, run_dir)
        return lambda text, vector, k: [hit.text for hit in store.query(text, k, vector=vector)]

    def copies_for(self, paper: PaperData, run_dir: Path) -> CopyIndex:
        """The word n-grams of the whole corpus the paper was written from (built once per store)."""
        store = self._store(paper, run_dir)
        where = (store.path, store.collection)
        if where not in self._copies:
            self._copies[where] = CopyIndex(store.texts())
        return self._copies[where]

    def _store(self, paper: PaperData, run_dir: Path) -> MemoryStore:
        if paper.memory is None:
            raise EvaluationError(
                f"{run_dir} does not say which memory it used, so grounding cannot be measured"
            )
        where = (paper.memory.path, paper.memory.collection)
        if where not in self._stores:
            if not (paper.memory.path / "chroma.sqlite3").is_file():
                raise EvaluationError(
                    f"the memory {paper.memory.path} that {run_dir.name} retrieved from is gone",
                    hint="evaluate on the machine and project the run was made in",
                )
            try:
                store = MemoryStore(paper.memory.path, paper.memory.collection, embedder=self.embedder)
            except MemoryStoreError as exc:
                raise EvaluationError(f"cannot open the run's memory: {exc.message}", hint=exc.hint) from exc
            self._exit.callback(store.close)
            if store.count() == 0:
                raise EvaluationError(
                    f"the memory collection '{paper.memory.collection}' in {paper.memory.path} is empty",
                    hint="grounding needs the corpus the run used; ingest it again with scriptorium ingest",
                )
            self._stores[where] = store
        return self._stores[where]
