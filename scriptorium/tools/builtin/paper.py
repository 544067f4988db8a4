"""The deterministic steps of the paper workflow; the paper domain itself lives in `scriptorium.paper`.

- `survey_topic`: the plan from the evidence (themes, their headings, the sentences each part
  restates, the tries the writer makes), or a clear error when memory holds nothing on the topic.
- `review_tries`: each item's tries judged by the checks; items with no good try are tried again.
- `outline_paper`: the title and headings a person may review (the `outline` gate).
- `draft_paper`: the paper composed from the verdicts; its words are what the `drafts` gate shows.
- `assemble_paper`: the draft, with a person's edits, written as Markdown, JSON, BibTeX and a
  citation report, with what was dropped and why.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...errors import ToolError, ToolUnavailable
from ...fileio import write_atomic, write_json_atomic
from ...memory.store import Hit, MemoryStore
from ...paper.checks import CopyIndex, english_words, missing_facts
from ...paper.compose import ComposedPaper, Judge, Judged, compose, paper_title, to_retry
from ...paper.draft import PaperText, TextMismatch, apply_text, paper_text
from ...paper.formats import PAPER_FORMAT, bibtex, markdown, paper_json, references
from ...paper.plan import Attempt, NoEvidenceError, PaperOutline, PaperPlan, avoid_words, plan_paper
from ..base import ToolContext, tool

__all__ = ["PAPER_FORMAT", "assemble_paper", "draft_paper", "outline_paper", "review_tries", "survey_topic"]


class SurveyArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    topic: str = Field(min_length=1, max_length=300)
    sections: int = Field(default=4, ge=1, le=8)


@tool("survey_topic", timeout_s=300)
async def survey_topic(args: SurveyArgs, ctx: ToolContext) -> PaperPlan:
    """Plan a paper from what memory holds on the topic: themes, headings, evidence per part."""
    store = _store(ctx)
    try:
        return await asyncio.to_thread(plan_paper, store, args.topic, args.sections)
    except NoEvidenceError as exc:
        raise ToolError(exc.message, hint=exc.hint) from exc


class Restated(BaseModel):
    model_config = ConfigDict(extra="ignore")

    sentence: str = ""


class Tries(BaseModel):
    """The writer's answers to one request (`samples` of the restater)."""

    model_config = ConfigDict(extra="ignore")

    samples: list[Restated] = Field(default_factory=list)


class ReviewArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan: PaperPlan
    tries: list[Tries | None]
    """The writer's answers, one entry per `plan.attempts`, in order."""


class Review(BaseModel):
    verdicts: dict[str, Judged]
    retry: list[Attempt]
    """Items no try passed, in parts still thin (`compose.to_retry`), with what went wrong (for
    the second round)."""


@tool("review_tries", timeout_s=300)
async def review_tries(args: ReviewArgs, ctx: ToolContext) -> Review:
    """Judge every try (copied? facts kept? supported? close to its evidence?) and list the items
    to try again."""
    store = _store(ctx)
    if len(args.tries) != len(args.plan.attempts):
        raise ToolError(f"{len(args.tries)} tries for {len(args.plan.attempts)} attempts of the plan")
    tries = _flatten(args.plan.attempts, args.tries)
    verdicts = await asyncio.to_thread(_judge, store, args.plan, tries)
    retry = [
        Attempt(
            id=item.id,
            heading=item.heading,
            text=item.text,
            problems=_problems(verdicts[item.id]),
            avoid=avoid_words(item.text, 1, count=7),
        )
        for item in to_retry(args.plan, verdicts)
    ]
    return Review(verdicts=verdicts, retry=retry)


class OutlineArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan: PaperPlan
    title: str | None = None
    """The titler's proposal; the topic itself when it does not name the topic."""


@tool("outline_paper", timeout_s=30)
async def outline_paper(args: OutlineArgs, ctx: ToolContext) -> PaperOutline:
    """The paper's title (the proposal, checked) and its section headings: what a person reviews."""
    title = paper_title(args.title, args.plan.topic, args.plan.headings)
    return PaperOutline(title=title, headings=[s.heading for s in args.plan.sections])


class DraftArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = None
    """The planner's proposal; the topic itself when it does not name the topic."""
    outline: PaperOutline | None = None
    """The title and headings as reviewed (`outline_paper`, then a person): used as they are."""
    plan: PaperPlan
    review: Review
    revisions: list[Tries | None] | None = None
    """The writer's second tries, one per `review.retry`."""


class PaperDraft(BaseModel):
    """The composed paper before it is written out: `text` is what the `drafts` gate shows."""

    text: PaperText
    paper: ComposedPaper
    verdicts: dict[str, Judged]
    """Every item's verdict, second tries included (for the citation report)."""


@tool("draft_paper", timeout_s=300)
async def draft_paper(args: DraftArgs, ctx: ToolContext) -> PaperDraft:
    """Compose the paper from the reviewed tries: lead, sections, closing, each sentence citing
    its chunk; nothing is written yet."""
    store = _store(ctx)
    plan, verdicts = args.plan, dict(args.review.verdicts)
    chunks_of_plan = await asyncio.to_thread(store.chunks_of, plan.sources)
    judge = _judge_of(store, plan, chunks_of_plan)
    revisions = args.revisions or []
    if revisions:
        second = _flatten(args.review.retry, revisions)
        for item_id, judged in (await asyncio.to_thread(judge.judge, second)).items():
            if judged.sentence and verdicts[item_id].sentence is None:
                verdicts[item_id] = judged
    if args.outline is not None:
        if len(args.outline.headings) != len(plan.sections):
            raise ToolError(
                f"the outline has {len(args.outline.headings)} headings for {len(plan.sections)} sections"
            )
        plan = plan.with_headings(args.outline.headings)
        title = args.outline.title
    else:
        title = paper_title(args.title, plan.topic, plan.headings)
    quotable = await asyncio.to_thread(judge.quotable)
    paper = await asyncio.to_thread(compose, plan, title, verdicts, store.embedder.embed, quotable)
    return PaperDraft(text=paper_text(paper), paper=paper, verdicts=verdicts)


class AssembleArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    draft: PaperDraft
    text: PaperText | None = None
    """The draft's words as reviewed (the `drafts` gate); the draft's own when absent."""
    plan: PaperPlan


class AssembledPaper(BaseModel):
    paper: str
    """Path of paper.md, relative to the run folder."""
    title: str
    words: int
    references: int
    citations: int
    sections_asked: int
    sections_written: int
    lead_sentences: int
    closing: bool
    quotes: int
    dropped_items: int
    dropped_sections: list[str]
    repeated: int
    edited: int
    """Sentences a person changed at review."""
    notes: list[str]


