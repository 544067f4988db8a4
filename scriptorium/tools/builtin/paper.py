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
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ...errors import ToolError, ToolUnavailable
from ...fileio import write_atomic, write_json_atomic
from ...memory.store import Hit
from ...text import split_sentences, strip_markers, words
from ..base import ToolContext, tool
from .web_search import DdgsBackend

__all__ = ["PAPER_FORMAT", "assemble_paper", "check_draft", "gather_evidence", "survey_sources"]

PAPER_FORMAT = 1
"""Version of `outputs/paper.json`, the paper as data: what `scriptorium eval` reads."""


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


class EvidenceSentence(BaseModel):
    id: str
    """`s1`, `s2`, … within one section's evidence: what a writer picks (an enum in its schema)."""
    key: str
    """Citation key of the passage it comes from."""
    text: str


class Evidence(BaseModel):
    heading: str
    citation_keys: list[str]
    """Not `keys`: in templates, `evidence.keys` would be the mapping's method."""
    passages: list[Passage]
    sentences: list[EvidenceSentence] = Field(default_factory=list)
    sentence_ids: list[str] = Field(default_factory=list)
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
        raise ToolError(_NO_SOURCES)
    chosen = sorted(best.values(), key=lambda h: h.score, reverse=True)[: args.k]
    sentences = [
        EvidenceSentence(id=f"s{n}", key=key, text=text)
        for n, (key, text) in enumerate(
            ((h.key, t) for h in chosen for t in _passage_sentences(h.text)), start=1
        )
    ]
    return Evidence(
        heading=args.heading,
        citation_keys=[h.key for h in chosen],
        passages=[
            Passage(key=h.key, title=h.title, source=h.source, text=h.text, score=round(h.score, 4))
            for h in chosen
        ],
        sentences=sentences,
        sentence_ids=[s.id for s in sentences],
        queries=queries,
        web_error=web_error,
    )


class SurveyArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    topic: str = Field(min_length=1, max_length=300)
    sections: int = Field(default=4, ge=1, le=8)
    breadth: int = Field(default=40, ge=5, le=200)
    """Chunks to look at."""


class Survey(BaseModel):
    headings: list[str]
    """Candidate section headings: titles of the most relevant distinct sources, best first, then
    headings within them."""
    sources: list[str]


@tool("survey_sources", timeout_s=120)
async def survey_sources(args: SurveyArgs, ctx: ToolContext) -> Survey:
    """What the memory holds on a topic: one candidate heading per relevant source document."""
    store = ctx.memory
    if store is None:
        raise ToolUnavailable("this run has no memory store")
    hits = await asyncio.to_thread(store.query, args.topic, args.breadth)
    if not hits:
        raise ToolError(_NO_SOURCES)
    floor = hits[0].score - _SURVEY_SPREAD  # far below the best match is another topic's source
    best: dict[str, Hit] = {}
    for hit in hits:
        if hit.score >= floor and hit.source not in best:
            best[hit.source] = hit
    # One heading per source first (its title), then the sub-headings of the best chunks, for a
    # corpus with fewer relevant documents than the sections asked for.
    subheadings = [
        h.heading.strip() for h in hits if h.source in best and h.heading.strip() not in ("", h.title.strip())
    ]
    titles = list(dict.fromkeys([h.title.strip() for h in best.values() if h.title.strip()] + subheadings))
    vectors = await asyncio.to_thread(store.embedder.embed, titles) if titles else np.zeros((0, 1))
    chosen: list[int] = []
    for i in range(len(titles)):  # best first, skipping a title close to one already chosen
        if all(float(vectors[i] @ vectors[j]) < _SAME_HEADING for j in chosen):
            chosen.append(i)
        if len(chosen) == args.sections:
            break
    return Survey(headings=[titles[i] for i in chosen], sources=list(best))


_NO_SOURCES = (
    "no sources in memory for this topic; "
    "ingest documents first (scriptorium ingest DIR, or run with --corpus DIR)"
)
_SURVEY_SPREAD = 0.25
_SAME_HEADING = 0.8


class DraftSentence(BaseModel):
    text: str
    cite: str | None = None
    pick: str | None = None
    """The evidence sentence this one restates (its passage is then the citation)."""


class Draft(BaseModel):
    heading: str
    sentences: list[DraftSentence]


class SentenceSupport(BaseModel):
    sentence: str
    cite: str
    support: float
    """Cosine to the cited passage."""
    closeness: float | None
    """Cosine to the evidence sentence it picked, when it picked one."""
    source: str
    """The picked evidence sentence, else the cited passage."""


class DraftCheck(BaseModel):
    ok: bool
    """Every sentence cites a given passage and is supported by it, and none repeats another."""
    unsupported: list[SentenceSupport]
    repeated: list[str]


class CheckArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    draft: Draft
    evidence: Evidence
    min_support: float = Field(default=0.5, ge=-1, le=1)
    min_closeness: float = Field(default=0.6, ge=-1, le=1)
    """How close a sentence must stay to the evidence sentence it picked."""


@tool("check_draft", timeout_s=120)
async def check_draft(args: CheckArgs, ctx: ToolContext) -> DraftCheck:
    """Score each sentence of a draft against the passage it cites (embedding cosine), for review."""
    store = ctx.memory
    if store is None:
        raise ToolUnavailable("checking a draft needs the run's memory (for its embedding model)")
    rows = [_resolve(s, args.evidence) for s in args.draft.sentences if s.text.strip()]
    scores = await asyncio.to_thread(_score_rows, store.embedder, rows)
    unsupported = [
        SentenceSupport(
            sentence=row.text,
            cite=row.cite or "",
            support=round(score.support, 4),
            closeness=None if score.closeness is None else round(score.closeness, 4),
            source=row.source or row.passage or "(no such passage)",
        )
        for row, score in zip(rows, scores, strict=True)
        if not score.passes(args.min_support, args.min_closeness)
    ]
    seen: set[str] = set()
    repeated = []
    for row in rows:
        if row.text.lower() in seen:
            repeated.append(row.text)
        seen.add(row.text.lower())
    return DraftCheck(
        ok=not unsupported and not repeated and bool(rows), unsupported=unsupported, repeated=repeated
    )


class AssembleArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    topic: str
    drafts: list[Draft | None]
    evidence: list[Evidence]
    min_support: float = Field(default=0.5, ge=-1, le=1)
    min_closeness: float = Field(default=0.6, ge=-1, le=1)
    """A sentence that drifted further than this from the evidence sentence it picked is replaced
    by that evidence sentence (or left out, when that is unsupported too)."""


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
    dropped: int
    extracted: int
    """Sentences replaced by the evidence sentence they restated too loosely."""
    sections_written: int
    sections_planned: int


@tool("assemble_paper", timeout_s=300)
async def assemble_paper(args: AssembleArgs, ctx: ToolContext) -> AssembledPaper:
    """Write paper.md with numbered citations, the bibliography, the citation report, paper.json."""
    if ctx.run_dir is None or ctx.memory is None:
        raise ToolUnavailable("assembling a paper needs the run folder and its memory")
    store = ctx.memory
    found: dict[str, Hit | None] = {}
    """Each cited key looked up once; None for a key that resolves to nothing."""
    dangling: list[str] = []
    checks: list[CitationCheck] = []
    dropped: list[CitationCheck] = []
    sections: list[dict[str, Any]] = []
    seen: set[str] = set()
    extracted = 0
    for plan, draft in zip(args.evidence, args.drafts, strict=True):
        rows = [_resolve(s, plan) for s in (draft.sentences if draft else []) if s.text.strip()]
        for row in rows:
            if row.cite and row.cite not in found:
                found[row.cite] = await asyncio.to_thread(store.get, row.cite)
                if found[row.cite] is None:
                    dangling.append(row.cite)
            hit = found.get(row.cite or "")
            row.passage = hit.text if hit is not None else None  # whole chunk, as eval reads it
            if hit is None:
                row.cite = None
        scores = await asyncio.to_thread(_score_rows, store.embedder, rows)
        kept: list[tuple[str, str | None, float]] = []
        for row, score in zip(rows, scores, strict=True):
            if score.passes(args.min_support, args.min_closeness):
                choice: tuple[str, str | None, float] | None = (row.text, row.cite, score.support)
            elif row.source and (score.source_support or -1.0) >= args.min_support:
                choice = (row.source, row.cite, score.source_support or 0.0)  # the evidence itself
                extracted += 1
            else:
                choice = None
            check = CitationCheck(
                section=plan.heading,
                sentence=choice[0] if choice else row.text,
                keys=[row.cite] if row.cite else [],
                support=round(choice[2] if choice else score.support, 4),
            )
            if choice is None:
                dropped.append(check)
            elif choice[0].lower() not in seen:  # a sentence said once is enough
                seen.add(choice[0].lower())
                kept.append(choice)
                checks.append(check)
        if not kept and rows and draft is not None:  # never empty a written section
            best = max(zip(rows, scores, strict=True), key=lambda pair: pair[1].support)
            kept.append((best[0].text, best[0].cite, best[1].support))
        sentences = [{"text": text, "citations": [cite] if cite else []} for text, cite, _ in kept]
        sections.append({"heading": plan.heading, "paragraphs": _paragraphs(sentences)})
    chunks = {key: hit.text for key, hit in found.items() if hit is not None}

    numbers: dict[str, int] = {}
    lines = [f"# {args.title}", ""]
    for section in sections:
        if not section["paragraphs"]:
            continue
        lines += [f"## {section['heading']}", ""]
        for paragraph in section["paragraphs"]:
            rendered = []
            for sentence in paragraph:
                marks = "".join(f"[{numbers.setdefault(k, len(numbers) + 1)}]" for k in sentence["citations"])
                rendered.append(sentence["text"] + (f" {marks}" if marks else ""))
            lines += [" ".join(rendered), ""]
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
    unsupported = [c for c in checks if c.keys and c.support < args.min_support]
    outputs = ctx.run_dir / "outputs"
    write_atomic(outputs / "paper.md", "\n".join(lines))
    write_json_atomic(outputs / "references.json", references)
    write_atomic(outputs / "references.bib", _bibtex(references))
    write_json_atomic(
        outputs / "citations.json",
        {
            "min_support": args.min_support,
            "citations": sum(len(c.keys) for c in checks),
            "dangling": dangling,
            "checks": [c.model_dump() for c in checks],
            "unsupported": [c.model_dump() for c in unsupported],
            "dropped": [c.model_dump() for c in dropped],
            "extracted": extracted,
        },
    )
    write_json_atomic(
        outputs / "paper.json",
        {
            "format": PAPER_FORMAT,
            "title": args.title,
            "topic": args.topic,
            "memory": {"path": str(store.path.resolve()), "collection": store.collection},
            "sections": sections,
            "evidence": {
                p.key: {"title": p.title, "source": p.source, "text": p.text}
                for plan in args.evidence
                for p in plan.passages
            },
            "chunks": chunks,
        },
    )
    return AssembledPaper(
        paper="outputs/paper.md",
        references=len(references),
        citations=sum(len(c.keys) for c in checks),
        dangling=dangling,
        unsupported=len(unsupported),
        dropped=len(dropped),
        extracted=extracted,
        sections_written=sum(1 for s in sections if s["paragraphs"]),
        sections_planned=len(args.evidence),
    )


