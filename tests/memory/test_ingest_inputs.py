"""Bad input to ingest is reported by name and costs nothing else: binary files are skipped, Latin-1
keeps its accents with a warning, a missing path or a symlink loop does not stop the good files, a
large file is announced before it is read, and progress comes while a long batch embeds."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from scriptorium.memory import LocalEmbedder, MemoryStore
from scriptorium.memory.decoding import CP1252_NOTE, Decoded, NotText, decode_text

from ..helpers import CORPUS

FRENCH = (
    "# Café littéraire\n\nLe café de la place est très apprécié : à côté, un garçon lit Noël "
    "et Hélène écrit à sa sœur déçue.\n"
)


@pytest.mark.parametrize(
    "noise",
    [
        random.Random(1).randbytes(4096),  # NUL bytes among them, as in any binary file
        bytes(b or 1 for b in random.Random(2).randbytes(4096)),  # none: its control characters tell
    ],
    ids=["with-nul", "without-nul"],
)
def test_binary_file_named_md_is_skipped_with_a_reason_and_not_stored(
    store: MemoryStore, tmp_path: Path, noise: bytes
) -> None:
    (tmp_path / "noise.md").write_bytes(noise)
    report = store.ingest([tmp_path / "noise.md", CORPUS / "rag.md"])
    assert [o.status for o in report.outcomes] == ["skipped", "added"]
    assert report.outcomes[0].reason.startswith("binary: not text ("), report.outcomes[0].reason
    assert set(store.sources()) == {str(CORPUS / "rag.md")}


def test_latin1_file_keeps_its_accents_and_says_how_it_was_read(store: MemoryStore, tmp_path: Path) -> None:
    latin = tmp_path / "cafe.md"
    latin.write_bytes(FRENCH.encode("cp1252"))
    heard: list[tuple[str, str]] = []
    report = store.ingest([latin], on_warning=lambda source, message: heard.append((source, message)))
    [outcome] = report.outcomes
    assert outcome.status == "added"
    assert outcome.warnings == (CP1252_NOTE,) and "cp1252" in CP1252_NOTE
    assert heard == [(str(latin), CP1252_NOTE)]
    assert report.summary().endswith(", 1 with warnings")
    [chunk] = store.chunks_of([str(latin)])
    assert chunk.text == FRENCH.strip()
    assert chunk.title == "Café littéraire"
    assert "\ufffd" not in chunk.text


def test_utf8_with_a_byte_order_mark_is_read_without_a_warning(store: MemoryStore, tmp_path: Path) -> None:
    marked = tmp_path / "cafe.md"
    marked.write_bytes(FRENCH.encode("utf-8-sig"))
    [outcome] = store.ingest([marked]).outcomes
    assert outcome.status == "added" and outcome.warnings == ()
    assert store.chunks_of([str(marked)])[0].text.startswith("# Café")  # the mark is not in the text


def test_decoding_refuses_what_it_would_only_guess() -> None:
    assert decode_text(FRENCH.encode("utf-16")) == Decoded(
        FRENCH, "read as UTF-16 (it starts with a byte order mark)"
    )
    cyrillic = "Мороз и солнце; день чудесный! Ещё ты дремлешь, друг прелестный. " * 5
    refused = decode_text(cyrillic.encode("koi8_r"))
    assert isinstance(refused, NotText) and refused.reason.startswith("neither UTF-8 nor")
    assert isinstance(decode_text(b"PK\x03\x04\x14\x00\x00\x00"), NotText)  # a zip file's start


def test_missing_path_is_reported_and_the_good_files_are_stored(store: MemoryStore, tmp_path: Path) -> None:
    report = store.ingest([tmp_path / "nope.md", CORPUS / "rag.md", tmp_path / "gone"])
    assert [(o.status, o.source) for o in report.outcomes] == [
        ("failed", str(tmp_path / "nope.md")),
        ("added", str(CORPUS / "rag.md")),
        ("failed", str(tmp_path / "gone")),
    ]
    assert {o.reason for o in report.failed} == {"does not exist"}
    assert report.summary().endswith(", 2 could not be read")
    assert set(store.sources()) == {str(CORPUS / "rag.md")}
    assert store.count() == report.count("added") > 0


def test_symlink_loop_and_broken_link_are_named_as_such(store: MemoryStore, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.md").write_text("# Good\n\nA readable note about retrieval.\n")
    os.symlink(docs / "loop-b.md", docs / "loop-a.md")
    os.symlink(docs / "loop-a.md", docs / "loop-b.md")
    os.symlink(tmp_path / "nowhere.md", docs / "broken.md")
    os.symlink(docs, docs / "back")  # a folder linking to itself is not followed, so no loop
    report = store.ingest([docs / "loop-a.md", docs])
    reasons = {Path(o.source).name: o.reason for o in report.failed}
    assert set(reasons) == {"loop-a.md", "loop-b.md", "broken.md"}
    assert reasons["loop-a.md"].startswith("a symlink loop") and "does not exist" not in reasons["loop-a.md"]
    assert reasons["loop-b.md"].startswith("a symlink loop")
    assert reasons["broken.md"] == f"a broken symlink: its target {tmp_path / 'nowhere.md'} does not exist"
    assert [o.source for o in report.outcomes if o.status == "added"] == [str(docs / "good.md")]
    assert len(report.outcomes) == 4  # loop-a.md once, though named and found in the folder


def test_large_file_is_announced_before_it_is_read_and_can_be_skipped(
    store: MemoryStore, tmp_path: Path
) -> None:
    big = tmp_path / "big.md"
    big.write_text("# Big\n\n" + "Long prose about vector search. " * 40 + "\n")
    small = tmp_path / "small.md"
    small.write_text("# Small\n\nShort.\n")
    events: list[str] = []
    report = store.ingest(
        [big, small],
        on_file=lambda outcome: events.append(f"file {Path(outcome.source).name}"),
        on_warning=lambda source, message: events.append(f"warning {Path(source).name}: {message}"),
        large_file_bytes=1000,
    )
    size = f"{big.stat().st_size / 1024:.1f} KB"
    assert events == [
        f"warning big.md: large file ({size}): embedding it can take many minutes on a CPU",
        "file big.md",
        "file small.md",
    ]
    assert report.outcomes[0].warnings and not report.outcomes[1].warnings
    big.write_text(big.read_text() + "More.\n")
    skipped = store.ingest([big, small], max_file_bytes=1000)
    assert [o.status for o in skipped.outcomes] == ["skipped", "unchanged"]
    size = f"{big.stat().st_size / 1024:.1f} KB"
    assert skipped.outcomes[0].reason == f"{size}, over the size limit of 1000 bytes"
    kept = " ".join(h.text for h in store.chunks_of([str(big)]))
    assert "vector search" in kept and "More." not in kept  # not read, so not replaced either


def test_progress_comes_while_a_batch_embeds_and_every_chunk_keeps_its_vector(
    tmp_path: Path, embedder: LocalEmbedder
) -> None:
    topics = ["volcanoes erupt lava", "penguins swim in cold seas", "bakers knead bread dough"]
    paragraphs = [f"Paragraph {i} tells how {topics[i % 3]}." + " word" * (i % 7) for i in range(70)]
    note = tmp_path / "note.md"
    note.write_text("\n\n".join(paragraphs) + "\n")
    heard: list[tuple[int, int]] = []
    with MemoryStore(tmp_path / "m", "p", embedder=embedder, chunk_size=100, chunk_overlap=0) as store:
        report = store.ingest([note], on_chunks=lambda done, planned: heard.append((done, planned)))
        total = report.count("added")
        assert total == store.count() > 64
        assert heard[0] == (0, total) and heard[-1] == (total, total)
        assert [done for done, _ in heard] == sorted(done for done, _ in heard)
        assert any(0 < done < total for done, _ in heard)  # told before the batch is done
        # The slices are embedded longest first; each vector must still land on its own chunk.
        for hit in store.query("how penguins swim in cold seas", k=5):
            assert "penguins" in hit.text
