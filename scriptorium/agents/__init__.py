"""Agents defined in YAML (role, goal, backstory, tools, memory, output schema) and their runtime.

`AgentSpec`, the loader and the output models know nothing of AutoGen; `runtime` and
`autogen_adapter` are the one replaceable adapter onto autogen-agentchat.
"""

from .loader import LIBRARY_DIR, AgentCatalog, LoadedAgent, UnknownAgent, load_agent_file
from .outputs import OutputContext, OutputRegistry, default_outputs
from .spec import AgentModelSettings, AgentSpec, fill_placeholders

__all__ = [
    "LIBRARY_DIR",
    "AgentCatalog",
    "AgentModelSettings",
    "AgentSpec",
    "LoadedAgent",
    "OutputContext",
    "OutputRegistry",
    "UnknownAgent",
    "default_outputs",
    "fill_placeholders",
    "load_agent_file",
]
