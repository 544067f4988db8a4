"""The prompts of the role datasets: one builder per role, used by the seed set, by `eval roles` and by
nothing else, so what a fine-tune is trained on and what it is measured on are asked the same way.

They are short on purpose (the model is tiny and training time grows with every token), and they ask
for JSON or cited prose *without* guided decoding: that is what fine-tuning has to teach.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from .dataset import ChatMessage

__all__ = [
    "Passage",
    "planner_prompt",
    "reviewer_prompt",
    "writer_prompt",
]

_SYSTEM = {
    "planner": "You are a research planner. You outline short papers that stay on their topic. "
    "Answer with JSON only.",
    "writer": "You are a technical writer. You write factual sentences from the evidence given and "
    "cite it with its keys in square brackets. You never use other keys.",
    "reviewer": "You are a careful reviewer. You check that a drafted section is supported by its "
    "evidence. Answer with JSON only.",
}

_OUTLINE_SHAPE = '{"title": "...", "sections": [{"heading": "...", "summary": "...", "questions": ["..."]}]}'
_REVIEW_SHAPE = (
    '{"verdict": "approve" or "revise", "fixes": [{"problem": "...", "suggestion": "..."}], '
    '"unsupported_citations": ["key"]}'
)


@dataclass(frozen=True)
class Passage:
    key: str
    text: str


def _evidence(passages: Sequence[Passage]) -> str:
    return "\n".join(f"[{passage.key}] {passage.text}" for passage in passages)


def planner_prompt(
    topic: str, source_titles: Sequence[str], sections: int, headings: Sequence[str] = ()
) -> list[ChatMessage]:
    """With `headings`, the outline must use exactly those (as the paper workflow asks, giving
    headings found in the sources); without, the planner chooses them."""
    titles = "\n".join(f"- {title}" for title in source_titles)
    given = f"Use these headings, in this order: {'; '.join(headings)}.\n" if headings else ""
    user = (
        f"Topic: {topic}\nSources:\n{titles}\n\n{given}"
        f"Outline a short paper on {topic} with exactly {sections} sections, each with a heading, "
        f"a one-sentence summary and one or two research questions. Answer as JSON: {_OUTLINE_SHAPE}"
    )
    return [ChatMessage(role="system", content=_SYSTEM["planner"]), ChatMessage(role="user", content=user)]


def writer_prompt(topic: str, heading: str, passages: Sequence[Passage]) -> list[ChatMessage]:
    keys = ", ".join(passage.key for passage in passages)
    user = (
        f"Topic: {topic}\nSection: {heading}\nEvidence:\n{_evidence(passages)}\n\n"
        f"Write the section in 2 to 4 sentences using only this evidence. End each sentence with the "
        f"key of the passage it uses in square brackets. Allowed keys: {keys}."
    )
    return [ChatMessage(role="system", content=_SYSTEM["writer"]), ChatMessage(role="user", content=user)]


def reviewer_prompt(topic: str, heading: str, passages: Sequence[Passage], draft: str) -> list[ChatMessage]:
    user = (
        f"Topic: {topic}\nSection: {heading}\nEvidence:\n{_evidence(passages)}\n\nDraft:\n{draft}\n\n"
        "Approve the draft if every sentence cites an evidence key and says what that passage says. "
        f"Otherwise answer revise with up to three fixes. Answer as JSON: {_REVIEW_SHAPE}"
    )
    return [ChatMessage(role="system", content=_SYSTEM["reviewer"]), ChatMessage(role="user", content=user)]


def as_json(value: object) -> str:
    """Answers are compact JSON: fewer tokens to train on and to generate."""
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
