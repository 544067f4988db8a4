"""Output models agents can name in `output:`, and how a schema is made for one call.

Some outputs depend on the call: a writer may cite only the citation keys it was given, so its
schema's `citations` is an enum of exactly those keys, built per call. Guided decoding on the
server then makes any other key impossible to generate, even for a tiny model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from ..errors import ConfigError
from ..paper.draft import PaperText
from ..paper.plan import PaperOutline

__all__ = [
    "Fix",
    "Outline",
    "OutlineSection",
    "OutputContext",
    "OutputRegistry",
    "PaperOutline",
    "PaperTitle",
    "Restatement",
    "SearchPlan",
    "default_outputs",
    "evidence_model",
    "outline_model",
    "review_model",
    "section_model",
]


@dataclass(frozen=True)
class OutputContext:
    """What a per-call schema may depend on."""

    citation_keys: Sequence[str] = field(default_factory=tuple)
    choices: Sequence[str] = field(default_factory=tuple)
    """Strings the answer must pick from (outline headings derived from the sources)."""


OutputFactory = Callable[[OutputContext], type[BaseModel]]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


Question = Annotated[str, Field(min_length=10, max_length=100)]


class OutlineSection(_Strict):
    heading: str = Field(min_length=3, max_length=70)
    summary: str = Field(min_length=10, max_length=160, description="What the section covers.")
    questions: list[Question] = Field(
        min_length=1, max_length=2, description="Research questions for the section."
    )


class Outline(_Strict):
    title: str = Field(min_length=5, max_length=120)
    sections: list[OutlineSection] = Field(min_length=3, max_length=6)


def outline_model(ctx: OutputContext) -> type[BaseModel]:
    """`Outline`; given choices, exactly one section per choice, its heading one of them (the
    headings come from the sources, so a tiny model cannot title a section off the topic)."""
    if not ctx.choices:
        return Outline
    headings = tuple(dict.fromkeys(ctx.choices))
    section = create_model(
        "OutlineSection",
        __base__=_Strict,
        heading=(Literal[headings], ...),
        summary=(str, Field(min_length=10, max_length=160, description="What the section covers.")),
        questions=(list[Question], Field(min_length=1, max_length=2)),
    )
    return create_model(
        "Outline",
        __base__=_Strict,
        title=(str, Field(min_length=5, max_length=120)),
        sections=(list[section], Field(min_length=len(headings), max_length=len(headings))),  # type: ignore[valid-type]
    )


class SearchPlan(_Strict):
    queries: list[Annotated[str, Field(min_length=3, max_length=80)]] = Field(
        min_length=1, max_length=3, description="Short search queries."
    )


class Restatement(_Strict):
    """One sentence restated (the paper's writer answers one evidence sentence at a time)."""

    sentence: str = Field(min_length=20, max_length=300)
    """Bounded: guided decoding may run to the bound, and only the first sentence is kept."""


class PaperTitle(_Strict):
    """A paper's title (the workflow keeps it only when it names the topic)."""

    title: str = Field(min_length=5, max_length=90)


class Fix(_Strict):
    problem: str = Field(min_length=5, max_length=120)
    suggestion: str = Field(min_length=5, max_length=160)


def _keys_list(keys: Sequence[str]) -> Any:
    """`list[Literal[*keys]]`, or a list of short strings when no keys were given (a bounded schema
    keeps guided decoding from running on)."""
    item: Any = Literal[tuple(dict.fromkeys(keys))] if keys else Annotated[str, Field(max_length=40)]
    return list[item]


def evidence_model(ctx: OutputContext) -> type[BaseModel]:
    """The retriever's choice among the passages it was shown."""
    return create_model(
        "EvidenceSelection",
        __base__=_Strict,
        selected=(
            _keys_list(ctx.citation_keys),
            Field(min_length=1 if ctx.citation_keys else 0, max_length=6),
        ),
    )


def section_model(ctx: OutputContext) -> type[BaseModel]:
    """A drafted section as sentences, each citing exactly one of the keys it was given (so every
    sentence carries its evidence, and the support of each can be checked); given choices (ids of
    evidence sentences), each sentence names the one it restates, and its passage is the citation."""
    if ctx.choices:  # extract, then restate: pick an evidence sentence by id, then say it
        sentence = create_model(
            "Sentence",
            __base__=_Strict,
            pick=(Literal[tuple(dict.fromkeys(ctx.choices))], ...),
            text=(str, Field(min_length=20, max_length=300)),
        )
        return create_model(
            "SectionDraft",
            __base__=_Strict,
            heading=(str, Field(min_length=3, max_length=80)),
            sentences=(list[sentence], Field(min_length=2, max_length=5)),  # type: ignore[valid-type]
        )
    cite: Any = Literal[tuple(dict.fromkeys(ctx.citation_keys))] if ctx.citation_keys else str
    sentence = create_model(
        "Sentence",
        __base__=_Strict,
        text=(str, Field(min_length=20, max_length=300)),
        cite=(cite, Field(max_length=40) if not ctx.citation_keys else ...),
    )
    return create_model(
        "SectionDraft",
        __base__=_Strict,
        heading=(str, Field(min_length=3, max_length=80)),
        sentences=(list[sentence], Field(min_length=2, max_length=6)),  # type: ignore[valid-type]
    )


def review_model(ctx: OutputContext) -> type[BaseModel]:
    """A critique: approve, or concrete fixes; citations that the text does not support are named."""
    return create_model(
        "Review",
        __base__=_Strict,
        verdict=(Literal["approve", "revise"], ...),
        fixes=(list[Fix], Field(max_length=3)),
        unsupported_citations=(_keys_list(ctx.citation_keys), Field(max_length=4)),
    )


class OutputRegistry:
    """Names to output models (fixed) or factories (per call)."""

    def __init__(self) -> None:
        self._entries: dict[str, type[BaseModel] | OutputFactory] = {}

    def register(self, name: str, output: type[BaseModel] | OutputFactory) -> None:
        if name in self._entries:
            raise ConfigError(f"an output named '{name}' is already registered")
        self._entries[name] = output

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def resolve(self, name: str, ctx: OutputContext) -> type[BaseModel]:
        entry = self._entries[name]
        if isinstance(entry, type):
            return entry
        factory: OutputFactory = entry
        return factory(ctx)


def default_outputs() -> OutputRegistry:
    registry = OutputRegistry()
    registry.register("outline", outline_model)
    registry.register("search_plan", SearchPlan)
    registry.register("evidence", evidence_model)
    registry.register("section", section_model)
    registry.register("review", review_model)
    registry.register("restatement", Restatement)
    registry.register("title", PaperTitle)
    registry.register("paper_outline", PaperOutline)
    registry.register("paper_text", PaperText)
    return registry
