"""The project's vector memory: one Chroma collection on disk, shared by every agent and run.

- One process owns a store folder at a time (a lock file): Chroma is thread-safe but concurrent
  writer processes on one folder corrupt or hang it. Many processes (and machines) share one store
  through a Chroma server instead (`chroma run`, `memory.url`): the server serializes the writes.
- Embeddings are ours (local MiniLM), passed in explicitly, so Chroma never loads its downloading
  default; the embedder's name and dimension live in the collection metadata and a mismatch is refused.
- Chunk ids are the source's hash plus the chunk's offsets: adding the same chunks again (say, after a
  crash) is an idempotent upsert. Citation keys are short and stable (`rag-basics:3`): a source keeps
  its slug for as long as it is in the store.
- Ingesting never stops at a bad input: a path that cannot be read is `failed`, a file with no text
  (binary, unknown encoding, unsupported type) `skipped`, each with its reason, and the rest is stored.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal
from urllib.parse import urlsplit

import httpx
import numpy as np
from numpy.typing import NDArray

from ..errors import EmbeddingMismatch, MemoryStoreError, StoreLocked
from ..events import MemoryHit, MemoryHits, MemoryQuery, emit
from .chunking import split_text
from .embeddings import LocalEmbedder
from .ingest_report import FileOutcome, IngestReport, Progress
from .loaders import Document, UnreadableFile, load_document
from .paths import PathProblem, describe_os_error, expand_paths, walk

__all__ = [
    "LARGE_FILE_BYTES",
    "FileOutcome",
    "Hit",
    "IngestReport",
    "MemoryStore",
    "SourceKind",
    "expand_paths",
]

log = logging.getLogger(__name__)

SourceKind = Literal["file", "web", "note"]
_LOCK_NAME = "scriptorium.lock"
_EMBED_BATCH = 4096  # chunks embedded and written together: the encoder sorts each batch by length, and
# larger batches mean less padding (measured: 512 gave 0.76x raw encode speed)
_PROGRESS_SLICE = 32  # chunks embedded between two progress reports: on 2 CPU cores MiniLM embeds
# about 5-10 chunks of 1,200 characters a second (measured), so a report every few seconds; the batch
# is sorted by length first, so slicing it adds no padding
LARGE_FILE_BYTES = 5 * 1024 * 1024
"""Files larger than this are announced before they are read: embedding one takes many minutes on a CPU."""


@dataclass(frozen=True)
class Hit:
    """One retrieved chunk."""

    key: str
    """Citation key, e.g. `rag-basics:3`."""
    text: str
    score: float
    """Cosine similarity to the query (1 is identical)."""
    source: str
    title: str
    heading: str
    metadata: dict[str, Any]


@dataclass
class _Planned:
    """A document's chunks, ready to embed and write."""

    source: str
    slug: str
    old_ids: list[str]
    ids: list[str]
    texts: list[str]
    metadatas: list[dict[str, str | int | float | bool]]
    warnings: tuple[str, ...] = ()

    @property
    def outcome(self) -> FileOutcome:
        return FileOutcome(
            source=self.source,
            status="replaced" if self.old_ids else "added",
            chunks=len(self.ids),
            warnings=self.warnings,
        )


