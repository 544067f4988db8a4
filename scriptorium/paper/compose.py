"""From tries to a paper: judge each restatement, keep the best, fill gaps with marked quotations.

Each evidence item was restated several times. A try is kept only when it reads as one whole
sentence, is not copied from the corpus (`checks.CopyIndex`), states no name, number or date its
evidence lacks (`checks.missing_facts`), keeps the evidence's polarity words (a "not" or a "more"
the evidence does not have turns a fact around), states rather than asks, credits no source ("According
to ...") where its evidence reports no one's words or findings, stays close to its evidence sentence and is
supported by its cited chunk (embedding cosines). The best such try is kept; an item with none
becomes a marked quotation of its evidence while quotations stay under a fifth of the paper, and
is dropped otherwise. Across the whole paper no statement is made twice.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, Field

from ..text import split_sentences, strip_markers
from .checks import CopyIndex, missing_facts, names_topic
from .plan import EvidenceItem, PaperPlan

__all__ = [
    "ComposedPaper",
    "ComposedSection",
    "Judged",
    "Sentence",
    "compose",
    "judge_tries",
    "paper_title",
    "to_retry",
]

Embed = Callable[[list[str]], NDArray[np.float32]]

MIN_CLOSENESS = 0.78
"""Cosine a restatement keeps to the evidence sentence it restates. Read on 331 kept sentences of
the neutral dev set: under 0.78 most tries garble a relation ("the foreshock ... lasted about 42
snaps"); above it most read true."""
MIN_SUPPORT = 0.55
"""Cosine a kept sentence has to the chunk it cites (the eval's own bar is 0.5)."""
SAME_STATEMENT = 0.85
"""Two sentences this close say the same thing; the later one goes (the eval counts 0.9)."""
QUOTE_SHARE = 0.2
QUOTE_MIN = 2
"""Quotations a paper may hold however few sentences were restated: a thin corpus (one short
document) still gives a reader its evidence, marked as quoted."""
LEAD_MAX = 4
"""A lead is a paragraph of two to four sentences that says what the paper covers."""
_POLARITY = frozenset(
    [
        "not",
        "no",
        "never",
        "none",
        "nor",
        "neither",
        "without",
        "more",
        "less",
        "fewer",
        "greater",
        "larger",
        "smaller",
        "higher",
        "lower",
        "before",
        "after",
        "first",
        "last",
        "only",
        "all",
        "most",
        "least",
    ]
)


class Judged(BaseModel):
    """The verdict on one item's tries."""

    item: str
    sentence: str | None
    """The best try that passed, if any."""
    closeness: float | None = None
    rejected: dict[str, int] = Field(default_factory=dict)
    """Why the other tries failed: reason -> count."""
    passed: int = 0
    """Distinct tries that passed every check (the kept one among them): with `rejected`, what
    share of a writer's tries its checks keep (`evaluation.restater`)."""


class Sentence(BaseModel):
    text: str
    citations: list[str]
    quote: bool = False
    item: str
    edited: bool = False
    """Changed by a person at the `drafts` gate (`paper.draft`)."""


class ComposedSection(BaseModel):
    heading: str
    role: str = "body"
    sentences: list[Sentence]


class ComposedPaper(BaseModel):
    title: str
    topic: str
    lead: list[Sentence]
    sections: list[ComposedSection]
    """Body sections then the closing one (`role` closing), each with at least one sentence."""
    dropped_sections: list[str]
    dropped_items: list[str]
    repeated: list[str]
    quotes: int
    notes: list[str]
    sections_asked: int

    @property
    def sentences(self) -> list[Sentence]:
        """Every sentence, in reading order: the lead, then each section's."""
        return [*self.lead, *(s for section in self.sections for s in section.sentences)]


RESTATEMENT_LIMIT = 300
"""Characters a restatement may hold (`agents.outputs.Restatement`; a test keeps the two equal).
Guided decoding stops a string there, mid-word: an answer that long without a full stop was cut."""
_OPEN_ENDINGS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "nor",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "from",
        "into",
        "onto",
        "over",
        "under",
        "as",
        "than",
        "that",
        "which",
        "who",
        "whom",
        "whose",
        "where",
        "when",
        "while",
        "if",
        "because",
        "its",
        "their",
        "his",
        "her",
        "our",
        "your",
        "my",
        "this",
        "these",
        "those",
        "such",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "has",
        "have",
        "had",
        "do",
        "does",
        "did",
        "can",
        "could",
        "may",
        "might",
        "will",
        "would",
        "shall",
        "should",
        "must",
        "not",
        "very",
        "also",
        "both",
        "either",
        "each",
        "every",
        "some",
        "any",
        "most",
        "more",
        "less",
    ]
)


