"""Deterministic steps of the paper workflow: gathering evidence and assembling the paper.

Neither calls a model. `gather_evidence` searches the shared memory (and the web when asked and
reachable) for one section and returns the passages with their citation keys; no passage at all is
an error, since a paper without sources is not one. `assemble_paper` writes `outputs/paper.md` with
numbered citations, `references.json`, `references.bib` and `citations.json`: every citation
resolved to its chunk, each cited sentence's support (cosine similarity to the cited chunks with
the local embedding model) and the sentences below the support threshold.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ...errors import ToolError, ToolUnavailable
from ...fileio import write_atomic, write_json_atomic
from ...memory.store import Hit
from ..base import ToolContext, tool
from .web_search import DdgsBackend

__all__ = ["assemble_paper", "gather_evidence"]

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


class EvidenceArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    topic: str = Field(min_length=1, max_length=300)
    heading: str = Field(min_length=1, max_length=200)
    questions: list[str] = Field(default_factory=list, max_length=6)
    queries: list[str] = Field(default_factory=list, max_length=6)
    k: int = Field(default=4, ge=1, le=10)
    web: bool = False


class Passage(BaseModel):
    key: str
    title: str
    source: str
    text: str
    score: float


class Evidence(BaseModel):
    heading: str
    citation_keys: list[str]
    """Not `keys`: in templates, `evidence.keys` would be the mapping's method."""
    passages: list[Passage]
    queries: list[str]
    web_error: str | None = None


@tool("gather_evidence", timeout_s=120)
async def gather_evidence(args: EvidenceArgs, ctx: ToolContext) -> Evidence:
    """Find the passages that best support one section (memory, and the web when enabled)."""
    store = ctx.memory
    if store is None:
        raise ToolUnavailable("this run has no memory store")
    queries = list(
        dict.fromkeys(q.strip() for q in [args.heading, *args.questions, *args.queries] if q.strip())
    )
    web_error = None
    if args.web:
        backend = ctx.web or DdgsBackend()
        try:
            results = await backend.search(f"{args.heading} {args.topic}", 3, timeout_s=15)
            for result in results:
                await asyncio.to_thread(
                    store.add_note, result.snippet, source=result.url, title=result.title, kind="web"
                )
        except ToolUnavailable as exc:
            web_error = exc.message
    best: dict[str, Any] = {}
    for query in queries[:6]:
        for hit in await asyncio.to_thread(store.query, f"{query} ({args.topic})", args.k):
            if hit.key not in best or hit.score > best[hit.key].score:
                best[hit.key] = hit
    if not best:
        raise ToolError(
            "no sources in memory for this section; "
            "ingest documents first (scriptorium ingest DIR, or run with --corpus DIR)"
        )
    chosen = sorted(best.values(), key=lambda h: h.score, reverse=True)[: args.k]
    return Evidence(
        heading=args.heading,
        citation_keys=[h.key for h in chosen],
        passages=[
            Passage(key=h.key, title=h.title, source=h.source, text=h.text[:900], score=round(h.score, 4))
            for h in chosen
        ],
        queries=queries,
        web_error=web_error,
    )


class DraftParagraph(BaseModel):
    text: str
    citations: list[str] = Field(default_factory=list)


class Draft(BaseModel):
    heading: str
    paragraphs: list[DraftParagraph]


class AssembleArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    topic: str
    drafts: list[Draft | None]
    evidence: list[Evidence]
    min_support: float = Field(default=0.35, ge=0, le=1)


class CitationCheck(BaseModel):
    section: str
    sentence: str
    keys: list[str]
    support: float


class AssembledPaper(BaseModel):
    paper: str
    """Path of paper.md, relative to the run folder."""
    references: int
    citations: int
    dangling: list[str]
    unsupported: int
    sections_written: int
    sections_planned: int