class MemoryStore:
    """Open with `MemoryStore(path, collection)`; close it (or use `with`) to release the lock."""

    def __init__(
        self,
        path: Path,
        collection: str = "default",
        *,
        embedder: LocalEmbedder | None = None,
        chunk_size: int = 1200,
        chunk_overlap: int = 200,
        url: str | None = None,
    ) -> None:
        """`url` (`http://HOST:PORT` of a `chroma run` server) replaces the folder at `path`."""
        self.path = path
        self.url = url
        self.collection = collection
        self.embedder = embedder or LocalEmbedder()
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self._lock_file: IO[str] | None = None
        if url is None:
            path.mkdir(parents=True, exist_ok=True)
            self._lock_file = _acquire(path / _LOCK_NAME)
        try:
            self._client = _chroma_server_client(url) if url else _chroma_client(path)
            self._collection = self._open_collection(_collection_name(collection))
        except BaseException:
            self._release()
            raise

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._release()

    def count(self) -> int:
        return int(self._collection.count())

    # -- writing ---------------------------------------------------------------------------------

    def ingest(
        self,
        paths: Iterable[Path],
        on_file: Callable[[FileOutcome], None] | None = None,
        *,
        on_warning: Callable[[str, str], None] | None = None,
        on_chunks: Callable[[int, int], None] | None = None,
        large_file_bytes: int = LARGE_FILE_BYTES,
        max_file_bytes: int | None = None,
    ) -> IngestReport:
        """Add files (folders are walked); unchanged files add nothing, changed ones are replaced.

        Chunks of several files are embedded together in large batches: per-file batches of a few
        chunks would leave most of the embedding model's throughput unused. A path that cannot be
        read is reported `failed` and one with no text `skipped`; the others are stored all the same.

        `on_file` hears each file's outcome once it is read and planned (its chunks are embedded
        and written with their batch after); `on_warning(source, message)` hears a warning as soon
        as it is known (a file over `large_file_bytes`, before it is read); `on_chunks(embedded,
        planned)` hears the chunks embedded so far every few seconds. Files over `max_file_bytes`
        are skipped unread.
        """
        report = IngestReport()
        progress = Progress(on_chunks) if on_chunks is not None else None

        def done(outcome: FileOutcome) -> None:
            report.outcomes.append(outcome)
            if on_file is not None:
                on_file(outcome)

        def warn(source: str, message: str) -> None:
            log.info("%s: %s", source, message)
            if on_warning is not None:
                on_warning(source, message)

        pending: list[_Planned] = []
        for item in walk(paths):
            if isinstance(item, PathProblem):
                done(FileOutcome(source=str(item.path), status="failed", reason=item.reason))
                continue
            path = item.path
            try:
                size = path.stat().st_size
                if max_file_bytes is not None and size > max_file_bytes:
                    reason = f"{_size(size)}, over the size limit of {_size(max_file_bytes)}"
                    done(FileOutcome(source=str(path), status="skipped", reason=reason))
                    continue
                warnings: list[str] = []
                if size > large_file_bytes:
                    warnings.append(
                        f"large file ({_size(size)}): embedding it can take many minutes on a CPU"
                    )
                    warn(str(path), warnings[-1])
                document = load_document(path)
            except UnreadableFile as exc:
                log.info("skipping %s: %s", path, exc)
                done(FileOutcome(source=str(path), status="skipped", reason=exc.message))
                continue
            except OSError as exc:  # gone, or made unreadable, since the walk found it
                done(FileOutcome(source=str(path), status="failed", reason=describe_os_error(path, exc)))
                continue
            for note in document.notes:
                warnings.append(note)
                warn(str(path), note)
            planned = self._plan(
                document, "file", reserved={p.slug: p.source for p in pending}, location=item.location
            )
            if isinstance(planned, FileOutcome):
                done(planned.model_copy(update={"warnings": tuple(warnings)}))
                continue
            planned.warnings = tuple(warnings)
            pending.append(planned)
            if progress is not None:
                progress.plan(len(planned.ids))
            done(planned.outcome)  # progress per file; the write follows with its batch
            if sum(len(p.ids) for p in pending) >= _EMBED_BATCH:
                self._write(pending, progress)
                pending = []
        self._write(pending, progress)
        return report

    def add_document(self, document: Document, *, kind: SourceKind = "file") -> FileOutcome:
        planned = self._plan(document, kind, reserved={})
        if isinstance(planned, FileOutcome):
            return planned
        self._write([planned])
        return planned.outcome

    def _plan(
        self, document: Document, kind: SourceKind, reserved: dict[str, str], location: str | None = None
    ) -> _Planned | FileOutcome:
        """What adding `document` takes, or its outcome when nothing is to be done."""
        content_hash = hashlib.sha256(document.text.encode("utf-8")).hexdigest()
        existing = self._collection.get(where={"source": document.source}, include=["metadatas"])
        old_ids: list[str] = list(existing["ids"])
        old_meta = existing["metadatas"] or []
        if old_ids and all(m.get("content_hash") == content_hash for m in old_meta):
            return FileOutcome(source=document.source, status="unchanged", chunks=len(old_ids))
        slug = str(old_meta[0]["slug"]) if old_meta else self._new_slug(document.source, reserved)
        chunks = split_text(document.text, self.chunk_size, self.chunk_overlap)
        source_id = hashlib.sha256(document.source.encode("utf-8")).hexdigest()[:16]
        now = datetime.now(UTC).isoformat(timespec="seconds")
        return _Planned(
            source=document.source,
            slug=slug,
            old_ids=old_ids,
            ids=[f"{source_id}:{c.start}-{c.end}" for c in chunks],
            texts=[c.text for c in chunks],
            metadatas=[
                {
                    "key": f"{slug}:{index}",
                    "slug": slug,
                    "source": document.source,
                    "title": document.title,
                    "heading": chunk.heading,
                    "kind": kind,
                    # What a reference shows: the path within the folder ingested (or the file's
                    # name, or a URL), never this machine's absolute path.
                    "location": location
                    or (Path(document.source).name if kind == "file" else document.source),
                    "start": chunk.start,
                    "end": chunk.end,
                    "chunk_index": index,
                    "content_hash": content_hash,
                    "ingested_at": now,
                }
                for index, chunk in enumerate(chunks)
            ],
        )

    def _write(self, planned: list[_Planned], progress: Progress | None = None) -> None:
        if not planned:
            return
        stale = [old for p in planned for old in p.old_ids]
        if stale:
            self._collection.delete(ids=stale)
        ids = [i for p in planned for i in p.ids]
        texts = [t for p in planned for t in p.texts]
        metadatas = [m for p in planned for m in p.metadatas]
        vectors = self._embed(texts, progress)
        limit = self._client.get_max_batch_size()
        for offset in range(0, len(ids), limit):
            window = slice(offset, offset + limit)
            self._collection.upsert(
                ids=ids[window],
                embeddings=vectors[window],
                documents=texts[window],
                metadatas=metadatas[window],
            )

    def _embed(self, texts: list[str], progress: Progress | None) -> NDArray[np.float32]:
        """The texts' embeddings; with `progress`, embedded a slice at a time and told after each."""
        if progress is None:
            return self.embedder.embed(texts)
        # Longest first, as the encoder orders one call's texts itself: slices of this order pad
        # as little as one call over all of them would.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        vectors = np.empty((len(texts), self.embedder.dimension), dtype=np.float32)
        for start in range(0, len(order), _PROGRESS_SLICE):
            part = order[start : start + _PROGRESS_SLICE]
            vectors[part] = self.embedder.embed([texts[i] for i in part])
            progress.embed(len(part))
        return vectors

    def add_note(self, text: str, *, source: str, title: str = "", kind: SourceKind = "note") -> list[str]:
        """Record text found at run time (a web result, an agent's note) with its provenance."""
        if not text.strip():
            return []
        self.add_document(Document(source=source, title=title or source, text=text), kind=kind)
        found = self._collection.get(where={"source": source}, include=["metadatas"])
        metas = sorted(found["metadatas"] or [], key=lambda m: int(m["chunk_index"]))
        return [str(m["key"]) for m in metas]

    def remove_source(self, source: str) -> int:
        found = self._collection.get(where={"source": source}, include=[])
        if found["ids"]:
            self._collection.delete(ids=found["ids"])
        return len(found["ids"])

    # -- reading ---------------------------------------------------------------------------------

    def query(
        self,
        text: str,
        k: int = 5,
        sources: Sequence[str] | None = None,
        *,
        vector: NDArray[np.float32] | None = None,
    ) -> list[Hit]:
        """The `k` chunks nearest to `text`; pass its embedding as `vector` when already computed."""
        emit(MemoryQuery(query=text, k=k, sources=list(sources) if sources else None))
        where: dict[str, Any] | None = None
        if sources:
            where = {"source": sources[0]} if len(sources) == 1 else {"source": {"$in": list(sources)}}
        result = self._collection.query(
            query_embeddings=self.embedder.embed([text]) if vector is None else vector[None, :],
            n_results=k,
            where=where,
            include=["documents", "metadatas", "distances"],
        )
        hits = [
            _hit(doc, meta, 1.0 - float(distance))
            for doc, meta, distance in zip(
                (result["documents"] or [[]])[0],
                (result["metadatas"] or [[]])[0],
                (result["distances"] or [[]])[0],
                strict=True,
            )
        ]
        emit(
            MemoryHits(
                query=text,
                hits=[MemoryHit(key=h.key, source=h.source, score=h.score, text=h.text[:300]) for h in hits],
            )
        )
        return hits

    def get(self, key: str) -> Hit | None:
        found = self._collection.get(where={"key": key}, include=["documents", "metadatas"])
        if not found["ids"]:
            return None
        return _hit((found["documents"] or [""])[0], (found["metadatas"] or [{}])[0], 1.0)

    def chunks_of(self, sources: Sequence[str]) -> list[Hit]:
        """Every chunk of these sources, in document order (score 1.0)."""
        if not sources:
            return []
        where = {"source": sources[0]} if len(sources) == 1 else {"source": {"$in": list(sources)}}
        found = self._collection.get(where=where, include=["documents", "metadatas"])
        hits = [
            _hit(doc, meta, 1.0)
            for doc, meta in zip(found["documents"] or [], found["metadatas"] or [], strict=True)
        ]
        return sorted(hits, key=lambda h: (h.source, int(h.metadata.get("chunk_index", 0))))

    def texts(self) -> list[str]:
        """The text of every chunk (what a copy check compares a paper with)."""
        return list(self._collection.get(include=["documents"])["documents"] or [])

    def sources(self) -> dict[str, str]:
        """Every source in the store with its title."""
        found = self._collection.get(include=["metadatas"])
        return {str(m["source"]): str(m["title"]) for m in found["metadatas"] or []}

    # -- internals -------------------------------------------------------------------------------

    def _open_collection(self, name: str) -> Any:
        wanted = {"embedding_model": self.embedder.name, "embedding_dim": self.embedder.dimension}
        # get-or-create in one call: two processes opening a new collection on a server at once
        # would otherwise both try to create it (the second failed with "already exists").
        collection = self._client.get_or_create_collection(
            name,
            metadata={**wanted, "created_by": "scriptorium"},
            configuration={"hnsw": {"space": "cosine"}},
            embedding_function=None,
        )
        recorded = collection.metadata or {}
        if (recorded.get("embedding_model"), recorded.get("embedding_dim")) != tuple(wanted.values()):
            raise EmbeddingMismatch(
                f"the memory collection '{name}' in {self.location} was built with "
                f"{recorded.get('embedding_model')} ({recorded.get('embedding_dim')} dims), "
                f"not {wanted['embedding_model']} ({wanted['embedding_dim']} dims)",
                hint="use the embedding model it was built with, or re-ingest into a new collection",
            )
        return collection

    @property
    def location(self) -> str:
        """Where the store is: its server's URL or its folder."""
        return self.url or str(self.path)

    def _new_slug(self, source: str, reserved: dict[str, str]) -> str:
        """A short, readable slug for a new source, unique in the store and in `reserved` (slug: source)."""
        stem = re.sub(r"[^a-z0-9]+", "-", Path(source.split("?")[0].rstrip("/")).stem.lower()).strip("-")
        base = (stem or "source")[:40]
        slug, suffix = base, hashlib.sha256(source.encode("utf-8")).hexdigest()
        index = 4
        while self._slug_owner(slug, reserved) not in (None, source):
            slug = f"{base}-{suffix[:index]}"
            index += 1
        return slug

    def _slug_owner(self, slug: str, reserved: dict[str, str]) -> str | None:
        if slug in reserved:
            return reserved[slug]
        taken = self._collection.get(where={"slug": slug}, limit=1, include=["metadatas"])
        return str((taken["metadatas"] or [{}])[0].get("source")) if taken["ids"] else None

    def _release(self) -> None:
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None


