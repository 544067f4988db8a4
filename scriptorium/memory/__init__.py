"""Shared vector memory: a Chroma store with local embeddings, ingestion and retrieval with citation keys."""

from __future__ import annotations

from ..config import Settings
from .chunking import Chunk, split_text
from .embeddings import BUNDLED_EMBEDDER, LocalEmbedder
from .loaders import SUPPORTED_SUFFIXES, Document, UnreadableFile, load_document
from .store import FileOutcome, Hit, IngestReport, MemoryStore

__all__ = [
    "BUNDLED_EMBEDDER",
    "SUPPORTED_SUFFIXES",
    "Chunk",
    "Document",
    "FileOutcome",
    "Hit",
    "IngestReport",
    "LocalEmbedder",
    "MemoryStore",
    "UnreadableFile",
    "load_document",
    "open_store",
    "split_text",
]


def open_store(settings: Settings, embedder: LocalEmbedder | None = None) -> MemoryStore:
    """The project's store as configured (`[memory]` in scriptorium.toml)."""
    return MemoryStore(
        settings.memory_path,
        settings.memory_collection,
        embedder=embedder,
        chunk_size=settings.memory.chunk_size,
        chunk_overlap=settings.memory.chunk_overlap,
        url=settings.memory.url,
    )
