"""What every agent engine shares: the result type, the served-model check, the output schema of a
call, the tool context an agent may see, and the choice of engine by name.

An engine runs one `AgentSpec` on one task and returns an `AgentResult`. Two exist: `autogen`
(the default, `runtime.AgentRuntime`) and `crewai` (`crewai_engine.CrewAIRuntime`). Both send every
model call through the same `ModelClient`, so retries, the concurrency cap, accounting and trace
events do not depend on the engine, and both validate answers against the same output models.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, get_args

from pydantic import BaseModel, create_model

from ..errors import ConfigError, ScriptoriumError
from ..serving.client import ModelClient
from ..serving.probe import CapabilityProfile, probe
from ..tools import DATA_RULE, ToolContext, ToolRegistry
from .model_calls import AgentModelCalls
from .outputs import OutputContext, OutputRegistry
from .spec import AgentSpec, fill_placeholders

__all__ = [
    "ENGINES",
    "AgentEngine",
    "AgentResult",
    "AgentRunError",
    "CallPlan",
    "check_engine",
    "EngineName",
    "ModelNotServed",
    "make_engine",
    "system_message",
]

EngineName = Literal["autogen", "crewai"]
ENGINES: tuple[str, ...] = get_args(EngineName)


class AgentRunError(ScriptoriumError):
    """An agent could not produce an answer (its last reply is kept in `raw`)."""

    def __init__(self, message: str, *, agent: str, raw: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.agent = agent
        self.raw = raw


class ModelNotServed(ConfigError):
    """An agent asks for a model (or LoRA adapter) the endpoint does not serve."""


@dataclass(frozen=True)
class AgentResult:
    agent: str
    output: Any
    """The validated pydantic object, the parsed JSON value (JSON-schema outputs), or the text."""
    text: str
    prompt_tokens: int
    completion_tokens: int
    model_calls: int
    tool_calls: int
    duration_s: float
    tools_used: list[str] = field(default_factory=list)


def system_message(spec: AgentSpec, variables: Mapping[str, Any]) -> str:
    parts = [f"You are the {spec.role}. Your goal: {spec.goal}"]
    if spec.backstory:
        parts.append(spec.backstory.strip())
    if spec.instructions:
        parts.append(spec.instructions.strip())
    parts.append(DATA_RULE)
    return fill_placeholders("\n\n".join(parts), dict(variables))


@dataclass(frozen=True)
class CallPlan:
    """Everything an engine needs for one agent call, decided the same way for every engine."""

    model: str | None
    system: str
    task: str
    output_type: type[BaseModel] | None
    output_schema: Mapping[str, Any] | None
    context: ToolContext
    extra_body: Mapping[str, Any] | None
    sample_type: type[BaseModel] | None = None
    """With `samples` > 1: the type of one sample (`output_type` is then the list of them)."""
    expected_output: str | None = None
    """What a good answer looks like, when the step says (CrewAI's own task field)."""

    @property
    def task_with_expectation(self) -> str:
        """The task as one text, for an engine with no field of its own for the expectation."""
        return (
            f"{self.task}\n\nExpected output: {self.expected_output}" if self.expected_output else self.task
        )


class AgentEngine:
    """Runs agents against one endpoint with one tool registry and one tool context."""

    name: str = ""

    def __init__(
        self,
        client: ModelClient,
        *,
        tools: ToolRegistry,
        outputs: OutputRegistry,
        context: ToolContext | None = None,
    ) -> None:
        self.client = client
        self.tools = tools
        self.outputs = outputs
        self.context = context or ToolContext()
        self._profile: CapabilityProfile | None = None

    async def profile(self) -> CapabilityProfile:
        if self._profile is None:
            self._profile = await probe(self.client)
        return self._profile

    async def run(
        self,
        spec: AgentSpec,
        task: str,
        *,
        variables: Mapping[str, Any] | None = None,
        citation_keys: Sequence[str] = (),
        choices: Sequence[str] = (),
        avoid: Sequence[str] = (),
        expected_output: str | None = None,
    ) -> AgentResult:
        """One task for one agent; returns its validated answer (`avoid`: words it may not write;
        `expected_output`: what a good answer looks like)."""
        raise NotImplementedError

    async def plan(
        self,
        spec: AgentSpec,
        task: str,
        variables: Mapping[str, Any] | None,
        citation_keys: Sequence[str],
        choices: Sequence[str],
        avoid: Sequence[str] = (),
        expected_output: str | None = None,
    ) -> CallPlan:
        values = dict(variables or {})
        profile = await self.profile()
        model = spec.requested_model
        if model is not None and model not in profile.models:
            raise ModelNotServed(
                f"agent '{spec.name}' asks for model '{model}', which {profile.base_url} does not serve",
                hint="served: "
                + ", ".join(profile.models)
                + f"; a registered fine-tune is served with `scriptorium serve --lora {model}`",
            )
        output_type: type[BaseModel] | None = None
        output_schema: Mapping[str, Any] | None = None
        sample_type: type[BaseModel] | None = None
        if isinstance(spec.output, str):
            given = OutputContext(tuple(citation_keys), tuple(choices))
            output_type = self.outputs.resolve(spec.output, given)
            if spec.model.samples > 1:
                sample_type, output_type = output_type, samples_model(output_type)
        elif isinstance(spec.output, dict):
            output_schema = spec.output
        return CallPlan(
            model=model,
            system=system_message(spec, values),
            task=fill_placeholders(task, values),
            output_type=output_type,
            output_schema=output_schema,
            context=replace(
                self.context,
                memory=self.context.memory if spec.memory != "none" else None,
                memory_writable=spec.memory == "write",
            ),
            extra_body=_extra_body(spec, _writable(avoid, sample_type or output_type)),
            expected_output=fill_placeholders(expected_output, values) if expected_output else None,
            sample_type=sample_type,
        )

    async def model_calls(self, spec: AgentSpec, plan: CallPlan) -> AgentModelCalls:
        """The model-call budget and accounting of one run of `spec`."""
        return AgentModelCalls(
            self.client,
            await self.profile(),
            caller=spec.name,
            model=plan.model,
            temperature=spec.model.temperature,
            max_tokens=spec.model.max_tokens,
            max_tool_rounds=spec.max_turns,
            output_schema=plan.output_schema,
            extra_body=plan.extra_body,
            samples=(plan.sample_type, spec.model.samples) if plan.sample_type is not None else None,
        )


def samples_model(output: type[BaseModel]) -> type[BaseModel]:
    """`{"samples": [output, ...]}`: what an agent drawing several answers at once returns."""
    return create_model(f"{output.__name__}Samples", samples=(list[output], ...))  # type: ignore[valid-type]


def _writable(avoid: Sequence[str], output: type[BaseModel] | None) -> list[str]:
    """`avoid` less the words the answer's JSON must contain (its field names): barring one would
    leave guided decoding no way to write the answer (vLLM fails the request)."""
    if output is None:
        return list(avoid)
    schema = json.dumps(output.model_json_schema()).lower()
    return [w for w in avoid if f'"{w.strip().lower()}"' not in schema]


def _extra_body(spec: AgentSpec, avoid: Sequence[str]) -> dict[str, Any] | None:
    """vLLM sampling options beyond OpenAI's: a repetition penalty, words not to write (each
    also with a leading space, the form it takes inside a sentence)."""
    body: dict[str, Any] = {}
    if spec.model.repetition_penalty:
        body["repetition_penalty"] = spec.model.repetition_penalty
    words = [w.strip() for w in avoid if w.strip()]
    if words:
        body["bad_words"] = list(dict.fromkeys(form for w in words for form in (w, f" {w}")))
    return body or None


def parse_answer(spec: AgentSpec, plan: CallPlan, text: str) -> Any:
    """The final answer's text as the agent's output value (validated where a schema is set)."""
    if plan.output_type is not None:
        return plan.output_type.model_validate_json(text)
    if plan.output_schema is not None:
        return json.loads(text)
    return text


def check_engine(name: str | None) -> None:
    """Refuse an unknown engine name before anything starts."""
    if name is not None and name not in ENGINES:
        raise ConfigError(f"unknown engine '{name}'", hint="engines: " + ", ".join(ENGINES))


def make_engine(
    name: str,
    client: ModelClient,
    *,
    tools: ToolRegistry,
    outputs: OutputRegistry,
    context: ToolContext | None = None,
) -> AgentEngine:
    """The engine called `name` (imported only when chosen: CrewAI is slow to import)."""
    if name == "autogen":
        from .runtime import AgentRuntime

        return AgentRuntime(client, tools=tools, outputs=outputs, context=context)
    if name == "crewai":
        from .crewai_engine import CrewAIRuntime

        return CrewAIRuntime(client, tools=tools, outputs=outputs, context=context)
    check_engine(name)
    raise AssertionError(name)  # check_engine knows every engine
