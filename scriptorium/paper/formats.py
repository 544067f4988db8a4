"""A composed paper in the formats it is delivered in: Markdown, JSON (the paper as data), BibTeX.

References are per source document, numbered in order of first citation; a document's cited
chunks are its locations (character ranges). A reference names a document by its title and by its
path within the folder it was ingested from, or its URL, never by this machine's absolute path.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ..memory.store import Hit
from .compose import ComposedPaper, Sentence

__all__ = ["PAPER_FORMAT", "Reference", "markdown", "paper_json", "references", "bibtex"]

PAPER_FORMAT = 2
"""Version of `outputs/paper.json`: 2 added the lead, the closing's role, quotations and the
per-document references."""


class Reference(BaseModel):
    n: int
    title: str
    location: str
    """Path within the ingested folder, or URL."""
    kind: str
    keys: list[str]
    """Its chunks cited in the paper."""
    spans: list[str]
    """Those chunks' character ranges in the document (`start-end`)."""


def location_of(hit: Hit) -> str:
    location = str(hit.metadata.get("location") or "")
    if location:
        return location
    if hit.source.startswith(("http://", "https://")):
        return hit.source
    return Path(hit.source).name


def references(paper: ComposedPaper, hits: dict[str, Hit]) -> list[Reference]:
    """One entry per cited document, in order of first citation."""
    order: dict[str, Reference] = {}
    for sentence in paper.sentences:
        for key in sentence.citations:
            hit = hits.get(key)
            if hit is None:
                continue
            ref = order.get(hit.source)
            if ref is None:
                ref = order[hit.source] = Reference(
                    n=len(order) + 1,
                    title=hit.title,
                    location=location_of(hit),
                    kind=str(hit.metadata.get("kind", "file")),
                    keys=[],
                    spans=[],
                )
            if key not in ref.keys:
                ref.keys.append(key)
                ref.spans.append(f"{hit.metadata.get('start', '?')}-{hit.metadata.get('end', '?')}")
    return list(order.values())


def markdown(paper: ComposedPaper, refs: list[Reference]) -> str:
    number = {key: ref.n for ref in refs for key in ref.keys}

    def paragraph(sentences: list[Sentence]) -> str:
        rendered = []
        for s in sentences:
            marks = "".join(f"[{n}]" for n in dict.fromkeys(number[k] for k in s.citations if k in number))
            rendered.append(s.text + (f" {marks}" if marks else ""))
        return " ".join(rendered)

    lines = [f"# {paper.title}", ""]
    if paper.lead:
        lines += [paragraph(paper.lead), ""]
    for section in paper.sections:
        lines += [f"## {section.heading}", ""]
        for chunk in _paragraphs(section.sentences):
            lines += [paragraph(chunk), ""]
    if refs:
        lines += ["## References", ""]
        lines += [f"[{r.n}] {r.title}. {r.location}" for r in refs]
        lines.append("")
    return "\n".join(lines)


def paper_json(
    paper: ComposedPaper, refs: list[Reference], chunks: dict[str, str], memory: dict[str, str]
) -> dict[str, Any]:
    def dump(sentences: list[Sentence]) -> list[dict[str, Any]]:
        return [{"text": s.text, "citations": s.citations, "quote": s.quote} for s in sentences]

    return {
        "format": PAPER_FORMAT,
        "title": paper.title,
        "topic": paper.topic,
        "memory": memory,
        "lead": dump(paper.lead),
        "sections_asked": paper.sections_asked,
        "sections": [
            {"heading": s.heading, "role": s.role, "paragraphs": [dump(p) for p in _paragraphs(s.sentences)]}
            for s in paper.sections
        ],
        "references": [r.model_dump() for r in refs],
        "chunks": chunks,
        "notes": paper.notes,
    }


def bibtex(refs: list[Reference]) -> str:
    entries = []
    for ref in refs:
        key = re.sub(r"[^A-Za-z0-9]+", "_", f"ref{ref.n}_{Path(ref.location).stem}")
        title = ref.title.replace("{", "").replace("}", "")
        entries.append(
            f"@misc{{{key},\n  title = {{{title}}},\n  howpublished = {{{ref.location}}},\n"
            f"  note = {{chunks {', '.join(ref.spans)}}}\n}}\n"
        )
    return "\n".join(entries) if entries else "% no references\n"


def _paragraphs(sentences: list[Sentence], size: int = 4) -> list[list[Sentence]]:
    if not sentences:
        return []
    count = -(-len(sentences) // size)  # as few paragraphs as fit, of even length
    per = -(-len(sentences) // count)
    return [sentences[i : i + per] for i in range(0, len(sentences), per)]
