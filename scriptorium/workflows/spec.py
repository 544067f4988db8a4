"""`WorkflowSpec`: a workflow as data. Steps are keyed by id; each is exactly one kind.

Kinds: `agent` (an agent with a templated prompt), `tool` (a registry tool with templated
arguments), `map` (a sub-step for every item of a list, concurrently), `loop` (sub-steps repeated
until a condition holds or `max_rounds`), `gather` (templated values collected into one object),
`review` (a person approves, edits or rejects a value before the run goes on: `gates.py`).
Dependencies come from template references (`{{ steps.plan.output.sections }}`) and `needs`.
"""

from __future__ import annotations

from typing import Any, Literal

import jsonschema
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..agents.engine import EngineName

__all__ = ["InputSpec", "LoopSpec", "StepKind", "StepSpec", "WorkflowSpec"]

StepKind = Literal["agent", "tool", "map", "loop", "gather", "review"]
_KINDS: tuple[StepKind, ...] = ("agent", "tool", "map", "loop", "gather", "review")
_ID = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"


class InputSpec(BaseModel):
    """One workflow input, typed like a JSON-schema property."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["string", "integer", "number", "boolean", "array", "object"] = "string"
    description: str = ""
    default: Any = None
    enum: list[Any] | None = None
    minimum: float | None = None
    maximum: float | None = None

    @property
    def required(self) -> bool:
        return "default" not in self.model_fields_set

    @model_validator(mode="after")
    def _consistent(self) -> InputSpec:
        """Bounds that admit a value, and a default that is one of the values the input takes:
        a contradiction here would only show when a run uses the default."""
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError(f"minimum ({self.minimum:g}) is above maximum ({self.maximum:g})")
        if self.enum is not None and not self.enum:
            raise ValueError("enum lists no value")
        if self.default is not None:  # None: no default (a spec dumped whole names it so)
            try:
                jsonschema.validate(self.default, self.json_schema())
            except jsonschema.ValidationError as exc:
                raise ValueError(f"default {self.default!r} does not fit the input: {exc.message}") from exc
        return self

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": self.type}
        for name in ("enum", "minimum", "maximum"):
            value = getattr(self, name)
            if value is not None:
                schema[name] = value
        return schema


class LoopSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_rounds: int = Field(ge=1, le=10)
    steps: dict[str, StepSpec] = Field(min_length=1)
    """Run in order each round; `{{ loop.NAME.output }}` is this round's, `{{ loop.previous.NAME.output }}`
    the last round's, `{{ loop.round }}` the round number (from 1)."""
    until: str
    """A template that is true when the loop is done."""
    output: str | None = None
    """What the loop yields (a template over `loop`); default: its last step's output."""


class StepSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    # agent
    agent: str | None = None
    prompt: str | None = None
    citations: str | None = None
    """A template giving the citation keys the agent may cite (an enum in its output schema)."""
    choices: str | None = None
    """A template giving the strings the agent must choose among (e.g. outline headings; an enum)."""
    avoid: str | None = None
    """A template giving words the agent must not write (vLLM's `bad_words`): a writer told not to
    reuse its evidence's own words restates instead of copying."""
    variables: dict[str, str] = Field(default_factory=dict)
    """Fill CrewAI-style `{name}` placeholders in the agent's fields."""
    expected_output: str | None = None
    """A template: what a good answer looks like. The CrewAI engine gives it as the task's own
    `expected_output`; the AutoGen engine adds it to the task."""
    output: str | dict[str, Any] | None = None
    """This step's output model instead of its agent's: a registered model's name or a JSON schema
    (CrewAI's per-task `output_pydantic`)."""
    # tool
    tool: str | None = None
    args: dict[str, Any] = Field(default_factory=dict)
    # map
    map: str | None = None
    as_: str = Field(default="item", alias="as", pattern=_ID)
    step: StepSpec | None = None
    concurrency: int | None = Field(default=None, ge=1)
    # loop
    loop: LoopSpec | None = None
    # gather
    gather: dict[str, Any] | None = None
    # review
    review: Any = None
    """What a person is shown (a template or a mapping of them); the step's output is what they
    approve, or their edit of it."""
    shape: str | None = None
    """An output model (by name) an edit must validate against."""
    revise: str | None = None
    """A step this gate reads that is run again, with the reviewer's note as `{{ review.note }}`,
    when the person rejects; without it a rejection fails the run."""
    rounds: int = Field(default=2, ge=1, le=5)
    """How many times a rejection may send the work back before the run fails."""
    optional: bool = False
    """Off unless the run asks for it (`--review NAME`); when off, the value passes unchanged."""
    # every kind
    needs: list[str] = Field(default_factory=list)
    when: str | None = None
    """A template; when false the step is skipped (its output is null)."""
    timeout_s: float = Field(default=900, gt=0)
    description: str = ""

    @property
    def kind(self) -> StepKind:
        return next(k for k in _KINDS if getattr(self, k) is not None)

    @model_validator(mode="after")
    def _one_kind(self) -> StepSpec:
        kinds = [k for k in _KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            found = ", ".join(kinds) or "none"
            raise ValueError(
                f"a step needs exactly one of agent, tool, map, loop, gather, review (found: {found})"
            )
        kind = kinds[0]
        if kind == "agent" and not self.prompt:
            raise ValueError("an agent step needs a prompt")
        if kind == "map" and self.step is None:
            raise ValueError("a map step needs a step to run for each item")
        if kind != "agent" and (
            self.prompt
            or self.citations
            or self.choices
            or self.variables
            or self.avoid
            or self.expected_output
            or self.output is not None
        ):
            raise ValueError(
                "prompt, citations, choices, avoid, variables, expected_output and output belong to "
                "agent steps"
            )
        if kind != "tool" and self.args:
            raise ValueError("args belong to tool steps")
        if kind != "map" and (self.step is not None or self.concurrency is not None):
            raise ValueError("step and concurrency belong to map steps")
        # By value, not by `model_fields_set`: a spec dumped with its defaults (a Ray task's copy)
        # names every field.
        defaults = {"shape": None, "revise": None, "rounds": 2, "optional": False}
        gate_fields = {name for name, default in defaults.items() if getattr(self, name) != default}
        if kind != "review" and gate_fields:
            raise ValueError(f"{', '.join(sorted(gate_fields))} belong to review steps")
        return self


class WorkflowSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
    description: str = ""
    inputs: dict[str, InputSpec] = Field(default_factory=dict)
    steps: dict[str, StepSpec] = Field(min_length=1)
    outputs: dict[str, str] = Field(default_factory=dict)
    """Named templates over `steps` and `inputs`: what the run returns."""
    concurrency: int = Field(default=16, ge=1)
    """Steps (and map items) running at once; the model client caps requests separately."""
    budget_s: float = Field(default=3600, gt=0)
    """Wall-clock budget of a run; past it the run stops with a "limit reached" result."""
    engine: EngineName = "autogen"
    """Which agent framework runs the agent steps (`--engine` overrides it for one run)."""
