"""The one place AutoGen types meet ours: a `ChatCompletionClient` over `ModelClient`, and registry
tools as AutoGen tools.

Every model call of an AutoGen agent goes through our client, so retries, the concurrency cap,
accounting and trace events stay in one place. When the endpoint's native tool calls do not work
(the probe says so; it is the case for the bundled model on vLLM), a tool choice is made by
JSON-schema output instead: the schema is an `anyOf` with one branch per allowed tool (its name as a
constant, its arguments as its own schema) and one branch to answer, so even a tiny model can only
produce a well-formed choice; it is handed to AutoGen as an ordinary function call.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any, Literal

from autogen_core import CancellationToken, FunctionCall
from autogen_core.models import (
    AssistantMessage,
    ChatCompletionClient,
    CreateResult,
    FunctionExecutionResultMessage,
    LLMMessage,
    ModelCapabilities,
    ModelInfo,
    RequestUsage,
    SystemMessage,
    UserMessage,
)
from autogen_core.tools import BaseTool, Tool, ToolSchema
from pydantic import BaseModel

from ..events import LoopEnded, emit
from ..serving.client import ChatMessage, ChatResult, ModelClient, TextDelta
from ..serving.probe import CapabilityProfile
from ..tools import ToolContext, ToolRegistry

__all__ = ["RegistryTool", "ScriptoriumChatClient", "decision_schema"]

ANSWER = "answer"
_DECIDE = (
    "Choose the next step. Call one of the tools ({tools}) with its arguments if you still need "
    'information, or choose "answer" when you can answer. Reply with JSON only.'
)


class ToolText(BaseModel):
    """A tool's result as the model is shown it (a data block, or an error it can act on)."""

    text: str


class RegistryTool(BaseTool[BaseModel, ToolText]):
    """A registry tool as AutoGen sees it; calls go through the registry, allowlist and all."""

    def __init__(
        self, registry: ToolRegistry, name: str, context: ToolContext, allowed: Sequence[str]
    ) -> None:
        tool = registry.get(name)
        super().__init__(tool.args, ToolText, tool.name, tool.description)
        self._registry = registry
        self._context = context
        self._allowed = tuple(allowed)

    async def run(self, args: BaseModel, cancellation_token: CancellationToken) -> ToolText:
        return await self._call(args.model_dump())

    async def run_json(
        self, args: Mapping[str, Any], cancellation_token: CancellationToken, call_id: str | None = None
    ) -> Any:
        # The registry validates (with errors the model can read) and traces; AutoGen's own
        # validation would raise before the model could learn what was wrong.
        return await self._call(dict(args))

    def return_value_as_string(self, value: Any) -> str:
        return value.text if isinstance(value, ToolText) else str(value)

    async def _call(self, args: dict[str, Any]) -> ToolText:
        outcome = await self._registry.call(self.name, args, self._context, allowed=self._allowed)
        return ToolText(text=outcome.for_model())


