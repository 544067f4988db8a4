"""The plan of a paper, made from the evidence before any model call: themes, what each says, a lead.

`plan_paper` finds the documents the memory holds on the topic, cuts their chunks into sentences,
clusters them into themes (`themes.py`), names and orders the themes, and picks for each part of the
paper the evidence sentences a writer restates: a lead (what the paper covers), each section (its
most central sentences, from at least two documents where the theme has them) and a closing (what
the sources say lasts or stays open). No sentence is picked twice, nor two that say the same.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from ..errors import ScriptoriumError
from ..memory.instructions import addresses_the_model
from ..memory.store import Hit, MemoryStore
from ..text import split_sentences
from .checks import COMMON_WORDS
from .headings import GENERAL_HEADINGS
from .themes import Passage, cluster, name_themes, order_key

__all__ = [
    "Attempt",
    "EvidenceItem",
    "NoEvidenceError",
    "PaperPlan",
    "PlannedSection",
    "plan_paper",
]

Part = Literal["lead", "body", "closing"]
CLOSING_HEADING = "Conclusion"


class NoEvidenceError(ScriptoriumError):
    """The memory holds nothing on the topic: a paper without sources is not one."""


class EvidenceItem(BaseModel):
    """One evidence sentence a writer restates, and the chunk it is cited by."""

    id: str
    part: Part
    heading: str
    key: str
    source: str
    text: str


class Attempt(BaseModel):
    """One request to restate an item (the writer draws several answers from it at once; the
    checks keep the best)."""

    id: str
    heading: str
    text: str
    problems: str = ""
    """What was wrong with earlier tries (a second round tells the writer)."""
    avoid: list[str] = Field(default_factory=list)
    """Words of the evidence the writer may not use (so it restates instead of copying); a second
    request for an item avoids other words."""


class PlannedSection(BaseModel):
    heading: str
    candidates: list[str] = Field(default_factory=list)
    """Other headings that fit the theme, best first."""
    items: list[str]


class PaperOutline(BaseModel):
    """The paper's title and section headings as a person reviews them (paper.yaml's outline gate)."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=3, max_length=120)
    headings: list[Annotated[str, Field(min_length=3, max_length=80)]] = Field(min_length=1, max_length=6)


class PaperPlan(BaseModel):
    topic: str
    sections_asked: int
    themes_found: int
    documents: int
    lead: list[str]
    sections: list[PlannedSection]
    closing: PlannedSection
    items: list[EvidenceItem]
    attempts: list[Attempt]
    headings: list[str]
    sources: list[str]
    """Documents the plan draws on (the copy check reads all of their chunks)."""

    def item(self, item_id: str) -> EvidenceItem:
        return next(i for i in self.items if i.id == item_id)

    def with_headings(self, headings: list[str]) -> PaperPlan:
        """The plan with its body sections renamed, in order (a person's edit of the outline)."""
        if len(headings) != len(self.sections):
            raise ValueError(f"{len(headings)} headings for {len(self.sections)} sections")
        renamed = dict(zip((s.heading for s in self.sections), headings, strict=True))
        return self.model_copy(
            update={
                "sections": [s.model_copy(update={"heading": renamed[s.heading]}) for s in self.sections],
                "items": [
                    i.model_copy(update={"heading": renamed[i.heading]})
                    if i.part == "body" and i.heading in renamed
                    else i
                    for i in self.items
                ],
                "headings": list(headings),
            }
        )


_MIN_RELEVANCE = 0.25
"""Cosine below which the best passage is about something else: the memory holds nothing on it."""
_SPREAD = 0.25
"""Documents whose best passage is this far below the best one belong to another topic."""
_SAME = 0.85
"""Two evidence sentences this close say the same thing."""
_CLOSING_CUES = re.compile(
    r"\b(legacy|today|remain|remains|continu\w*|future|modern|debate\w*|unclear|unknown|still|"
    r"influenc\w*|recogni\w*|honou?r\w*|remember\w*|ongoing|open question\w*|uncertain\w*)\b",
    re.I,
)


