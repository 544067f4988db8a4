"""What a tool is: a name, a description, a pydantic arguments model, an async function, a result model."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar, get_type_hints

from pydantic import BaseModel

if TYPE_CHECKING:
    from ..memory.store import MemoryStore
    from .builtin.web_search import SearchBackend

__all__ = ["Tool", "ToolContext", "tool"]

ArgsT = TypeVar("ArgsT", bound=BaseModel)
ResultT = TypeVar("ResultT", bound=BaseModel)


@dataclass
class ToolContext:
    """What a tool may reach during a run. Everything is optional: a tool that needs a missing part
    says so in a `ToolError` the model can read."""

    run_dir: Path | None = None
    """The only folder file-writing tools may write into."""
    memory: MemoryStore | None = None
    memory_writable: bool = False
    web: SearchBackend | None = None
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Tool(Generic[ArgsT, ResultT]):
    name: str
    description: str
    args: type[ArgsT]
    result: type[ResultT]
    fn: Callable[[ArgsT, ToolContext], Awaitable[ResultT]]
    timeout_s: float = 30.0

    def openai_schema(self) -> dict[str, Any]:
        """The tool in OpenAI's `tools=[...]` format."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.args.model_json_schema(),
            },
        }


def tool(
    name: str, description: str | None = None, *, timeout_s: float = 30.0
) -> Callable[[Callable[[Any, ToolContext], Awaitable[Any]]], Tool[Any, Any]]:
    """Make a `Tool` of `async def fn(args: ArgsModel, ctx: ToolContext) -> ResultModel`.

    The models come from the annotations; the description defaults to the docstring.
    """

    def build(fn: Callable[[Any, ToolContext], Awaitable[Any]]) -> Tool[Any, Any]:
        hints = get_type_hints(fn)
        params = list(inspect.signature(fn).parameters)
        args_model = hints.get(params[0]) if params else None
        result_model = hints.get("return")
        if not (isinstance(args_model, type) and issubclass(args_model, BaseModel)):
            raise TypeError(f"tool {name}: the first parameter must be annotated with a pydantic model")
        if not (isinstance(result_model, type) and issubclass(result_model, BaseModel)):
            raise TypeError(f"tool {name}: the return annotation must be a pydantic model")
        text = description or inspect.getdoc(fn) or ""
        return Tool(name, text.strip(), args_model, result_model, fn, timeout_s)

    return build
