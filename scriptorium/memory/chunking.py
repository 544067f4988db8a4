"""Split a document into overlapping chunks on headings and paragraphs, keeping true offsets.

Every chunk is `text[start:end]` of the original document, so a citation can point at exact
characters. Chunks never straddle a heading; paragraphs are packed up to `size` characters; a
paragraph longer than that is cut at whitespace; consecutive chunks share whole paragraphs (or
pieces) up to `overlap` characters so a sentence at a boundary is found from either side.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Chunk", "split_text"]

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.M)
# A paragraph: from a non-space to the last non-space before a blank line (or the end).
_PARAGRAPH = re.compile(r"\S(?:.*?\S)?(?=[ \t]*\n[ \t]*\n|\s*\Z)", re.S)


@dataclass(frozen=True)
class Chunk:
    start: int
    end: int
    text: str
    heading: str
    """The nearest heading above the chunk ('' before the first one)."""


def split_text(text: str, size: int = 1200, overlap: int = 200) -> list[Chunk]:
    if size < 100:
        raise ValueError("chunk size must be at least 100 characters")
    if not 0 <= overlap < size:
        raise ValueError("chunk overlap must be >= 0 and smaller than the chunk size")
    chunks: list[Chunk] = []
    for sec_start, sec_end, heading in _sections(text):
        units = [
            piece
            for match in _PARAGRAPH.finditer(text, sec_start, sec_end)
            for piece in _cut(text, match.start(), match.end(), size)
        ]
        for start, end in _pack(units, size, overlap):
            chunks.append(Chunk(start, end, text[start:end], heading))
    return chunks


def _sections(text: str) -> list[tuple[int, int, str]]:
    headings = list(_HEADING.finditer(text))
    bounds = [(0, "")] + [(m.start(), m.group(2).strip()) for m in headings]
    sections = []
    for index, (start, heading) in enumerate(bounds):
        end = bounds[index + 1][0] if index + 1 < len(bounds) else len(text)
        if text[start:end].strip():
            sections.append((start, end, heading))
    return sections


def _cut(text: str, start: int, end: int, size: int) -> list[tuple[int, int]]:
    """A paragraph as pieces of at most `size` characters, cut at whitespace where possible."""
    pieces = []
    while end - start > size:
        cut = text.rfind(" ", start + size // 2, start + size)
        cut = cut if cut > start else start + size
        pieces.append((start, cut))
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if start < end:
        pieces.append((start, end))
    return pieces


def _pack(units: list[tuple[int, int]], size: int, overlap: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    current: list[tuple[int, int]] = []
    for unit in units:
        if current and unit[1] - current[0][0] > size:
            spans.append((current[0][0], current[-1][1]))
            # Carry the tail of the finished chunk that fits in `overlap` (whole units only).
            carried: list[tuple[int, int]] = []
            for previous in reversed(current):
                if current[-1][1] - previous[0] > overlap or unit[1] - previous[0] > size:
                    break
                carried.insert(0, previous)
            current = carried
        current.append(unit)
    if current:
        spans.append((current[0][0], current[-1][1]))
    return spans