_LEAD_IN = re.compile(
    r"^(?:[\s{}\[\]():;,.*#>|/'`_-]*"
    r"(?:[{\[(<][^}\])>]{0,30}[}\])>]\s*:?"
    r"|(?:sentence|answer|restatement|rewrite|output)\s*(?:[}\])>]+\s*:?|:)))+",
    re.I,
)
_REPORTING = re.compile(
    r"\b(?:according to|sa(?:id|ys)|wr(?:ote|ites)|report(?:s|ed)?|argu(?:es|ed)|stat(?:es|ed)|claim(?:s|ed)"
    r"|conclu(?:des|ded)|f(?:ound|inds)|show(?:s|ed|n)|estimat(?:es|ed)|ruled|noted|suggest(?:s|ed)"
    r"|predict(?:s|ed)|propos(?:es|ed)|describ(?:es|ed))\b",
    re.I,
)


def first_sentence(text: str, limit: int = RESTATEMENT_LIMIT) -> str:
    """One sentence as printed: the first of the text (a tiny model runs on past it), single spaces.

    A small model often closes its answer without a full stop. An answer that is one sentence,
    stopped well before `limit` (not cut by it) and ending on a word that can end a clause (not
    "the", "of", "which", or an "-ing" form that wants its object) gets one; anything else stays
    unfinished and fails the whole-sentence check."""
    # Stray JSON or list punctuation, a bracketed tag or a label before the first word ("} In
    # 1849 ...", "{sentence}: After ...", "Answer: ...") is not the sentence.
    flat = " ".join(strip_markers(text).replace('"', "").split())
    flat = _LEAD_IN.sub("", flat).lstrip("{}[]():;,.-_*#>|/\\'` ")
    if re.match(r"[a-z]+\b(?![\w'-])", flat):  # "the expeditions began ...", not "p53 is ..." or "iPhone"
        flat = flat[0].upper() + flat[1:]
    sentences = split_sentences(flat)
    if not sentences:
        return ""
    first = sentences[0]
    if len(sentences) == 1 and not first.endswith((".", "!", "?")) and len(text.strip()) < 0.9 * limit:
        last = re.sub(r"[^\w'-]+$", "", first)
        word = last.rsplit(" ", 1)[-1].lower()
        if last == first and word.isalnum() and word not in _OPEN_ENDINGS and not word.endswith("ing"):
            first += "."
    return first


@dataclass
class Judge:
    """The checks of one plan's tries: its corpus's copy index and the chunks its items cite."""

    plan: PaperPlan
    copies: CopyIndex
    chunks: dict[str, str]
    embed: Embed

    def quotable(self) -> set[str]:
        """Items whose evidence sentence is supported by its own chunk (so it may be quoted)."""
        texts = [i.text for i in self.plan.items] + [self.chunks.get(i.key, "") for i in self.plan.items]
        vectors = self.embed(texts)
        n = len(self.plan.items)
        return {
            item.id
            for k, item in enumerate(self.plan.items)
            if item.key in self.chunks
            and len(item.text.split()) >= 8
            and float(vectors[k] @ vectors[n + k]) >= MIN_SUPPORT
        }

    def judge(self, tries: Sequence[tuple[str, str | None]]) -> dict[str, Judged]:
        """`tries`: (item id, restated text or None). Every item of the plan gets a verdict."""
        by_item: dict[str, list[str]] = {i.id: [] for i in self.plan.items}
        for item_id, text in tries:
            if item_id in by_item and text:
                by_item[item_id].append(first_sentence(text))
        texts = list(
            dict.fromkeys(
                [t for ts in by_item.values() for t in ts if t]
                + [i.text for i in self.plan.items]
                + [self.chunks[i.key] for i in self.plan.items if i.key in self.chunks]
            )
        )
        vectors = dict(zip(texts, self.embed(texts), strict=True)) if texts else {}
        verdicts = {}
        for item in self.plan.items:
            rejected: dict[str, int] = {}
            best: tuple[float, str] | None = None
            passed = 0
            for text in dict.fromkeys(by_item[item.id]):
                reason = self._fails(item, text, vectors)
                if reason:
                    rejected[reason] = rejected.get(reason, 0) + 1
                    continue
                passed += 1
                closeness = float(vectors[text] @ vectors[item.text])
                if best is None or closeness > best[0]:
                    best = (closeness, text)
            verdicts[item.id] = Judged(
                item=item.id,
                sentence=best[1] if best else None,
                closeness=round(best[0], 4) if best else None,
                rejected=rejected,
                passed=passed,
            )
        return verdicts

    def _fails(self, item: EvidenceItem, text: str, vectors: dict[str, NDArray[np.float32]]) -> str | None:
        if not text or not text.endswith((".", "!", "?")) or not 8 <= len(text.split()) <= 60 or "<" in text:
            return "not one whole sentence"
        if "..." in text or text.count("(") != text.count(")") or self.copies.unknown_words(text):
            return "garbled"
        if self.copies.copied(text):
            return "copied"
        if missing_facts(text, item.text):
            return "facts not in its evidence"
        if (text.endswith("?") and "?" not in item.text) or re.match(r"(?:Who|Whom|Whose|What)\b", text):
            return "asks instead of stating"
        if re.match(r"according to\b", text, re.I) and not _REPORTING.search(item.text):
            return "attributes to a source its evidence does not quote"
        if _polarity(text) - _polarity(item.text):
            return "turns a fact around"
        if float(vectors[text] @ vectors[item.text]) < MIN_CLOSENESS:
            return "strays from its evidence"
        chunk = self.chunks.get(item.key)
        if chunk is None or float(vectors[text] @ vectors[chunk]) < MIN_SUPPORT:
            return "not supported by its passage"
        return None