@tool("assemble_paper", timeout_s=300)
async def assemble_paper(args: AssembleArgs, ctx: ToolContext) -> AssembledPaper:
    """Write the drafted paper (with a person's edits, if any) as paper.md, paper.json, references
    and the citation report."""
    store = _store(ctx)
    if ctx.run_dir is None:
        raise ToolUnavailable("assembling a paper needs the run folder")
    plan, verdicts, paper = args.plan, args.draft.verdicts, args.draft.paper
    if args.text is not None:
        try:
            paper = apply_text(paper, args.text)
        except TextMismatch as exc:
            raise ToolError(exc.message) from exc
    keys = list(dict.fromkeys(k for s in paper.sentences for k in s.citations))
    chunks_of_plan = await asyncio.to_thread(store.chunks_of, plan.sources)
    by_key = {hit.key: hit for hit in chunks_of_plan}
    hits = {key: by_key[key] for key in keys if key in by_key}
    dangling = [k for k in keys if k not in hits]
    if dangling:  # cannot happen with keys from the plan; a changed memory would do it
        raise ToolError(f"cited chunks no longer in memory: {', '.join(dangling)}")
    refs = references(paper, hits)
    chunks = {key: hit.text for key, hit in hits.items()}
    memory = {
        "path": await asyncio.to_thread(_relative, store.path, ctx.run_dir),
        "collection": store.collection,
    }
    outputs = ctx.run_dir / "outputs"
    write_atomic(outputs / "paper.md", markdown(paper, refs))
    write_json_atomic(outputs / "paper.json", paper_json(paper, refs, chunks, memory))
    write_json_atomic(outputs / "references.json", [r.model_dump() for r in refs])
    write_atomic(outputs / "references.bib", bibtex(refs))
    write_json_atomic(outputs / "citations.json", _citation_report(paper, plan, verdicts, chunks))
    words = sum(len(s.text.split()) for s in paper.sentences)
    return AssembledPaper(
        paper="outputs/paper.md",
        title=paper.title,
        words=words,
        references=len(refs),
        citations=sum(len(s.citations) for s in paper.sentences),
        sections_asked=plan.sections_asked,
        sections_written=sum(1 for s in paper.sections if s.role == "body"),
        lead_sentences=len(paper.lead),
        closing=any(s.role == "closing" for s in paper.sections),
        quotes=paper.quotes,
        dropped_items=len(paper.dropped_items),
        dropped_sections=paper.dropped_sections,
        repeated=len(paper.repeated),
        edited=sum(1 for s in paper.sentences if s.edited),
        notes=paper.notes,
    )


def _flatten(attempts: list[Attempt], tries: list[Tries | None]) -> list[tuple[str, str | None]]:
    """(item id, answer) for every answer to every request."""
    return [(a.id, s.sentence) for a, t in zip(attempts, tries, strict=False) if t for s in t.samples]


def _relative(path: Path, start: Path) -> str:
    """`path` from the run folder: paper.json names no absolute path of this machine."""
    return os.path.relpath(path.resolve(), start.resolve())


def _store(ctx: ToolContext) -> MemoryStore:
    if ctx.memory is None:
        raise ToolUnavailable("the paper steps need the run's memory")
    return ctx.memory


def _judge_of(store: MemoryStore, plan: PaperPlan, chunks: list[Hit]) -> Judge:
    """The checks of `plan`'s tries, against all chunks of its documents."""
    copies = CopyIndex((c.text for c in chunks), dictionary=english_words(store.embedder.model_dir))
    return Judge(plan, copies, {c.key: c.text for c in chunks}, store.embedder.embed)


def _judge(store: MemoryStore, plan: PaperPlan, tries: list[tuple[str, str | None]]) -> dict[str, Judged]:
    return _judge_of(store, plan, store.chunks_of(plan.sources)).judge(tries)


def _problems(judged: Judged) -> str:
    if not judged.rejected:
        return ""
    reasons = sorted(judged.rejected, key=lambda r: -judged.rejected[r])
    return "; ".join(_ADVICE.get(r, r) for r in reasons[:2])


_ADVICE = {
    "copied": "earlier tries copied the sentence: use other words and another word order",
    "facts not in its evidence": "earlier tries added names or numbers: keep only those in the sentence",
    "strays from its evidence": "earlier tries changed the meaning: keep what the sentence says",
    "turns a fact around": "earlier tries turned a fact around: keep its meaning",
}


def _citation_report(
    paper: ComposedPaper, plan: PaperPlan, verdicts: dict[str, Judged], chunks: dict[str, str]
) -> dict[str, Any]:
    return {
        "sentences": [
            {
                "text": s.text,
                "citations": s.citations,
                "quote": s.quote,
                "edited": s.edited,
                "evidence": plan.item(s.item).text,
                "closeness": verdicts[s.item].closeness,
                "missing_facts": missing_facts(s.text, " ".join(chunks.get(k, "") for k in s.citations)),
            }
            for s in paper.sentences
        ],
        "dropped": [
            {"evidence": plan.item(i).text, "rejected": verdicts[i].rejected if i in verdicts else {}}
            for i in paper.dropped_items
        ],
        "repeated": paper.repeated,
        "dropped_sections": paper.dropped_sections,
    }