def plan_paper(
    store: MemoryStore,
    topic: str,
    sections: int,
    *,
    per_section: int = 6,
    lead: int = 5,
    closing: int = 5,
    breadth: int = 60,
) -> PaperPlan:
    embed = store.embedder.embed
    topic_vector = embed([topic])[0]
    documents = _documents(store, topic, topic_vector, breadth)
    chunks = store.chunks_of(documents)
    passages, groups = _passages(chunks)
    if not passages:
        raise NoEvidenceError(f"the documents found on '{topic}' hold no sentences to write from")
    vectors = embed([p.text for p in passages])
    k = max(1, min(sections, len(passages) // 6))
    themes = cluster(vectors, groups, k)
    labels = _informative_labels(chunks, topic)
    label_list = sorted({label for labels_of in labels.values() for label in labels_of})
    label_vectors = dict(zip(label_list, embed(label_list), strict=True)) if label_list else {}
    extra = [
        [
            (label, label_vectors[label])
            for label in sorted({x for i in t.members for x in labels.get(passages[i].key, ())})
        ]
        for t in themes
    ]
    name_themes(themes, GENERAL_HEADINGS, _heading_vectors(store), extra)
    themes.sort(key=lambda t: sorted(passages[i].position for i in t.members)[len(t.members) // 2])

    picker = _Picker(passages, vectors)
    to_topic = vectors @ topic_vector
    theme_of = {i: n for n, t in enumerate(themes) for i in t.members}
    # The lead: the passages most about the topic itself, each from another theme where possible.
    lead_ids = picker.pick(sorted(range(len(passages)), key=lambda i: -to_topic[i]), lead, spread=theme_of)
    planned = []
    for theme in themes:
        centrality = vectors[theme.members] @ theme.centroid + 0.3 * to_topic[theme.members]
        ranked = [theme.members[j] for j in np.argsort(-centrality)]
        chosen = picker.pick(ranked, per_section, spread={i: passages[i].source for i in ranked})
        planned.append((theme, chosen))
    cue = np.array([0.3 if _CLOSING_CUES.search(p.text) else 0.0 for p in passages])
    # The closing: what lasts or stays open, among the passages most on the topic (a cue word in a
    # passage about something else would close the paper on that).
    on_topic = [i for i in range(len(passages)) if to_topic[i] >= float(np.median(to_topic))]
    closing_rank = sorted(on_topic, key=lambda i: -(0.5 * to_topic[i] + cue[i]))
    closing_ids = picker.pick(closing_rank, closing, spread={i: passages[i].source for i in closing_rank})

    items: list[EvidenceItem] = []

    def add(indexes: list[int], part: Part, heading: str) -> list[str]:
        ids = []
        for i in indexes:
            item = EvidenceItem(
                id=f"e{len(items) + 1}",
                part=part,
                heading=heading,
                key=passages[i].key,
                source=passages[i].source,
                text=passages[i].text,
            )
            items.append(item)
            ids.append(item.id)
        return ids

    lead_items = add(lead_ids, "lead", "Introduction")
    body = [
        PlannedSection(heading=t.heading, candidates=t.candidates, items=add(chosen, "body", t.heading))
        for t, chosen in planned
        if chosen
    ]
    closing_section = PlannedSection(
        heading=CLOSING_HEADING, items=add(closing_ids, "closing", CLOSING_HEADING)
    )
    return PaperPlan(
        topic=topic,
        sections_asked=sections,
        themes_found=len(body),
        documents=len(documents),
        lead=lead_items,
        sections=body,
        closing=closing_section,
        items=items,
        attempts=[
            Attempt(id=i.id, heading=i.heading, text=i.text, avoid=avoid_words(i.text, 0)) for i in items
        ],
        headings=[s.heading for s in body],
        sources=documents,
    )


def avoid_words(sentence: str, attempt: int, count: int = 5) -> list[str]:
    """`count` of the sentence's longer plain words (lowercase in it: no names, numbers or common
    words), a different window of them for each attempt."""
    found = [
        w
        for w in dict.fromkeys(re.findall(r"(?<![\w'-])[a-z][a-z]{5,}(?![\w'-])", sentence))
        if w not in COMMON_WORDS
    ]
    if len(found) <= count:
        return found
    found.sort(key=lambda w: -len(w))
    start = (attempt * 2) % len(found)
    return [found[(start + j) % len(found)] for j in range(count)]


class _Picker:
    """Chooses evidence sentences across the whole paper: none twice, none saying what one did."""

    def __init__(self, passages: list[Passage], vectors: NDArray[np.float32]) -> None:
        self.passages = passages
        self.vectors = vectors
        self.used: list[int] = []

    def pick(self, ranked: Sequence[int], count: int, *, spread: Mapping[int, object]) -> list[int]:
        """Up to `count` of `ranked`, best first: first one per group (`spread`: a theme, a
        document), then the best of the rest."""
        chosen: list[int] = []
        for distinct in (True, False):
            for i in ranked:
                if len(chosen) >= count:
                    break
                if i in chosen or not self._new(i):
                    continue
                if distinct and spread.get(i) in {spread.get(c) for c in chosen}:
                    continue
                chosen.append(i)
                self.used.append(i)
        return chosen

    def _new(self, i: int) -> bool:
        if i in self.used:
            return False
        return not self.used or float(np.max(self.vectors[self.used] @ self.vectors[i])) < _SAME


def _documents(store: MemoryStore, topic: str, topic_vector: NDArray[np.float32], breadth: int) -> list[str]:
    """The documents about `topic`: those with a passage near the best match, or titled after it."""
    hits = store.query(topic, breadth, vector=topic_vector)
    if not hits or hits[0].score < _MIN_RELEVANCE:
        held = store.sources()
        sample = ", ".join(f"'{t}'" for t in list(held.values())[:3])
        what = f"{len(held)} documents ({sample}{', ...' if len(held) > 3 else ''})" if held else "nothing"
        best = f"; the closest passage scores {hits[0].score:.2f}, in '{hits[0].title}'" if hits else ""
        raise NoEvidenceError(
            f"the memory holds no evidence on '{topic}': it holds {what}{best}",
            hint="ingest documents on the topic first: scriptorium ingest DIR, or run with --corpus DIR",
        )
    floor = max(_MIN_RELEVANCE, hits[0].score - _SPREAD)
    documents = list(dict.fromkeys(h.source for h in hits if h.score >= floor))
    titles = store.sources()
    others = [s for s in titles if s not in documents and titles[s].strip()]
    if others:
        similarity = store.embedder.embed([titles[s] for s in others]) @ topic_vector
        documents += [s for s, score in zip(others, similarity, strict=True) if score >= max(floor, 0.6)]
    return sorted(documents, key=order_key)


def _passages(chunks: list[Hit]) -> tuple[list[Passage], list[int]]:
    """Sentences worth restating, each once (chunks overlap), with the chunk each belongs to."""
    seen: set[str] = set()
    passages: list[Passage] = []
    groups: list[int] = []
    for group, chunk in enumerate(chunks):
        body = " ".join(line for line in chunk.text.splitlines() if not line.lstrip().startswith("#"))
        for n, sentence in enumerate(split_sentences(" ".join(body.split()))):
            if not 8 <= len(sentence.split()) <= 50 or sentence in seen or sentence[-1] not in ".!?\"'":
                continue
            if addresses_the_model(sentence):  # a hostile note's order is no evidence of anything
                continue
            seen.add(sentence)
            position = (order_key(chunk.source), int(chunk.metadata.get("chunk_index", 0)), n)
            passages.append(Passage(key=chunk.key, source=chunk.source, text=sentence, position=position))
            groups.append(group)
    return passages, groups


_GENERIC_TITLE_WORDS = frozenset(
    [
        "source",
        "sources",
        "notes",
        "note",
        "page",
        "pages",
        "part",
        "chapter",
        "section",
        "document",
        "file",
        "untitled",
        "copy",
        "draft",
        "scan",
        "excerpt",
        "text",
        "article",
        "item",
        "entry",
        "volume",
        "appendix",
    ]
)


def _informative_labels(chunks: list[Hit], topic: str) -> dict[str, tuple[str, ...]]:
    """Per chunk key, its document's title and its heading where they say more than the topic
    ("Venice: source 3" says nothing; "Maritime trade and empire" does)."""
    topic_words = {w.lower() for w in re.findall(r"[A-Za-z]+", topic)}
    labels = {}
    for chunk in chunks:
        found = []
        for label in (chunk.title, chunk.heading):
            content = [
                w
                for w in re.findall(r"[A-Za-z]+", label.lower())
                if len(w) > 2
                and w not in topic_words
                and w not in _GENERIC_TITLE_WORDS
                and w not in COMMON_WORDS
            ]
            if content and len(label) <= 80:
                found.append(label.strip())
        labels[chunk.key] = tuple(dict.fromkeys(found))
    return labels


_HEADING_VECTORS: dict[str, NDArray[np.float32]] = {}


def _heading_vectors(store: MemoryStore) -> NDArray[np.float32]:
    name = store.embedder.name
    if name not in _HEADING_VECTORS:
        _HEADING_VECTORS[name] = store.embedder.embed(list(GENERAL_HEADINGS))
    return _HEADING_VECTORS[name]
