"""Chunking: true offsets, nothing lost, headings respected, sizes and overlap bounded."""

from __future__ import annotations

import itertools

import pytest

from scriptorium.memory.chunking import split_text

from ..helpers import CORPUS


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.glob("*.md")))
@pytest.mark.parametrize(("size", "overlap"), [(1200, 200), (300, 80), (120, 0)])
def test_every_character_is_in_some_chunk_at_its_true_offset(name: str, size: int, overlap: int) -> None:
    text = (CORPUS / name).read_text()
    chunks = split_text(text, size, overlap)
    positions = {i for c in chunks for i in range(c.start, c.end)}
    assert all(i in positions for i, ch in enumerate(text) if not ch.isspace())
    for chunk in chunks:
        assert chunk.text == text[chunk.start : chunk.end]
        assert len(chunk.text) <= size


def test_the_last_paragraph_with_a_trailing_newline_is_kept() -> None:
    chunks = split_text("# Title\n\nFirst.\n\nLast words.\n")
    assert chunks[-1].text.endswith("Last words.")


def test_chunks_never_straddle_a_heading_and_know_it() -> None:
    text = "Intro text.\n\n# One\n\nAlpha.\n\n## Two\n\nBeta.\n"
    chunks = split_text(text, 1000, 100)
    assert [(c.heading, c.text) for c in chunks] == [
        ("", "Intro text."),
        ("One", "# One\n\nAlpha."),
        ("Two", "## Two\n\nBeta."),
    ]


def test_overlap_carries_whole_paragraphs() -> None:
    paragraphs = [f"Paragraph {i} " + "word " * 20 for i in range(6)]
    chunks = split_text("\n\n".join(paragraphs), 300, 150)
    assert len(chunks) > 2
    for before, after in itertools.pairwise(chunks):
        assert after.start < before.end  # they share text
        assert after.text.startswith("Paragraph")


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        split_text("x", 50, 0)
    with pytest.raises(ValueError):
        split_text("x", 200, 200)
