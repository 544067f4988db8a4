"""The memory store on real Chroma on disk with the real local embedding model."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scriptorium.errors import EmbeddingMismatch, StoreLocked
from scriptorium.memory import LocalEmbedder, MemoryStore
from scriptorium.memory.embeddings import bundled_model_dir

from ..helpers import CORPUS, make_pdf


def test_corpus_ingests_and_answers_with_stable_keys(store: MemoryStore) -> None:
    files = len(list(CORPUS.glob("*.md")))
    first = store.ingest([CORPUS])
    assert len(first.outcomes) == files and not first.skipped
    assert first.count("added") == store.count() > files
    hits = store.query("How does low-rank adaptation reduce the trainable parameters?", k=3)
    assert hits[0].source.endswith("lora.md")
    assert hits[0].key.startswith("lora:")
    assert 0 < hits[-1].score <= hits[0].score <= 1
    again = store.ingest([CORPUS])
    assert (
        again.summary() == f"{files} files: 0 chunks added, 0 replaced, {store.count()} unchanged, 0 skipped"
    )
    same = store.query("How does low-rank adaptation reduce the trainable parameters?", k=3)
    assert [h.key for h in same] == [h.key for h in hits]


def test_reopened_store_keeps_everything(tmp_path: Path, embedder: LocalEmbedder) -> None:
    with MemoryStore(tmp_path / "m", "p", embedder=embedder) as store:
        store.ingest([CORPUS / "vllm.md"])
        count = store.count()
    with MemoryStore(tmp_path / "m", "p", embedder=embedder) as store:
        assert store.count() == count
        assert store.query("continuous batching", k=1)[0].key.startswith("vllm:")


def test_changed_file_replaces_its_chunks(store: MemoryStore, tmp_path: Path) -> None:
    note = tmp_path / "note.md"
    note.write_text("# Note\n\nThe speed of light is about 300,000 km per second.\n")
    assert store.ingest([note]).count("added") == 1
    note.write_text("# Note\n\nWater boils at 100 degrees Celsius at sea level.\n\nIce melts at 0 degrees.\n")
    report = store.ingest([note])
    assert report.outcomes[0].status == "replaced"
    assert store.count() == report.count("replaced")
    assert "speed of light" not in " ".join(h.text for h in store.query("speed of light", k=5))
    assert store.query("boiling water", k=1)[0].key == "note:0"  # the source keeps its slug


def test_same_file_name_in_two_folders_gets_distinct_keys(store: MemoryStore, tmp_path: Path) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "intro.md").write_text(
            f"# Intro {folder}\n\nFolder {folder} introduction text.\n"
        )
    store.ingest([tmp_path / "a", tmp_path / "b"])
    keys = {h.source: h.key for h in store.query("introduction", k=2)}
    assert len(set(keys.values())) == 2
    assert keys[str(tmp_path / "a" / "intro.md")] == "intro:0"


def test_sources_filter(store: MemoryStore) -> None:
    store.ingest([CORPUS])
    only = str(CORPUS / "agents.md")
    hits = store.query("key-value cache memory", k=3, sources=[only])
    assert hits and {h.source for h in hits} == {only}


def test_notes_and_web_results_keep_provenance(store: MemoryStore) -> None:
    keys = store.add_note(
        "Hybrid retrieval mixes BM25 with dense vectors.",
        source="https://example.org/hybrid",
        title="Hybrid retrieval",
        kind="web",
    )
    hit = store.get(keys[0])
    assert hit is not None
    assert hit.source == "https://example.org/hybrid"
    assert hit.metadata["kind"] == "web" and hit.title == "Hybrid retrieval"
    assert hit.key == "hybrid:0"


def test_pdf_and_html_are_ingested(store: MemoryStore, tmp_path: Path) -> None:
    make_pdf(
        tmp_path / "paper.pdf",
        "Speculative Decoding",
        ["A draft model proposes tokens.", "The target model verifies them in one pass."],
    )
    (tmp_path / "page.html").write_text(
        "<html><head><title>Beam Search</title><script>var hidden = 'tracking';</script></head>"
        "<body><nav>menu</nav><h1>Beam search</h1><p>Beam search keeps the k best partial "
        "sequences at each step.</p></body></html>"
    )
    report = store.ingest([tmp_path / "paper.pdf", tmp_path / "page.html"])
    assert [o.status for o in report.outcomes] == ["added", "added"]
    pdf_hit = store.query("draft model verification", k=1)[0]
    assert pdf_hit.title == "Speculative Decoding" and "verifies them" in pdf_hit.text
    html_hit = store.query("beam search partial sequences", k=1)[0]
    assert html_hit.title == "Beam Search" and html_hit.heading == "Beam search"
    assert "tracking" not in html_hit.text and "menu" not in html_hit.text


def test_unreadable_files_are_skipped_without_aborting(store: MemoryStore, tmp_path: Path) -> None:
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    report = store.ingest([tmp_path / "broken.pdf", tmp_path / "image.png", CORPUS / "rag.md"])
    assert [o.status for o in report.outcomes] == ["skipped", "skipped", "added"]
    assert "unsupported file type" in report.outcomes[1].reason
    assert report.summary().endswith("2 skipped")


def test_other_embedding_model_is_refused(tmp_path: Path, embedder: LocalEmbedder) -> None:
    with MemoryStore(tmp_path / "m", "p", embedder=embedder) as store:
        store.ingest([CORPUS / "rag.md"])
    other = LocalEmbedder(bundled_model_dir(), name="another-embedder")
    with pytest.raises(EmbeddingMismatch, match="all-MiniLM-L6-v2"):
        MemoryStore(tmp_path / "m", "p", embedder=other)
    # The refusal released the lock: the right model still opens it.
    with MemoryStore(tmp_path / "m", "p", embedder=embedder) as store:
        assert store.count() > 0


def test_a_second_process_is_refused_clearly(store: MemoryStore) -> None:
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from scriptorium.memory import MemoryStore\n"
        "from scriptorium.errors import StoreLocked\n"
        "try:\n"
        f"    MemoryStore(Path({str(store.path)!r}), 'test-project')\n"
        "except StoreLocked as exc:\n"
        "    print(exc)\n"
        "    sys.exit(3)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 3, result.stderr
    assert "in use by another process" in result.stdout
    assert f"pid {os.getpid()}" in result.stdout


def test_lock_is_released_on_close(tmp_path: Path, embedder: LocalEmbedder) -> None:
    store = MemoryStore(tmp_path / "m", "p", embedder=embedder)
    with pytest.raises(StoreLocked):
        MemoryStore(tmp_path / "m", "p", embedder=embedder)
    store.close()
    MemoryStore(tmp_path / "m", "p", embedder=embedder).close()


def test_copying_a_corpus_file_keeps_chunk_ids_deterministic(store: MemoryStore, tmp_path: Path) -> None:
    shutil.copy(CORPUS / "lora.md", tmp_path / "lora.md")
    store.ingest([tmp_path / "lora.md"])
    ids_before = store._collection.get(include=[])["ids"]
    store.remove_source(str(tmp_path / "lora.md"))
    store.ingest([tmp_path / "lora.md"])
    assert sorted(store._collection.get(include=[])["ids"]) == sorted(ids_before)


def test_a_file_named_twice_is_ingested_once(store: MemoryStore) -> None:
    report = store.ingest([CORPUS / "rag.md", CORPUS, CORPUS / "rag.md"])
    assert len(report.outcomes) == len(list(CORPUS.glob("*.md"))) and not report.skipped
