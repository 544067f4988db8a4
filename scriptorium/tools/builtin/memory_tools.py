"""`memory_search` and `read_source`: the project's shared memory, read through citation keys."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel, ConfigDict, Field

from ...errors import ToolError, ToolUnavailable
from ...memory.instructions import without_instructions
from ..base import ToolContext, tool

__all__ = ["memory_search", "read_source"]

_SNIPPET_CHARS = 700
_FEWEST_WORDS = 5
"""A passage left with fewer words once instructions are withheld has nothing to cite."""


class MemorySearchArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=300, description="What to look for.")
    k: int = Field(default=5, ge=1, le=10, description="How many passages to return.")
    sources: list[str] | None = Field(default=None, description="Only these sources (paths or URLs).")


class Passage(BaseModel):
    key: str = Field(description="Citation key: cite the passage as [key].")
    source: str
    title: str
    score: float
    text: str


class MemorySearchResult(BaseModel):
    passages: list[Passage]
    withheld: int = 0
    """Sentences left out because they address the model ("ignore your instructions ..."):
    `memory.instructions`. A passage with nothing else is left out whole."""


@tool("memory_search", timeout_s=30)
async def memory_search(args: MemorySearchArgs, ctx: ToolContext) -> MemorySearchResult:
    """Search the project's memory (ingested documents, notes, web results) for passages to cite."""
    store = _store(ctx)
    hits = await asyncio.to_thread(store.query, args.query, args.k, args.sources)
    passages, withheld = [], 0
    for h in hits:
        text, removed = without_instructions(h.text)
        withheld += removed
        if len(text.split()) < _FEWEST_WORDS:
            continue
        passages.append(
            Passage(
                key=h.key, source=h.source, title=h.title, score=round(h.score, 4), text=text[:_SNIPPET_CHARS]
            )
        )
    return MemorySearchResult(passages=passages, withheld=withheld)


class ReadSourceArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=200, description="A citation key from memory_search.")


class SourceText(BaseModel):
    key: str
    source: str
    title: str
    heading: str
    text: str


@tool("read_source", timeout_s=30)
async def read_source(args: ReadSourceArgs, ctx: ToolContext) -> SourceText:
    """Read the whole passage behind a citation key."""
    hit = await asyncio.to_thread(_store(ctx).get, args.key)
    if hit is None:
        raise ToolError(f"no passage has the citation key '{args.key}'; use a key from memory_search")
    text, _ = without_instructions(hit.text)
    return SourceText(key=hit.key, source=hit.source, title=hit.title, heading=hit.heading, text=text)


def _store(ctx: ToolContext):  # type: ignore[no-untyped-def]
    if ctx.memory is None:
        raise ToolUnavailable("this run has no memory store")
    return ctx.memory
