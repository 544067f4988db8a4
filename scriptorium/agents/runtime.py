"""Running an `AgentSpec`: an autogen-agentchat `AssistantAgent` per call, on our model client.

The runtime probes the endpoint once, checks that the model the spec asks for is served, gives the
agent exactly its allowlisted tools (memory access as its spec says), builds the output schema for
this call (citation keys as an enum), and bounds the run by `max_turns`. AutoGen appears only here
and in `autogen_adapter`; everything else deals in specs and `AgentResult`s.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.messages import StructuredMessage, TextMessage
from pydantic import BaseModel

from ..errors import ConfigError, ScriptoriumError, StructuredOutputError
from ..events import scope
from ..serving.client import ModelClient
from ..serving.probe import CapabilityProfile, probe
from ..tools import DATA_RULE, ToolContext, ToolRegistry
from .autogen_adapter import RegistryTool, ScriptoriumChatClient
from .outputs import OutputContext, OutputRegistry
from .spec import AgentSpec, fill_placeholders

__all__ = ["AgentResult", "AgentRunError", "AgentRuntime", "ModelNotServed", "system_message"]

log = logging.getLogger(__name__)


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


class AgentRuntime:
    """Runs agents against one endpoint with one tool registry and one tool context."""

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
    ) -> AgentResult:
        """One task for one agent; returns its validated answer."""
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
        output_type, output_schema = self._output(spec, OutputContext(tuple(citation_keys), tuple(choices)))
        adapter = ScriptoriumChatClient(
            self.client,
            profile,
            caller=spec.name,
            model=model,
            temperature=spec.model.temperature,
            max_tokens=spec.model.max_tokens,
            max_tool_rounds=spec.max_turns,
            output_schema=output_schema,
            extra_body=(
                {"repetition_penalty": spec.model.repetition_penalty}
                if spec.model.repetition_penalty
                else None
            ),
        )
        context = replace(
            self.context,
            memory=self.context.memory if spec.memory != "none" else None,
            memory_writable=spec.memory == "write",
        )
        agent_tools = [RegistryTool(self.tools, name, context, spec.tools) for name in spec.tools]
        agent = AssistantAgent(
            name=spec.name.replace("-", "_"),
            model_client=adapter,
            tools=agent_tools or None,  # type: ignore[arg-type]
            system_message=system_message(spec, values),
            output_content_type=output_type,
            max_tool_iterations=spec.max_turns,
            reflect_on_tool_use=bool(agent_tools),
        )
        started = time.perf_counter()
        with scope(agent=spec.name):
            try:
                result = await agent.run(task=fill_placeholders(task, values))
            except StructuredOutputError as exc:
                raise AgentRunError(
                    f"agent '{spec.name}' gave no valid answer: {exc.message}", agent=spec.name, raw=exc.raw
                ) from exc
        final = result.messages[-1]
        tools_used = [
            call.name
            for message in result.messages
            if getattr(message, "type", "") == "ToolCallRequestEvent"
            for call in message.content  # type: ignore[union-attr]
        ]
        output, text = self._final(spec, final, output_type, output_schema)
        usage = adapter.total_usage()
        return AgentResult(
            agent=spec.name,
            output=output,
            text=text,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            model_calls=adapter.model_calls,
            tool_calls=len(tools_used),
            duration_s=time.perf_counter() - started,
            tools_used=tools_used,
        )

    def _output(
        self, spec: AgentSpec, ctx: OutputContext
    ) -> tuple[type[BaseModel] | None, Mapping[str, Any] | None]:
        if isinstance(spec.output, str):
            return self.outputs.resolve(spec.output, ctx), None
        if isinstance(spec.output, dict):
            return None, spec.output
        return None, None

    def _final(
        self,
        spec: AgentSpec,
        message: Any,
        output_type: type[BaseModel] | None,
        output_schema: Mapping[str, Any] | None,
    ) -> tuple[Any, str]:
        if isinstance(message, StructuredMessage):
            value = message.content
            return value, value.model_dump_json() if isinstance(value, BaseModel) else str(value)
        if not isinstance(message, TextMessage):
            raise AgentRunError(
                f"agent '{spec.name}' ended without an answer (last step: {type(message).__name__}); "
                f"it may need more than max_turns={spec.max_turns}",
                agent=spec.name,
                raw=str(getattr(message, "content", ""))[:2000],
            )
        text = message.content
        if output_type is not None:
            return output_type.model_validate_json(text), text
        if output_schema is not None:
            return json.loads(text), text
        return text, text
