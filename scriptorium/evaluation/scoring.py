"""The metrics of one paper. Every similarity is a cosine of all-MiniLM-L6-v2 embeddings of whole
sentences with citation markers stripped; `docs/evaluation.md` defines each number."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel

from ..config import EvalSettings
from ..memory import LocalEmbedder
from ..paper.checks import COPY_MIN_WORDS, CopyIndex, missing_facts, names_topic
from ..text import split_sentences, strip_markers, words
from .paper import PaperData, load_paper
from .reference import ReferenceOutline

__all__ = ["CorpusSearch", "PaperEval", "evaluate_paper"]

CorpusSearch = Callable[[str, NDArray[np.float32], int], list[str]]
"""(sentence, its embedding, k) -> texts of the k corpus chunks nearest to it."""

_ENDINGS = (".", "!", "?", '."', ".'", ".)", '?"', '!"', ".\u201d", "?\u201d", "!\u201d")


class SentenceScore(BaseModel):
    section: str
    sentence: str
    keys: list[str] = []
    score: float


class SectionScore(BaseModel):
    heading: str
    sentences: int
    words: int
    topic_similarity: float | None
    """None for an empty section."""


class HeadingMatch(BaseModel):
    reference: str
    best_match: str | None
    score: float


class DuplicatePair(BaseModel):
    first: str
    second: str
    same_section: bool
    score: float


class FactError(BaseModel):
    section: str
    sentence: str
    keys: list[str]
    missing: list[str]
    """Names, numbers and dates of the sentence that its cited chunks lack."""


class Structure(BaseModel):
    title_names_topic: bool
    """Every content word of the topic is in the title, and the title is no section heading."""
    lead_sentences: int
    closing: bool
    sections_asked: int | None
    body_sections: int
    words: int


class PaperEval(BaseModel):
    run_dir: str
    title: str
    topic: str
    structure: Structure | None = None
    fact_errors: list[FactError] = []
    invented: list[str] = []
    """Sentences no citation supports: uncited, or cited by a chunk below the support threshold."""
    verbatim_share: float | None = None
    """Share of sentences (6+ words) copied from the corpus (docs/evaluation.md: the rule)."""
    copied: list[str] = []
    quotes: int = 0
    # completeness
    sections_planned: int
    sections_written: int
    empty_sections: list[str]
    truncated_sections: list[str]
    complete: bool
    # citations
    sentences: int
    citations: int
    dangling: list[str]
    cited_share: float
    supported_share: float
    """Of the sentences carrying a resolved citation."""
    unsupported: list[SentenceScore]
    # grounding
    grounded_share: float
    ungrounded: list[SentenceScore]
    # outline coverage
    heading_soft_recall: float | None
    heading_matches: list[HeadingMatch]
    # repetition and drift
    near_duplicates: list[DuplicatePair]
    repeated_share: float
    section_scores: list[SectionScore]
    drifting_sections: list[str]
    topic_similarity_mean: float | None
    thresholds: EvalSettings


def evaluate_paper(
    run_dir: Path,
    embedder: LocalEmbedder,
    corpus: CorpusSearch,
    settings: EvalSettings,
    reference: ReferenceOutline | None = None,
    paper: PaperData | None = None,
    copies: CopyIndex | None = None,
) -> PaperEval:
    paper = paper or load_paper(run_dir)
    cache = _Embeddings(embedder)
    parts = [(_LEAD, paper.lead), *((s.heading, s.sentences) for s in paper.sections)]
    rows = [
        (heading, text, citations)
        for heading, entries in parts
        for entry in entries
        for text, citations in _split(entry.text, entry.citations)
        if words(text) >= 3
    ]
    texts = [text for _, text, _ in rows]
    vectors = cache.many(texts)

    empty = [s.heading for s in paper.sections if not any(x.text.strip() for x in s.sentences)]
    truncated = [
        s.heading
        for s in paper.sections
        if s.sentences and not s.sentences[-1].text.rstrip().endswith(_ENDINGS)
    ]

    cited_keys = [k for _, entries in parts for x in entries for k in dict.fromkeys(x.citations)]
    dangling = sorted({k for k in cited_keys if k not in paper.chunks})
    cited_rows = [(i, [k for k in keys if k in paper.chunks]) for i, (_, _, keys) in enumerate(rows)]
    cited_rows = [(i, keys) for i, keys in cited_rows if keys]
    chunk_vectors = dict(zip(paper.chunks, cache.many(list(paper.chunks.values())), strict=True))
    unsupported = []
    for i, keys in cited_rows:
        support = max(float(vectors[i] @ chunk_vectors[k]) for k in keys)
        if support < settings.support_threshold:
            unsupported.append(
                SentenceScore(section=rows[i][0], sentence=rows[i][1], keys=keys, score=round(support, 4))
            )

    ungrounded = []
    for (heading, text, _), vector in zip(rows, vectors, strict=True):
        best = _grounding(vector, text, corpus, cache)
        if best < settings.grounding_threshold:
            ungrounded.append(SentenceScore(section=heading, sentence=text, score=round(best, 4)))

    matches: list[HeadingMatch] = []
    recall = None
    written_headings = [s.heading for s in paper.sections if s.heading not in empty]
    if reference is not None:
        ref_vectors = cache.many(reference.sections)
        gen_vectors = cache.many(written_headings)
        for heading, vector in zip(reference.sections, ref_vectors, strict=True):
            if len(gen_vectors):
                scores = gen_vectors @ vector
                j = int(np.argmax(scores))
                matches.append(
                    HeadingMatch(
                        reference=heading, best_match=written_headings[j], score=round(float(scores[j]), 4)
                    )
                )
            else:
                matches.append(HeadingMatch(reference=heading, best_match=None, score=0.0))
        recall = round(sum(m.score for m in matches) / len(matches), 4)

    duplicates = _near_duplicates(rows, vectors, settings.duplicate_threshold)
    repeated = {pair.first for pair in duplicates} | {pair.second for pair in duplicates}

    topic = cache.one(paper.topic)
    section_scores = []
    for section in paper.sections:
        body = " ".join(strip_markers(s.text) for s in section.sentences).strip()
        similarity = round(float(cache.one(body) @ topic), 4) if body else None
        section_scores.append(
            SectionScore(
                heading=section.heading,
                sentences=len(section.sentences),
                words=words(body),
                topic_similarity=similarity,
            )
        )
    similarities = [s.topic_similarity for s in section_scores if s.topic_similarity is not None]

    n = len(rows)
    fact_errors = [
        FactError(section=rows[i][0], sentence=rows[i][1], keys=keys, missing=missing)
        for i, keys in cited_rows
        if (missing := missing_facts(rows[i][1], " ".join(paper.chunks[k] for k in keys)))
    ]
    unsupported_texts = {u.sentence for u in unsupported}
    cited_texts = {rows[i][1] for i, _ in cited_rows}
    invented = [text for _, text, _ in rows if text not in cited_texts or text in unsupported_texts]
    copied: list[str] = []
    long_rows = [text for _, text, _ in rows if words(text) >= COPY_MIN_WORDS]
    if copies is not None:
        copied = [text for text in long_rows if copies.copied(text)]
    headings = {s.heading.lower() for s in paper.sections}
    written_body = [s for s in paper.sections if s.role != "closing" and s.sentences]
    structure = Structure(
        title_names_topic=names_topic(paper.title, paper.topic) and paper.title.lower() not in headings,
        lead_sentences=len(paper.lead),
        closing=any(s.role == "closing" and s.sentences for s in paper.sections),
        sections_asked=paper.sections_asked,
        body_sections=len(written_body),
        words=sum(words(strip_markers(x.text)) for _, entries in parts for x in entries),
    )
    supported_sections = {rows[i][0] for i, _ in cited_rows if rows[i][1] not in unsupported_texts}
    asked = paper.sections_asked if paper.sections_asked is not None else len(paper.sections)
    every_asked = sum(1 for s in written_body if s.heading in supported_sections) >= asked
    return PaperEval(
        structure=structure,
        fact_errors=fact_errors,
        invented=invented,
        verbatim_share=_share(len(copied), len(long_rows)) if copies is not None else None,
        copied=copied,
        quotes=sum(1 for _, entries in parts for x in entries if x.quote),
        run_dir=str(run_dir),
        title=paper.title,
        topic=paper.topic,
        sections_planned=len(paper.sections),
        sections_written=len(paper.sections) - len(empty),
        empty_sections=empty,
        truncated_sections=truncated,
        complete=not empty and not truncated and bool(paper.sections) and every_asked,
        sentences=n,
        citations=len(cited_keys),
        dangling=dangling,
        cited_share=_share(len(cited_rows), n),
        supported_share=_share(len(cited_rows) - len(unsupported), len(cited_rows)),
        unsupported=unsupported,
        grounded_share=_share(n - len(ungrounded), n),
        ungrounded=ungrounded,
        heading_soft_recall=recall,
        heading_matches=matches,
        near_duplicates=duplicates,
        repeated_share=_share(len(repeated), n),
        section_scores=section_scores,
        drifting_sections=[
            s.heading
            for s in section_scores
            if s.topic_similarity is not None and s.topic_similarity < settings.drift_threshold
        ],
        topic_similarity_mean=round(sum(similarities) / len(similarities), 4) if similarities else None,
        thresholds=settings,
    )


_LEAD = "(lead)"


def _split(text: str, citations: list[str]) -> list[tuple[str, list[str]]]:
    """An entry holding several sentences is several sentences; its markers follow the last."""
    parts = split_sentences(strip_markers(text)) or [""]
    return [(part, citations if i == len(parts) - 1 else []) for i, part in enumerate(parts)]


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _grounding(vector: NDArray[np.float32], text: str, corpus: CorpusSearch, cache: _Embeddings) -> float:
    """Cosine to the nearest sentence among the corpus chunks nearest to `text`."""
    candidates = [
        s for chunk in corpus(text, vector, 4) for s in split_sentences(strip_markers(chunk)) if words(s) >= 3
    ]
    if not candidates:
        return 0.0
    return float(np.max(cache.many(candidates) @ vector))


def _near_duplicates(
    rows: Sequence[tuple[str, str, list[str]]], vectors: NDArray[np.float32], threshold: float
) -> list[DuplicatePair]:
    if len(rows) < 2:
        return []
    similarity = vectors @ vectors.T
    pairs = []
    for i, j in zip(*(index.tolist() for index in np.triu_indices(len(rows), k=1)), strict=True):
        if similarity[i, j] >= threshold:
            pairs.append(
                DuplicatePair(
                    first=rows[i][1],
                    second=rows[j][1],
                    same_section=rows[i][0] == rows[j][0],
                    score=round(float(similarity[i, j]), 4),
                )
            )
    return pairs


class _Embeddings:
    """Each distinct text embedded once per evaluation (corpus chunks recur across sentences)."""

    def __init__(self, embedder: LocalEmbedder) -> None:
        self.embedder = embedder
        self.vectors: dict[str, NDArray[np.float32]] = {}

    def many(self, texts: Sequence[str]) -> NDArray[np.float32]:
        missing = list(dict.fromkeys(t for t in texts if t not in self.vectors))
        if missing:
            self.vectors.update(zip(missing, self.embedder.embed(missing), strict=True))
        if not texts:
            return np.zeros((0, 1), dtype=np.float32)
        return np.stack([self.vectors[t] for t in texts])

    def one(self, text: str) -> NDArray[np.float32]:
        vector: NDArray[np.float32] = self.many([text])[0]
        return vector
