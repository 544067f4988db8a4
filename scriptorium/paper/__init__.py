"""The paper domain in one room: plan from the evidence (themes, headings, evidence per part),
checks of a written sentence (copied, facts), composition and the delivered formats."""

from __future__ import annotations

from .checks import CopyIndex, facts, missing_facts
from .compose import ComposedPaper, Judged, compose, judge_tries, paper_title
from .formats import PAPER_FORMAT, Reference, bibtex, markdown, paper_json, references
from .plan import Attempt, EvidenceItem, NoEvidenceError, PaperPlan, PlannedSection, plan_paper

__all__ = [
    "PAPER_FORMAT",
    "Attempt",
    "ComposedPaper",
    "CopyIndex",
    "EvidenceItem",
    "Judged",
    "NoEvidenceError",
    "PaperPlan",
    "PlannedSection",
    "Reference",
    "bibtex",
    "compose",
    "facts",
    "judge_tries",
    "markdown",
    "missing_facts",
    "paper_json",
    "paper_title",
    "plan_paper",
    "references",
]
