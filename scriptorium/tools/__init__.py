"""The typed tool registry: a name, a pydantic arguments model and an async function per tool."""

from .base import Tool, ToolContext, tool
from .registry import PLUGIN_GROUP, ToolOutcome, ToolRegistry, default_registry, load_plugins
from .untrusted import DATA_RULE, data_block

__all__ = [
    "DATA_RULE",
    "PLUGIN_GROUP",
    "Tool",
    "ToolContext",
    "ToolOutcome",
    "ToolRegistry",
    "data_block",
    "default_registry",
    "load_plugins",
    "tool",
]
