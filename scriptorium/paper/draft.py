"""The written paper as a person reviews it: its words only (title, lead, each section's heading and
sentences), and those words put back into the composed paper.

A person edits words, never citations: every sentence keeps the chunks it cites, so an edited
paper cannot cite what the run did not retrieve. An emptied sentence is dropped; a section left
with no sentence is dropped and said so. Edited sentences are marked, and the citation report
checks their facts against the cited passage like any other.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ..errors import ScriptoriumError
from .compose import ComposedPaper, ComposedSection, Sentence

__all__ = ["DraftSection", "PaperText", "TextMismatch", "apply_text", "paper_text"]

_OPEN_QUOTE, _CLOSE_QUOTE = "\u201c", "\u201d"


class DraftSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    heading: str = Field(min_length=1, max_length=200)
    sentences: list[str] = Field(description="One entry per sentence; an empty one is dropped.")


class PaperText(BaseModel):
    """What the `drafts` gate shows: the paper's words, in reading order."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    lead: list[str]
    sections: list[DraftSection]
    """The body sections, then the closing one."""


def paper_text(paper: ComposedPaper) -> PaperText:
    return PaperText(
        title=paper.title,
        lead=[s.text for s in paper.lead],
        sections=[
            DraftSection(heading=s.heading, sentences=[t.text for t in s.sentences]) for s in paper.sections
        ],
    )


class TextMismatch(ScriptoriumError):
    """The text does not have the draft's shape (the gate checks this; a changed run would not)."""


def apply_text(paper: ComposedPaper, text: PaperText) -> ComposedPaper:
    """`paper` with `text`'s words: changed sentences marked `edited`, emptied ones and sections
    left without a sentence dropped (and noted)."""
    if len(text.lead) != len(paper.lead) or len(text.sections) != len(paper.sections):
        raise TextMismatch("the reviewed text has other parts than the draft")
    lead = _sentences(paper.lead, text.lead, "the lead")
    sections: list[ComposedSection] = []
    dropped = list(paper.dropped_sections)
    notes = list(paper.notes)
    for section, edited in zip(paper.sections, text.sections, strict=True):
        kept = _sentences(section.sentences, edited.sentences, f"section '{section.heading}'")
        heading = edited.heading.strip() or section.heading
        if kept:
            sections.append(ComposedSection(heading=heading, role=section.role, sentences=kept))
        else:
            dropped.append(heading)
            notes.append(f"section '{heading}' dropped at review: every sentence was removed")
    remaining = [*lead, *(t for s in sections for t in s.sentences)]
    changed = sum(1 for s in remaining if s.edited)
    removed = len(paper.sentences) - len(remaining)
    if changed or removed:
        notes.append(
            f"at review {changed} sentence{'s' if changed != 1 else ''} edited and {removed} removed "
            "(citations.json marks the edited ones and checks their facts)"
        )
    return paper.model_copy(
        update={
            "title": text.title.strip() or paper.title,
            "lead": lead,
            "sections": sections,
            "dropped_sections": dropped,
            "quotes": sum(1 for s in remaining if s.quote),
            "notes": notes,
        }
    )


def _sentences(before: list[Sentence], after: list[str], where: str) -> list[Sentence]:
    if len(before) != len(after):
        counts = f"{len(after)} sentences in the reviewed text, {len(before)} in the draft"
        raise TextMismatch(f"{where} has {counts}")
    kept = []
    for sentence, text in zip(before, after, strict=True):
        words = " ".join(text.split())
        if not words:
            continue
        if words == sentence.text:
            kept.append(sentence)
            continue
        quoted = words.startswith(_OPEN_QUOTE) and words.endswith(_CLOSE_QUOTE)
        kept.append(sentence.model_copy(update={"text": words, "quote": quoted, "edited": True}))
    return kept
