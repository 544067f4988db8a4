"""Evaluating every paper of a batch folder, and the batch's aggregate."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from pydantic import BaseModel

from ..config import EvalSettings
from ..errors import ConfigError
from ..memory import LocalEmbedder
from ..workflows.batch import read_manifest
from .corpus import CorpusStores
from .paper import EvaluationError, load_paper
from .reference import ReferenceOutline
from .scoring import PaperEval, evaluate_paper

__all__ = ["BatchEval", "BatchSummary", "evaluate_batch", "summarize"]


class TaskEval(BaseModel):
    task: str
    paper: PaperEval | None = None
    error: str | None = None
    """Why the task has no evaluation (failed run, no paper, damaged folder)."""


class BatchSummary(BaseModel):
    papers: int
    evaluated: int
    complete: int
    dangling: int
    cited_share: float
    supported_share: float
    grounded_share: float
    heading_soft_recall: float | None
    repeated_share: float
    topic_similarity: float | None
    """Means over the evaluated papers (each paper counts once, whatever its length)."""
    verbatim_share: float | None = None
    words: float = 0.0
    fact_errors: int = 0
    invented: int = 0
    structured: int = 0
    """Papers with a title naming the topic, a lead, the body sections asked for and a closing."""


class BatchEval(BaseModel):
    batch_dir: str
    tasks: list[TaskEval]
    summary: BatchSummary


def evaluate_batch(
    batch_dir: Path,
    embedder: LocalEmbedder,
    settings: EvalSettings,
    references: Mapping[str, ReferenceOutline] | None = None,
    on_task: Callable[[TaskEval], None] | None = None,
) -> BatchEval:
    try:
        _, tasks = read_manifest(batch_dir)
    except ConfigError as exc:
        raise EvaluationError(exc.message, hint="pass the folder `scriptorium batch` wrote") from exc
    results = []
    with CorpusStores(embedder) as stores:
        for task in tasks:
            run_dir = batch_dir / "tasks" / task.id
            try:
                paper = load_paper(run_dir)
                evaluation = evaluate_paper(
                    run_dir,
                    embedder,
                    stores.search_for(paper, run_dir),
                    settings,
                    reference=(references or {}).get(task.id),
                    paper=paper,
                    copies=stores.copies_for(paper, run_dir),
                )
                result = TaskEval(task=task.id, paper=evaluation)
            except EvaluationError as exc:
                result = TaskEval(task=task.id, error=exc.message)
            results.append(result)
            if on_task is not None:
                on_task(result)
    return BatchEval(batch_dir=str(batch_dir), tasks=results, summary=summarize(results))


def summarize(results: list[TaskEval]) -> BatchSummary:
    papers = [r.paper for r in results if r.paper is not None]

    def mean(values: list[float]) -> float:
        return round(sum(values) / len(values), 4) if values else 0.0

    recalls = [p.heading_soft_recall for p in papers if p.heading_soft_recall is not None]
    similarities = [p.topic_similarity_mean for p in papers if p.topic_similarity_mean is not None]
    verbatims = [p.verbatim_share for p in papers if p.verbatim_share is not None]
    return BatchSummary(
        papers=len(results),
        evaluated=len(papers),
        complete=sum(p.complete for p in papers),
        dangling=sum(len(p.dangling) for p in papers),
        cited_share=mean([p.cited_share for p in papers]),
        supported_share=mean([p.supported_share for p in papers]),
        grounded_share=mean([p.grounded_share for p in papers]),
        heading_soft_recall=mean(recalls) if recalls else None,
        repeated_share=mean([p.repeated_share for p in papers]),
        topic_similarity=mean(similarities) if similarities else None,
        verbatim_share=mean(verbatims) if verbatims else None,
        words=mean([float(p.structure.words) for p in papers if p.structure is not None]),
        fact_errors=sum(len(p.fact_errors) for p in papers),
        invented=sum(len(p.invented) for p in papers),
        structured=sum(1 for p in papers if _structured(p)),
    )


def _structured(paper: PaperEval) -> bool:
    s = paper.structure
    if s is None:
        return False
    asked = s.sections_asked if s.sections_asked is not None else s.body_sections
    return s.title_names_topic and 2 <= s.lead_sentences <= 4 and s.closing and s.body_sections >= asked