def _hit(document: str | None, meta: Any, score: float) -> Hit:
    return Hit(
        key=str(meta.get("key", "")),
        text=document or "",
        score=score,
        source=str(meta.get("source", "")),
        title=str(meta.get("title", "")),
        heading=str(meta.get("heading", "")),
        metadata=dict(meta),
    )


def _collection_name(name: str) -> str:
    # Chroma: 3-512 chars of [a-zA-Z0-9._-], starting and ending alphanumeric.
    cleaned = re.sub(r"[^a-zA-Z0-9._-]+", "-", name).strip("-._") or "default"
    return cleaned if len(cleaned) >= 3 else f"{cleaned}-memory"


def _size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    return f"{size / 1024:.1f} KB" if size >= 1024 else f"{size} bytes"


def _acquire(lock_path: Path) -> IO[str]:
    handle = lock_path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "unknown"
        handle.close()
        raise StoreLocked(
            f"the memory store {lock_path.parent} is in use by another process (pid {owner})",
            hint="wait for it to finish; one process writes a store at a time",
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def _chromadb() -> Any:
    # Chroma's anonymized telemetry is off before chromadb is even imported: nothing phones home.
    os.environ["ANONYMIZED_TELEMETRY"] = "False"
    try:
        import chromadb
    except ImportError as exc:
        raise MemoryStoreError("the memory store needs chromadb", hint="run scripts/setup.sh") from exc
    return chromadb


def _chroma_client(path: Path) -> Any:
    chromadb = _chromadb()
    from chromadb.config import Settings as ChromaSettings

    return chromadb.PersistentClient(
        path=str(path), settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    )


def _chroma_server_client(url: str) -> Any:
    """Chroma's HTTP client for the server at `url`; a server that does not answer is an error
    naming it and how to start one."""
    chromadb = _chromadb()
    from chromadb.config import Settings as ChromaSettings

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MemoryStoreError(
            f"memory.url '{url}' is not an http(s)://HOST:PORT address", hint="e.g. http://127.0.0.1:8000"
        )
    port = parts.port or (443 if parts.scheme == "https" else 8000)
    base = f"{parts.scheme}://{parts.hostname}:{port}"
    try:
        # Chroma's own client waits without a timeout: ask the heartbeat first, with one.
        httpx.get(f"{base}/api/v2/heartbeat", timeout=5.0).raise_for_status()
        client = chromadb.HttpClient(
            host=base, settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        )
    except (httpx.HTTPError, ValueError) as exc:  # chromadb wraps a refused connection in ValueError
        raise MemoryStoreError(
            f"cannot reach the Chroma server at {url} ({type(exc).__name__}: {str(exc)[:200]})",
            hint=f"start one there: `chroma run --path DIR --host {parts.hostname} --port {port}`, "
            "or unset memory.url to use the local folder",
        ) from exc
    return client