class ScriptoriumChatClient(ChatCompletionClient):
    """AutoGen's model-client interface on top of `ModelClient`, for one agent's run."""

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
    ) -> None:
        self._client = client
        self._profile = profile
        self._caller = caller
        self._model = model
        self._temperature = temperature
        self._max_tokens = max_tokens
        self._max_tool_rounds = max_tool_rounds
        self._output_schema = output_schema
        self._extra_body = dict(extra_body or {})
        self.tool_rounds = 0
        self.model_calls = 0
        self.stalled = False
        self._last_calls: list[tuple[str, str]] = []
        self._usage = RequestUsage(prompt_tokens=0, completion_tokens=0)
        self._last_usage = RequestUsage(prompt_tokens=0, completion_tokens=0)

    # -- the interface ---------------------------------------------------------------------------

    async def create(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = (),
        tool_choice: Tool | Literal["auto", "required", "none"] = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: CancellationToken | None = None,
    ) -> CreateResult:
        conversation = to_chat_messages(messages)
        schemas = [_schema(t) for t in tools] if tool_choice != "none" else []
        if schemas and self.tool_rounds < self._max_tool_rounds and not self.stalled:
            self.tool_rounds += 1
            calls = await self._choose_tool(conversation, schemas, required=tool_choice == "required")
            signature = [(c.name, _canonical(c.arguments)) for c in calls]
            if calls and signature == self._last_calls:
                # The same call with the same arguments again: more of it cannot help; answer now.
                self.stalled = True
                emit(
                    LoopEnded(
                        rounds=self.tool_rounds,
                        reason="stalled",
                        detail=f"{self._caller} repeated the call {calls[0].name}({calls[0].arguments})",
                    )
                )
            elif calls:
                self._last_calls = signature
                return CreateResult(
                    finish_reason="function_calls", content=calls, usage=self._last_usage, cached=False
                )
        text = await self._answer(conversation, json_output)
        return CreateResult(finish_reason="stop", content=text, usage=self._last_usage, cached=False)

    async def create_stream(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = (),
        tool_choice: Tool | Literal["auto", "required", "none"] = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: CancellationToken | None = None,
    ) -> AsyncGenerator[str | CreateResult, None]:
        plain = not (tools and tool_choice != "none") and not json_output and self._output_schema is None
        if not plain:
            yield await self.create(messages, tools=tools, tool_choice=tool_choice, json_output=json_output)
            return
        result: ChatResult | None = None
        async for item in self._client.stream(to_chat_messages(messages), **self._settings()):
            if isinstance(item, TextDelta):
                yield item.text
            else:
                result = item
        assert result is not None
        self._count(result)
        yield CreateResult(finish_reason="stop", content=result.text, usage=self._last_usage, cached=False)

    async def close(self) -> None:
        """The shared `ModelClient` outlives this adapter; nothing to close here."""

    def actual_usage(self) -> RequestUsage:
        return self._usage

    def total_usage(self) -> RequestUsage:
        return self._usage

    def count_tokens(self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = ()) -> int:
        # A cheap estimate (about four characters a token); the served tokenizer is authoritative.
        text = json.dumps(to_chat_messages(messages)) + json.dumps([_schema(t) for t in tools])
        return len(text) // 4

    def remaining_tokens(
        self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = ()
    ) -> int:
        return (self._profile.context_length or 8192) - self.count_tokens(messages, tools=tools)

    @property
    def capabilities(self) -> ModelCapabilities:
        return ModelCapabilities(vision=False, function_calling=True, json_output=True)

    @property
    def model_info(self) -> ModelInfo:
        return ModelInfo(
            vision=False,
            function_calling=True,  # natively, or emulated by JSON-schema decisions
            json_output=True,
            family="unknown",
            structured_output=True,
            multiple_system_messages=False,
        )

    # -- internals -------------------------------------------------------------------------------

    def _settings(self) -> dict[str, Any]:
        return {
            "caller": self._caller,
            "model": self._model,
            "temperature": self._temperature,
            "max_tokens": self._max_tokens,
            "extra_body": self._extra_body or None,
        }

    def _count(self, result: ChatResult) -> None:
        self.model_calls += 1
        self._last_usage = RequestUsage(
            prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens
        )
        self._usage = RequestUsage(
            prompt_tokens=self._usage.prompt_tokens + result.prompt_tokens,
            completion_tokens=self._usage.completion_tokens + result.completion_tokens,
        )

    async def _choose_tool(
        self, conversation: list[ChatMessage], schemas: list[ToolSchema], *, required: bool
    ) -> list[FunctionCall]:
        if self._profile.tool_calls:
            result = await self._client.chat(
                conversation,
                tools=[{"type": "function", "function": dict(s)} for s in schemas],
                tool_choice="required" if required else "auto",
                **self._settings(),
            )
            self._count(result)
            return [FunctionCall(id=c.id, name=c.name, arguments=c.arguments) for c in result.tool_calls]
        names = ", ".join(s["name"] for s in schemas)
        prompt = [*conversation, {"role": "user", "content": _DECIDE.format(tools=names)}]
        value, result = await self._client.structured_json(
            prompt, decision_schema(schemas, allow_answer=not required), name="next_step", **self._settings()
        )
        self._count(result)
        if value["action"] == ANSWER:
            return []
        return [
            FunctionCall(
                id=uuid.uuid4().hex[:12], name=value["action"], arguments=json.dumps(value["arguments"])
            )
        ]

    async def _answer(
        self, conversation: list[ChatMessage], json_output: bool | type[BaseModel] | None
    ) -> str:
        if isinstance(json_output, type) and issubclass(json_output, BaseModel):
            structured = await self._client.structured(conversation, json_output, **self._settings())
            self._count(structured.result)
            return structured.value.model_dump_json()
        if self._output_schema is not None:
            value, result = await self._client.structured_json(
                conversation, self._output_schema, name="output", **self._settings()
            )
            self._count(result)
            return json.dumps(value)
        result = await self._client.chat(conversation, **self._settings())
        self._count(result)
        return result.text


def decision_schema(tools: Sequence[ToolSchema], *, allow_answer: bool = True) -> dict[str, Any]:
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


def to_chat_messages(messages: Sequence[LLMMessage]) -> list[ChatMessage]:
    """AutoGen messages as plain chat messages; tool calls and results become text turns, since the
    model may not know a `tool` role."""
    out: list[ChatMessage] = []
    for message in messages:
        if isinstance(message, SystemMessage):
            out.append({"role": "system", "content": message.content})
        elif isinstance(message, UserMessage):
            content = message.content
            text = (
                content if isinstance(content, str) else "\n".join(p for p in content if isinstance(p, str))
            )
            out.append({"role": "user", "content": text})
        elif isinstance(message, AssistantMessage):
            if isinstance(message.content, str):
                out.append({"role": "assistant", "content": message.content})
            else:
                calls = [{"action": c.name, "arguments": _arguments(c.arguments)} for c in message.content]
                out.append(
                    {"role": "assistant", "content": json.dumps(calls[0] if len(calls) == 1 else calls)}
                )
        elif isinstance(message, FunctionExecutionResultMessage):
            results = "\n\n".join(f"Result of {r.name}:\n{r.content}" for r in message.content)
            out.append({"role": "user", "content": results})
    return out


def _canonical(arguments: str) -> str:
    try:
        return json.dumps(json.loads(arguments), sort_keys=True)
    except json.JSONDecodeError:
        return arguments


def _arguments(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _schema(tool: Tool | ToolSchema) -> ToolSchema:
    return tool.schema if isinstance(tool, Tool) else tool