@tool("assemble_paper", timeout_s=300)
async def assemble_paper(args: AssembleArgs, ctx: ToolContext) -> AssembledPaper:
    """Write paper.md with numbered citations, the bibliography and the citation report."""
    if ctx.run_dir is None or ctx.memory is None:
        raise ToolUnavailable("assembling a paper needs the run folder and its memory")
    store = ctx.memory
    numbers: dict[str, int] = {}
    dangling: list[str] = []
    found: dict[str, Hit | None] = {}
    """Each cited key looked up once; None for a key that resolves to nothing."""
    lines = [f"# {args.title}", ""]
    checks_todo: list[tuple[str, str, list[str]]] = []
    written = 0
    for plan, draft in zip(args.evidence, args.drafts, strict=True):
        if draft is None or not draft.paragraphs:
            continue
        written += 1
        lines += [f"## {plan.heading}", ""]
        for paragraph in draft.paragraphs:
            marks = []
            cited = list(dict.fromkeys(paragraph.citations))  # a key cited twice is one citation
            for key in cited:
                if key not in found:
                    found[key] = await asyncio.to_thread(store.get, key)
                    if found[key] is None:
                        dangling.append(key)
                if found[key] is None:
                    continue
                numbers.setdefault(key, len(numbers) + 1)
                marks.append(f"[{numbers[key]}]")
            lines += [paragraph.text.strip() + (" " + "".join(marks) if marks else ""), ""]
            resolved = [k for k in cited if found[k] is not None]
            for sentence in _SENTENCE.split(paragraph.text.strip()):
                if resolved and len(sentence.split()) >= 3:
                    checks_todo.append((plan.heading, sentence, resolved))
    references = []
    for key, number in sorted(numbers.items(), key=lambda item: item[1]):
        hit = found[key]
        assert hit is not None
        references.append(
            {
                "n": number,
                "key": key,
                "title": hit.title,
                "source": hit.source,
                "kind": hit.metadata.get("kind", "file"),
            }
        )
    if references:
        lines += ["## References", ""]
        lines += [f"[{r['n']}] {r['title']}. {r['source']} ({r['key']})" for r in references]
        lines.append("")
    citation_count = sum(len(set(p.citations)) for d in args.drafts if d for p in d.paragraphs)
    chunks = {key: hit.text for key, hit in found.items() if hit is not None}
    checks = await asyncio.to_thread(_support, store.embedder, checks_todo, chunks)
    unsupported = [c for c in checks if c.support < args.min_support]
    outputs = ctx.run_dir / "outputs"
    write_atomic(outputs / "paper.md", "\n".join(lines))
    write_json_atomic(outputs / "references.json", references)
    write_atomic(outputs / "references.bib", _bibtex(references))
    write_json_atomic(
        outputs / "citations.json",
        {
            "min_support": args.min_support,
            "citations": citation_count,
            "dangling": dangling,
            "checks": [c.model_dump() for c in checks],
            "unsupported": [c.model_dump() for c in unsupported],
        },
    )
    return AssembledPaper(
        paper="outputs/paper.md",
        references=len(references),
        citations=citation_count,
        dangling=dangling,
        unsupported=len(unsupported),
        sections_written=written,
        sections_planned=len(args.evidence),
    )


def _support(
    embedder: Any, todo: list[tuple[str, str, list[str]]], chunks: dict[str, str]
) -> list[CitationCheck]:
    if not todo:
        return []
    keys = list(chunks)
    chunk_vectors = dict(zip(keys, embedder.embed([chunks[k] for k in keys]), strict=True))
    sentence_vectors = embedder.embed([sentence for _, sentence, _ in todo])
    checks = []
    for (section, sentence, cited), vector in zip(todo, sentence_vectors, strict=True):
        support = max(float(np.dot(vector, chunk_vectors[k])) for k in cited)
        checks.append(
            CitationCheck(section=section, sentence=sentence, keys=cited, support=round(support, 4))
        )
    return checks


def _bibtex(references: list[dict[str, Any]]) -> str:
    entries = []
    for ref in references:
        key = re.sub(r"[^A-Za-z0-9]+", "_", ref["key"])
        title = str(ref["title"]).replace("{", "").replace("}", "")
        entries.append(
            f"@misc{{{key},\n  title = {{{title}}},\n  howpublished = {{{ref['source']}}},\n"
            f"  note = {{Scriptorium citation key {ref['key']}}}\n}}\n"
        )
    return "\n".join(entries) if entries else "% no references\n"
