"""Plain-text helpers shared by assembly and evaluation, so both cut sentences the same way."""

from __future__ import annotations

import re

__all__ = ["split_sentences", "strip_markers", "words"]

_SENTENCE_END = re.compile(
    r"(?<=[.!?])(?<!\b[A-Z]\.)(?<!\bMr\.)(?<!\bMs\.)(?<!\bDr\.)(?<!\bSt\.)(?<!\bMrs\.)(?<!\bNo\.)"
    r"(?<!\bvs\.)(?<!\bJr\.)(?<!\bSr\.)\s+(?=[A-Z0-9\"'(\[])"
)
"""A sentence ends at . ! ? before a capital, digit or quote, but not after an initial ("John J.
Smith") or a common abbreviation ("Dr.", "St.")."""
_MARKER = re.compile(r"\s*\[(?:\d+(?:\s*[,-]\s*\d+)*|[A-Za-z0-9_.:-]+:\d+)\]")
"""A numbered marker `[3]`, `[1, 4]`, `[2-5]`, or a raw citation key `[slug:7]`."""


def split_sentences(text: str) -> list[str]:
    """Sentences of a paragraph: cut after . ! ? followed by space and a capital, digit or quote."""
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]


def strip_markers(text: str) -> str:
    """`text` without citation markers, so they do not sway an embedding."""
    return _MARKER.sub("", text).strip()


def words(text: str) -> int:
    return len(text.split())
