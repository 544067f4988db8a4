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
from numpy.typing import NDArray
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
    scores, _ = await asyncio.to_thread(_score_rows, store.embedder, rows)
    unsupported = [
        SentenceSupport(
            sentence=row.text,
            cite=row.cite or "",
            support=round(score.support, 4),
            closeness=None if score.closeness is None else round(score.closeness, 4),
            source=row.source or row.passage or "(no such passage)",
        )
        for row, score in zip(rows, scores, strict=True)
        if not (row.whole and score.passes(args.min_support, args.min_closeness))
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
    said: list[NDArray[np.float32]] = []
    """Embeddings of the sentences already in the paper: no sentence is said twice."""
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
        scores, vectors = await asyncio.to_thread(_score_rows, store.embedder, rows)
        choices = [_choose(row, score, args) for row, score in zip(rows, scores, strict=True)]
        for row, score, choice in zip(rows, scores, choices, strict=True):
            if choice is None:
                dropped.append(_check(plan.heading, row.text, row.cite, score.support))
        candidates = [c for c in choices if c is not None] or _best_effort(rows, scores)
        kept = _distinct(candidates, vectors, said)
        for choice in candidates:
            check = _check(plan.heading, choice.text, choice.cite, choice.support)
            (checks if any(choice is k for k in kept) else dropped).append(check)
        extracted += sum(c.extracted for c in kept)
        sentences = [{"text": c.text, "citations": [c.cite] if c.cite else []} for c in kept]
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


@dataclass(frozen=True)
class _Choice:
    """What a drafted sentence becomes in the paper."""

    text: str
    cite: str | None
    support: float
    extracted: bool
    """The evidence sentence itself, because the restatement strayed."""


def _choose(row: _Row, score: _Score, args: AssembleArgs) -> _Choice | None:
    if row.whole and score.passes(args.min_support, args.min_closeness):
        return _Choice(row.text, row.cite, score.support, extracted=False)
    if row.source and score.source_support is not None and score.source_support >= args.min_support:
        return _Choice(row.source, row.cite, score.source_support, extracted=True)
    return None


def _best_effort(rows: list[_Row], scores: list[_Score]) -> list[_Choice]:
    """A written section is never emptied: its best whole sentence, or best picked evidence."""
    options = [
        _Choice(r.text, r.cite, sc.support, False) for r, sc in zip(rows, scores, strict=True) if r.whole
    ]
    options += [
        _Choice(r.source, r.cite, sc.source_support, True)
        for r, sc in zip(rows, scores, strict=True)
        if r.source and sc.source_support is not None
    ]
    return [max(options, key=lambda c: c.support)] if options else []


def _distinct(
    choices: list[_Choice], vectors: dict[str, NDArray[np.float32]], said: list[NDArray[np.float32]]
) -> list[_Choice]:
    """`choices` less those (near) equal to a sentence already said; `said` grows. At least one
    is kept, so a section is not emptied by its neighbours. `vectors` are the rows' embeddings
    (every choice's text is a row's text or picked evidence sentence)."""
    if not choices:
        return []
    kept = []
    for choice in choices:
        vector = vectors[choice.text]
        if all(float(vector @ other) < _NEAR_DUPLICATE for other in said):
            kept.append(choice)
            said.append(vector)
    if not kept:
        kept.append(choices[0])
        said.append(vectors[choices[0].text])
    return kept


def _check(section: str, text: str, cite: str | None, support: float) -> CitationCheck:
    return CitationCheck(
        section=section, sentence=text, keys=[cite] if cite else [], support=round(support, 4)
    )


_NEAR_DUPLICATE = 0.9
"""Cosine at which two sentences say the same (the eval's default duplicate threshold)."""


@dataclass
class _Row:
    """A drafted sentence resolved against its section's evidence."""

    text: str
    cite: str | None
    passage: str | None
    source: str | None
    """The evidence sentence it picked, if any."""

    @property
    def whole(self) -> bool:
        """Ends like a sentence (a fragment is never printed as one)."""
        return self.text.endswith((".", "!", "?", '."', '?"', '!"'))


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


def _score_rows(embedder: Any, rows: list[_Row]) -> tuple[list[_Score], dict[str, NDArray[np.float32]]]:
    """Each row's scores, and the embedding of every text involved (embedded once, together)."""
    texts = list(dict.fromkeys(t for r in rows for t in (r.text, r.passage, r.source) if t))
    if not texts:
        return [_Score(-1.0, None, None) for _ in rows], {}
    vectors = dict(zip(texts, embedder.embed(texts), strict=True))

    def cosine(a: str | None, b: str | None) -> float | None:
        return float(np.dot(vectors[a], vectors[b])) if a and b else None

    scores = [
        _Score(
            support=cosine(r.text, r.passage) if r.passage else -1.0,  # type: ignore[arg-type]
            closeness=cosine(r.text, r.source),
            source_support=cosine(r.source, r.passage),
        )
        for r in rows
    ]
    return scores, vectors


def _passage_sentences(text: str, most: int = 6) -> list[str]:
    """A chunk's sentences worth restating (headings and fragments left out)."""
    body = " ".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    return [s for s in split_sentences(body) if words(s) >= 5][:most]


def _sentence(text: str) -> str:
    """One sentence as printed: the first of the text (a tiny model runs on past it), single spaces."""
    sentences = split_sentences(" ".join(strip_markers(text).split()))
    return sentences[0] if sentences else ""


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