@dataclass
class _Row:
    """A drafted sentence resolved against its section's evidence."""

    text: str
    cite: str | None
    passage: str | None
    source: str | None
    """The evidence sentence it picked, if any."""


@dataclass(frozen=True)
class _Score:
    support: float
    """Cosine to the cited passage (-1 without one)."""
    closeness: float | None
    """Cosine to the picked evidence sentence."""
    source_support: float | None
    """Cosine of the picked evidence sentence itself to the passage."""

    def passes(self, min_support: float, min_closeness: float) -> bool:
        return self.support >= min_support and (self.closeness is None or self.closeness >= min_closeness)


def _resolve(sentence: DraftSentence, evidence: Evidence) -> _Row:
    passages = {p.key: p.text for p in evidence.passages}
    picked = next((e for e in evidence.sentences if e.id == sentence.pick), None) if sentence.pick else None
    cite = picked.key if picked is not None else sentence.cite
    return _Row(
        text=_sentence(sentence.text),
        cite=cite,
        passage=passages.get(cite or ""),
        source=picked.text if picked is not None else None,
    )


def _score_rows(embedder: Any, rows: list[_Row]) -> list[_Score]:
    texts = list(dict.fromkeys(t for r in rows for t in (r.text, r.passage, r.source) if t))
    if not texts:
        return [_Score(-1.0, None, None) for _ in rows]
    vectors = dict(zip(texts, embedder.embed(texts), strict=True))

    def cosine(a: str | None, b: str | None) -> float | None:
        return float(np.dot(vectors[a], vectors[b])) if a and b else None

    return [
        _Score(
            support=cosine(r.text, r.passage) if r.passage else -1.0,  # type: ignore[arg-type]
            closeness=cosine(r.text, r.source),
            source_support=cosine(r.source, r.passage),
        )
        for r in rows
    ]


def _passage_sentences(text: str, most: int = 6) -> list[str]:
    """A chunk's sentences worth restating (headings and fragments left out)."""
    body = " ".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    return [s for s in split_sentences(body) if words(s) >= 5][:most]


def _sentence(text: str) -> str:
    """One sentence as printed: single spaces, ending in punctuation."""
    text = " ".join(strip_markers(text).split())
    return text if not text or text.endswith((".", "!", "?")) else text.rstrip(",;:") + "."


def _paragraphs(sentences: list[dict[str, Any]], size: int = 4) -> list[list[dict[str, Any]]]:
    count = max(1, -(-len(sentences) // size))  # as few paragraphs as fit, of even length
    per = -(-len(sentences) // count) if sentences else 0
    return [sentences[i : i + per] for i in range(0, len(sentences), per)] if sentences else []


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
