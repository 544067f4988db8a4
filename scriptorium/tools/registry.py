"""The tool registry: names to tools, allowlists enforced, arguments validated, calls timed and traced.

A call never raises for the model's mistakes (unknown tool, tool not allowed, bad arguments, time
out, service down): it returns a `ToolOutcome` whose error text the model can read and act on.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import (
    ConfigError,
    ToolArgumentsInvalid,
    ToolError,
    ToolNotAllowed,
    ToolTimeout,
    UnknownTool,
    plain_message,
)
from ..events import ToolCall, ToolResult, emit
from ..events import ToolError as ToolErrorEvent
from .base import Tool, ToolContext
from .untrusted import data_block

__all__ = ["PLUGIN_GROUP", "ToolOutcome", "ToolRegistry", "default_registry"]

log = logging.getLogger(__name__)

PLUGIN_GROUP = "scriptorium.tools"
"""Entry-point group of tool plugins: each names a `register_tools(register)` function."""
_TRACE_CHARS = 2000

Register = Callable[[Tool[Any, Any]], None]


@dataclass(frozen=True)
class ToolOutcome:
    """The result of one call: a validated value, or an error the model can read."""

    call_id: str
    tool: str
    value: BaseModel | None
    error: ToolError | None
    duration_s: float

    @property
    def ok(self) -> bool:
        return self.error is None

    def for_model(self) -> str:
        """What the model is shown: the result as a data block, or the error as plain text."""
        if self.error is not None:
            return f"TOOL ERROR ({self.tool}): {self.error.message}"
        assert self.value is not None
        return data_block(self.value.model_dump_json(indent=1), source=f"tool {self.tool}")


class ToolRegistry:
    def __init__(self, tools: Iterable[Tool[Any, Any]] = ()) -> None:
        self._tools: dict[str, Tool[Any, Any]] = {}
        for item in tools:
            self.register(item)

    def register(self, tool: Tool[Any, Any]) -> None:
        if tool.name in self._tools:
            raise ConfigError(f"a tool named '{tool.name}' is already registered")
        self._tools[tool.name] = tool

    def names(self) -> list[str]:
        return sorted(self._tools)

    def get(self, name: str) -> Tool[Any, Any]:
        try:
            return self._tools[name]
        except KeyError:
            raise UnknownTool(_unknown(name, self._tools)) from None

    def check(self, names: Iterable[str]) -> None:
        """Raise `UnknownTool` for the first name that is not registered (load-time validation)."""
        for name in names:
            self.get(name)

    def openai_tools(self, allowed: Iterable[str]) -> list[dict[str, Any]]:
        return [self.get(name).openai_schema() for name in allowed]

    async def call(
        self,
        name: str,
        arguments: Mapping[str, Any] | str,
        context: ToolContext,
        *,
        allowed: Collection[str] | None,
    ) -> ToolOutcome:
        """Run one call. `allowed` is the caller's allowlist (None: trusted code, any tool)."""
        call_id = uuid.uuid4().hex[:12]
        started = time.perf_counter()
        shown_args = dict(arguments) if isinstance(arguments, Mapping) else {"raw": str(arguments)[:500]}
        emit(ToolCall(call_id=call_id, tool=name, args=shown_args))
        try:
            tool = self._allowed_tool(name, allowed)
            args = _validate(tool, arguments)
            try:
                async with asyncio.timeout(tool.timeout_s):
                    value = await tool.fn(args, context)
            except TimeoutError:
                raise ToolTimeout(f"'{name}' did not finish within {tool.timeout_s:.0f}s") from None
        except ToolError as exc:
            return self._failed(call_id, name, exc, started)
        except Exception as exc:  # a tool bug must not crash the agent; the model sees a short error
            log.exception("tool %s failed", name)
            return self._failed(
                call_id, name, ToolError(f"'{name}' failed: {type(exc).__name__}: {exc}"), started
            )
        duration = time.perf_counter() - started
        emit(
            ToolResult(
                call_id=call_id, tool=name, result=value.model_dump_json()[:_TRACE_CHARS], duration_s=duration
            )
        )
        return ToolOutcome(call_id, name, value, None, duration)

    def _allowed_tool(self, name: str, allowed: Collection[str] | None) -> Tool[Any, Any]:
        if allowed is not None and name not in allowed:
            choices = ", ".join(sorted(allowed)) or "none"
            raise ToolNotAllowed(f"'{name}' is not one of this agent's tools (allowed: {choices})")
        return self.get(name)

    def _failed(self, call_id: str, name: str, error: ToolError, started: float) -> ToolOutcome:
        duration = time.perf_counter() - started
        emit(ToolErrorEvent(call_id=call_id, tool=name, error=error.message, duration_s=duration))
        return ToolOutcome(call_id, name, None, error, duration)


def _validate(tool: Tool[Any, Any], arguments: Mapping[str, Any] | str) -> BaseModel:
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError as exc:
            raise ToolArgumentsInvalid(f"arguments for '{tool.name}' are not JSON: {exc.msg}") from None
    if not isinstance(arguments, Mapping):
        raise ToolArgumentsInvalid(f"arguments for '{tool.name}' must be a JSON object")
    try:
        args: BaseModel = tool.args.model_validate(dict(arguments))
        return args
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'arguments'}: {plain_message(err)}"
            for err in exc.errors()
        )
        fields = ", ".join(tool.args.model_fields)
        raise ToolArgumentsInvalid(
            f"invalid arguments for '{tool.name}': {problems} (fields: {fields})"
        ) from None


def _unknown(name: str, known: Mapping[str, object]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    suggestion = f"; did you mean '{close[0]}'?" if close else ""
    return f"no tool named '{name}'{suggestion} (known: {', '.join(sorted(known)) or 'none'})"


def load_plugins(register: Register) -> list[str]:
    """Call every `scriptorium.tools` entry point's `register_tools(register)`.

    `SCRIPTORIUM_PLUGINS` (comma-separated entry-point names) limits which load; empty loads none.
    """
    wanted = os.environ.get("SCRIPTORIUM_PLUGINS")
    allowed = None if wanted is None else {name.strip() for name in wanted.split(",") if name.strip()}
    loaded = []
    for point in entry_points(group=PLUGIN_GROUP):
        if allowed is not None and point.name not in allowed:
            continue
        hook = point.load()
        hook(register)
        loaded.append(point.name)
    return loaded


def default_registry(*, plugins: bool = True) -> ToolRegistry:
    """The built-in tools, registered through the same hook plugins use, then the plugins."""
    from .builtin import register_tools

    registry = ToolRegistry()
    register_tools(registry.register)
    if plugins:
        load_plugins(registry.register)
    return registry
