"""`AgentSpec`: an agent as data. No AutoGen types here: the runtime is one replaceable adapter.

The CrewAI fields (`role`, `goal`, `backstory`, and `llm`, `max_iter`, `verbose`,
`allow_delegation`) are accepted as they are, so entries of a CrewAI `agents.yaml` load unchanged.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["AgentModelSettings", "AgentSpec", "MemoryAccess", "fill_placeholders"]

MemoryAccess = Literal["read", "write", "none"]
_NAME = r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"


class AgentModelSettings(BaseModel):
    """Which served model answers, and how."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    """Served model name; default: the endpoint's model."""
    adapter: str | None = None
    """A LoRA adapter served by vLLM under this name (it is requested instead of the base model)."""
    temperature: float = Field(default=0.3, ge=0, le=2)
    max_tokens: int = Field(default=512, ge=1, le=8192)
    repetition_penalty: float | None = Field(default=1.1, ge=1, le=2)
    """vLLM's penalty on repeated tokens (a small model loops without it); None leaves it out, for
    servers that do not know it."""
    samples: int = Field(default=1, ge=1, le=16)
    """Answers drawn at once from one request (OpenAI's `n`): with more than one, the output is
    `{"samples": [answer, ...]}` (the valid ones), for a step that keeps the best by its own checks."""


class AgentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=_NAME)
    role: str = Field(min_length=1, max_length=300)
    goal: str = Field(min_length=1, max_length=2000)
    backstory: str = Field(default="", max_length=4000)
    instructions: str = Field(default="", max_length=8000)
    """What to do and how to answer; appended to the system message."""
    model: AgentModelSettings = Field(default_factory=AgentModelSettings)
    tools: list[str] = Field(default_factory=list)
    """Allowlist of registry tool names; nothing else can be called, whatever the text says."""
    memory: MemoryAccess = "none"
    output: str | dict[str, Any] | None = None
    """A registered output model's name, or a JSON schema; none means free text."""
    max_turns: int = Field(default=4, ge=1, le=20)
    """Model calls with tool use before the agent must answer."""

    # CrewAI compatibility: accepted so CrewAI files load unchanged.
    llm: str | None = Field(default=None, exclude=True)
    """CrewAI's model name; becomes `model.name`."""
    max_iter: int | None = Field(default=None, ge=1, le=20, exclude=True)
    """CrewAI's iteration cap; becomes `max_turns`."""
    verbose: bool | None = Field(default=None, exclude=True)
    allow_delegation: bool | None = Field(default=None, exclude=True)

    @field_validator("tools")
    @classmethod
    def _unique_tools(cls, tools: list[str]) -> list[str]:
        seen = [t for i, t in enumerate(tools) if t in tools[:i]]
        if seen:
            raise ValueError(f"tool '{seen[0]}' is listed twice")
        return tools

    @model_validator(mode="after")
    def _crewai_fields(self) -> AgentSpec:
        if self.llm and not self.model.name:
            self.model = self.model.model_copy(update={"name": self.llm})
        if self.max_iter and "max_turns" not in self.model_fields_set:
            self.max_turns = self.max_iter
        return self

    @property
    def requested_model(self) -> str | None:
        """What to put in a request's `model` field (the adapter wins)."""
        return self.model.adapter or self.model.name


def fill_placeholders(text: str, values: dict[str, Any]) -> str:
    """Replace CrewAI-style `{name}` for names in `values`; every other brace stays literal
    (so JSON examples in instructions survive)."""
    return re.sub(
        r"\{([A-Za-z_][A-Za-z0-9_]*)\}",
        lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0),
        text,
    )
