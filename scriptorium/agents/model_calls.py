"""One agent run's model calls, the same for every engine: tool choices and the final answer.

When the endpoint's native tool calls do not work (the probe says so; it is the case for the
bundled model on vLLM), a tool choice is made by JSON-schema output instead: the schema is an
`anyOf` with one branch per allowed tool (its name as a constant, its arguments as its own schema)
and one branch to answer, so even a tiny model can only produce a well-formed choice. Choices are
bounded by the agent's `max_turns`, and the same call with the same arguments twice ends them.
Each engine turns the returned `ToolCallRequest`s into its own kind of tool call.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from ..events import LoopEnded, emit
from ..serving.client import ChatMessage, ChatResult, ModelClient, ToolCallRequest
from ..serving.probe import CapabilityProfile

__all__ = ["ANSWER", "AgentModelCalls", "decision_schema"]

ANSWER = "answer"
_DECIDE = (
    "Choose the next step. Call one of the tools ({tools}) with its arguments if you still need "
    'information, or choose "answer" when you can answer. Reply with JSON only.'
)


class AgentModelCalls:
    """The model calls of one agent run, with their usage counted."""

    def __init__(
        self,
        client: ModelClient,
        profile: CapabilityProfile,
        *,
        caller: str,
        model: str | None,
        temperature: float,
        max_tokens: int,
        max_tool_rounds: int,
        output_schema: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        samples: tuple[type[BaseModel], int] | None = None,
    ) -> None:
        self.client = client
        self.profile = profile
        self.caller = caller
        self.output_schema = output_schema
        self.samples = samples
        """(type of one answer, how many): the answer is `{"samples": [...]}` from one request."""
        self._settings: dict[str, Any] = {
            "caller": caller,
            "model": model,
            "temperature": temperature,
            "max_tokens": max_tokens,
            "extra_body": dict(extra_body) if extra_body else None,
        }
        self._max_tool_rounds = max_tool_rounds
        self.tool_rounds = 0
        self.model_calls = 0
        self.stalled = False
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.last: ChatResult | None = None
        self._last_calls: list[tuple[str, str]] = []

    @property
    def settings(self) -> dict[str, Any]:
        """Keyword arguments for `ModelClient` calls made on this agent's behalf."""
        return dict(self._settings)

    def may_use_tools(self) -> bool:
        return self.tool_rounds < self._max_tool_rounds and not self.stalled

    def count(self, result: ChatResult) -> None:
        self.model_calls += 1
        self.last = result
        self.prompt_tokens += result.prompt_tokens
        self.completion_tokens += result.completion_tokens

    async def choose_tool(
        self, conversation: list[ChatMessage], tools: Sequence[Mapping[str, Any]], *, required: bool = False
    ) -> list[ToolCallRequest]:
        """The tool calls the model asks for next (none: it answers now). `tools` are function
        schemas (`name`, `description`, `parameters`)."""
        self.tool_rounds += 1
        calls = await self._choose(conversation, tools, required=required)
        signature = [(c.name, _canonical(c.arguments)) for c in calls]
        if calls and signature == self._last_calls:
            # The same call with the same arguments again: more of it cannot help; answer now.
            self.stalled = True
            emit(
                LoopEnded(
                    rounds=self.tool_rounds,
                    reason="stalled",
                    detail=f"{self.caller} repeated the call {calls[0].name}({calls[0].arguments})",
                )
            )
            return []
        self._last_calls = signature
        return calls

    async def answer(self, conversation: list[ChatMessage], output: type[BaseModel] | None = None) -> str:
        """The final answer as text: JSON of `output` (or of the output schema) when one is set."""
        if self.samples is not None:
            kind, n = self.samples
            values, result = await self.client.samples(conversation, kind, n, **self._settings)
            self.count(result)
            return json.dumps({"samples": [v.model_dump(mode="json") for v in values]})
        if output is not None:
            structured = await self.client.structured(conversation, output, **self._settings)
            self.count(structured.result)
            return structured.value.model_dump_json()
        if self.output_schema is not None:
            value, result = await self.client.structured_json(
                conversation, self.output_schema, name="output", **self._settings
            )
            self.count(result)
            return json.dumps(value)
        result = await self.client.chat(conversation, **self._settings)
        self.count(result)
        return result.text

    async def _choose(
        self, conversation: list[ChatMessage], tools: Sequence[Mapping[str, Any]], *, required: bool
    ) -> list[ToolCallRequest]:
        if self.profile.tool_calls:
            result = await self.client.chat(
                conversation,
                tools=[{"type": "function", "function": dict(t)} for t in tools],
                tool_choice="required" if required else "auto",
                **self._settings,
            )
            self.count(result)
            return list(result.tool_calls)
        names = ", ".join(str(t["name"]) for t in tools)
        prompt = [*conversation, {"role": "user", "content": _DECIDE.format(tools=names)}]
        value, result = await self.client.structured_json(
            prompt, decision_schema(tools, allow_answer=not required), name="next_step", **self._settings
        )
        self.count(result)
        if value["action"] == ANSWER:
            return []
        return [ToolCallRequest(uuid.uuid4().hex[:12], value["action"], json.dumps(value["arguments"]))]


def decision_schema(tools: Sequence[Mapping[str, Any]], *, allow_answer: bool = True) -> dict[str, Any]:
    """One `anyOf` branch per tool (name constant, its own arguments schema) and one to answer."""
    branches: list[dict[str, Any]] = [
        {
            "type": "object",
            "properties": {
                "action": {"const": tool["name"]},
                "arguments": dict(tool.get("parameters") or {"type": "object"}),
            },
            "required": ["action", "arguments"],
            "additionalProperties": False,
        }
        for tool in tools
    ]
    if allow_answer:
        branches.append(
            {
                "type": "object",
                "properties": {"action": {"const": ANSWER}},
                "required": ["action"],
                "additionalProperties": False,
            }
        )
    return {"anyOf": branches}


def tool_call_text(name: str, arguments: str) -> dict[str, Any]:
    """A tool call as the model is shown it in later turns (the shape of its own decisions)."""
    try:
        parsed: Any = json.loads(arguments)
    except json.JSONDecodeError:
        parsed = arguments
    return {"action": name, "arguments": parsed}


def tool_result_text(name: str, content: object) -> str:
    """A tool's result as the model is shown it in a user turn (it may not know a `tool` role)."""
    return f"Result of {name}:\n{content}"


def _canonical(arguments: str) -> str:
    try:
        return json.dumps(json.loads(arguments), sort_keys=True)
    except json.JSONDecodeError:
        return arguments
