"""Running an `AgentSpec`: an autogen-agentchat `AssistantAgent` per call, on our model client.

The shared `AgentEngine.plan` checks the served model, builds this call's output schema (citation
keys as an enum) and the tool context; here the agent gets exactly its allowlisted tools and is
bounded by `max_turns`. AutoGen appears only here
and in `autogen_adapter`; everything else deals in specs and `AgentResult`s.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.messages import StructuredMessage, TextMessage
from pydantic import BaseModel

from ..errors import StructuredOutputError
from ..events import scope
from .autogen_adapter import RegistryTool, ScriptoriumChatClient
from .engine import (
    AgentEngine,
    AgentResult,
    AgentRunError,
    CallPlan,
    ModelNotServed,
    parse_answer,
    system_message,
)
from .spec import AgentSpec

__all__ = ["AgentResult", "AgentRunError", "AgentRuntime", "ModelNotServed", "system_message"]

log = logging.getLogger(__name__)


class AgentRuntime(AgentEngine):
    """The AutoGen engine: an `AssistantAgent` per call on our model client."""

    name = "autogen"

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
        """One task for one agent; returns its validated answer."""
        plan = await self.plan(spec, task, variables, citation_keys, choices, avoid, expected_output)
        calls = await self.model_calls(spec, plan)
        adapter = ScriptoriumChatClient(calls)
        agent_tools = [RegistryTool(self.tools, name, plan.context, spec.tools) for name in spec.tools]
        agent = AssistantAgent(
            name=spec.name.replace("-", "_"),
            model_client=adapter,
            tools=agent_tools or None,  # type: ignore[arg-type]
            system_message=plan.system,
            output_content_type=plan.output_type,
            max_tool_iterations=spec.max_turns,
            reflect_on_tool_use=bool(agent_tools),
        )
        started = time.perf_counter()
        with scope(agent=spec.name):
            try:
                result = await agent.run(task=plan.task_with_expectation)
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
        output, text = self._final(spec, final, plan)
        return AgentResult(
            agent=spec.name,
            output=output,
            text=text,
            prompt_tokens=calls.prompt_tokens,
            completion_tokens=calls.completion_tokens,
            model_calls=calls.model_calls,
            tool_calls=len(tools_used),
            duration_s=time.perf_counter() - started,
            tools_used=tools_used,
        )

    def _final(self, spec: AgentSpec, message: Any, plan: CallPlan) -> tuple[Any, str]:
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
        return parse_answer(spec, plan, message.content), message.content
