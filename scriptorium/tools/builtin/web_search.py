"""`web_search`: DuckDuckGo through the `ddgs` package, behind a small backend interface.

The public search service is the one part that cannot be reached from a test machine, so tests
swap in a fake backend through the same `SearchBackend` protocol. Offline, rate-limited or slow,
the tool returns a `ToolUnavailable` error the model reads, and the run goes on with local sources.
Results are recorded in the run's memory (kind "web", with their URL) when it may write there, so
they become citable like any document.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from ...errors import ToolUnavailable
from ..base import ToolContext, tool

__all__ = ["DdgsBackend", "SearchBackend", "WebResult", "web_search"]

log = logging.getLogger(__name__)


class WebResult(BaseModel):
    title: str
    url: str
    snippet: str
    key: str | None = Field(default=None, description="Citation key, when stored in memory.")


class SearchBackend(Protocol):
    """Anything that answers a text query with web results."""

    name: str

    async def search(self, query: str, max_results: int, timeout_s: float) -> list[WebResult]: ...


class DdgsBackend:
    """The real service, through `ddgs` (the package formerly published as duckduckgo-search)."""

    name = "ddgs"

    async def search(self, query: str, max_results: int, timeout_s: float) -> list[WebResult]:
        try:
            from ddgs import DDGS
        except ImportError as exc:
            raise ToolUnavailable("web search needs the 'ddgs' package; continue with local sources") from exc

        def run() -> list[dict[str, str]]:
            return list(DDGS(timeout=int(timeout_s)).text(query, max_results=max_results) or [])

        try:
            rows = await asyncio.wait_for(asyncio.to_thread(run), timeout_s + 2)
        except Exception as exc:  # offline, DNS, rate limit, timeout: all mean "not now"
            raise ToolUnavailable(
                f"web search is unavailable ({type(exc).__name__}: {str(exc)[:120]}); "
                "continue with the local sources"
            ) from exc
        return [
            WebResult(title=row.get("title", ""), url=row.get("href", ""), snippet=row.get("body", ""))
            for row in rows
        ]


class WebSearchArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=2, max_length=200)
    max_results: int = Field(default=5, ge=1, le=10)


class WebSearchResult(BaseModel):
    backend: str
    results: list[WebResult]


@tool("web_search", timeout_s=30)
async def web_search(args: WebSearchArgs, ctx: ToolContext) -> WebSearchResult:
    """Search the web; results can be cited by their key."""
    backend = ctx.web or DdgsBackend()
    results = await backend.search(args.query, args.max_results, timeout_s=15)
    if ctx.memory is not None and ctx.memory_writable and results:
        store = ctx.memory
        keyed = []
        for result in results:
            keys = await asyncio.to_thread(
                store.add_note, result.snippet, source=result.url, title=result.title, kind="web"
            )
            keyed.append(result.model_copy(update={"key": keys[0] if keys else None}))
        results = keyed
    return WebSearchResult(backend=backend.name, results=results)