ENOUGH = 3
"""Restated sentences a part (the lead, a section, the closing) needs before its other items are
left as they are instead of asked for again: a second round costs as much as the first, and a part
that already reads as a paragraph gains less from it than a thin one."""


def to_retry(plan: PaperPlan, verdicts: dict[str, Judged], enough: int = ENOUGH) -> list[EvidenceItem]:
    """Items no try passed, in parts with fewer than `enough` restated sentences, in plan order."""
    kept = Counter((i.part, i.heading) for i in plan.items if verdicts[i.id].sentence)
    return [i for i in plan.items if verdicts[i.id].sentence is None and kept[(i.part, i.heading)] < enough]


def judge_tries(
    plan: PaperPlan,
    tries: Sequence[tuple[str, str | None]],
    copies: CopyIndex,
    chunks: dict[str, str],
    embed: Embed,
) -> dict[str, Judged]:
    return Judge(plan, copies, chunks, embed).judge(tries)


def _polarity(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", text.lower()) if w in _POLARITY}


def compose(
    plan: PaperPlan,
    title: str,
    verdicts: dict[str, Judged],
    embed: Embed,
    supported: Collection[str] | None = None,
    min_quotes: int = QUOTE_MIN,
) -> ComposedPaper:
    """The paper: every item's kept sentence in plan order, marked quotations where a part would
    be thin (under a fifth of it, or `min_quotes`), no statement twice; empty sections dropped and
    said so. `supported`: the items whose evidence sentence its chunk supports (may be quoted);
    default: all."""
    kept = {i: v.sentence for i, v in verdicts.items() if v.sentence}
    supported = set(supported) if supported is not None else {i.id for i in plan.items}
    parts: list[tuple[str, str, list[str]]] = [("lead", "", plan.lead)]
    parts += [("body", s.heading, s.items) for s in plan.sections]
    parts.append(("closing", plan.closing.heading, plan.closing.items))
    budget = max(min_quotes, int(len(kept) * QUOTE_SHARE / (1 - QUOTE_SHARE)))
    quotes = _choose_quotes(plan, parts, kept, supported, budget)
    ordered = [
        (part, heading, item_id)
        for part, heading, ids in parts
        for item_id in ids
        if item_id in kept or item_id in quotes
    ]
    texts = [kept[i] if i in kept else plan.item(i).text for _, _, i in ordered]
    vectors = embed(texts) if texts else np.zeros((0, 1), dtype=np.float32)
    said: list[int] = []
    repeated: list[str] = []
    sentences: dict[str, list[Sentence]] = {}
    for n, ((part, heading, item_id), text) in enumerate(zip(ordered, texts, strict=True)):
        if said and float(np.max(vectors[said] @ vectors[n])) >= SAME_STATEMENT:
            repeated.append(text)
            continue
        said.append(n)
        item = plan.item(item_id)
        quoted = item_id not in kept
        sentences.setdefault(f"{part}:{heading}", []).append(
            Sentence(
                text=f"\u201c{text}\u201d" if quoted else text,
                citations=[item.key],
                quote=quoted,
                item=item_id,
            )
        )
    lead = sentences.get("lead:", [])
    if len(lead) > LEAD_MAX:  # restated sentences before quotations, then in the plan's order
        keep = sorted(range(len(lead)), key=lambda n: (lead[n].quote, n))[:LEAD_MAX]
        sentences["lead:"] = [lead[n] for n in sorted(keep)]
    written = {s.item for ss in sentences.values() for s in ss}
    sections = []
    dropped_sections = []
    for part, heading, _ in parts[1:]:
        found = sentences.get(f"{part}:{heading}", [])
        if found:
            sections.append(ComposedSection(heading=heading, role=part, sentences=found))
        else:
            dropped_sections.append(heading)
    notes = []
    body_written = sum(1 for s in sections if s.role == "body")
    empty_body = [h for h in dropped_sections if h != plan.closing.heading]
    if body_written < plan.sections_asked:
        themes = f"{plan.themes_found} distinct theme{'s' if plan.themes_found != 1 else ''}"
        empty = f" and {len(empty_body)} had no sentence that passed the checks" if empty_body else ""
        notes.append(
            f"{plan.sections_asked} sections asked, {body_written} written: "
            f"the evidence holds {themes}{empty}"
        )
    if plan.closing.heading in dropped_sections:
        notes.append("no closing: none of its sentences passed the checks")
    if plan.documents == 1:
        notes.append("this paper rests on a single source document")
    return ComposedPaper(
        title=title,
        topic=plan.topic,
        lead=sentences.get("lead:", []),
        sections=sections,
        dropped_sections=dropped_sections,
        dropped_items=[i.id for i in plan.items if i.id not in written],
        repeated=repeated,
        quotes=sum(1 for ss in sentences.values() for s in ss if s.quote),
        notes=notes,
        sections_asked=plan.sections_asked,
    )


def _choose_quotes(
    plan: PaperPlan,
    parts: list[tuple[str, str, list[str]]],
    kept: dict[str, str],
    supported: set[str],
    budget: int,
) -> set[str]:
    """Items no try restated that are quoted instead, at most `budget`, one at a time where a part
    falls short most: a lead or a closing wants two sentences; a section one, and a second source
    document when its sentences all come from one; then the thinnest part first. Only an evidence
    sentence its own chunk supports is quoted."""
    quotes: set[str] = set()
    while len(quotes) < budget:
        best: tuple[tuple[int, int, int, int], str] | None = None
        for n, (part, _, ids) in enumerate(parts):
            shown = [i for i in ids if i in kept or i in quotes]
            documents = {plan.item(i).source for i in shown}
            for position, item_id in enumerate(ids):
                if item_id in kept or item_id in quotes or item_id not in supported:
                    continue
                short = max(0, (1 if part == "body" else 2) - len(shown))
                if part == "body" and len(documents) < 2 and plan.item(item_id).source not in documents:
                    short += 1
                rank = (-short, len(shown), n, position)
                if best is None or rank < best[0]:
                    best = (rank, item_id)
        if best is None:
            break
        quotes.add(best[1])
    return quotes


def paper_title(proposed: str | None, topic: str, headings: Sequence[str]) -> str:
    """The proposed title when it names the topic (`checks.names_topic`), is no section heading,
    lists no two of them, adds no number and holds only words (no link, bracket or symbol);
    otherwise the topic itself."""
    fallback = topic.strip()
    fallback = fallback[0].upper() + fallback[1:]
    if not proposed:
        return fallback
    title = " ".join(proposed.split()).strip(" .\"'")
    if (
        not names_topic(title, topic)
        or len(title.split()) > 14
        or not set(re.findall(r"\d+", title)) <= set(re.findall(r"\d+", topic))
        or not re.fullmatch(r"[\w' ,:&-]+", title)  # no link, bracket or symbol ("... (https://")
    ):
        return fallback
    # A title that is a heading, or lists two of them, names sections, not the paper.
    listed = [h for h in headings if re.search(rf"\b{re.escape(h.lower())}\b", title.lower())]
    if title.lower() in {h.lower() for h in headings} or len(listed) >= 2:
        return fallback
    return title
