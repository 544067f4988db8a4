"""The one place AutoGen types meet ours: a `ChatCompletionClient` over `ModelClient`, and registry
tools as AutoGen tools.

Every model call of an AutoGen agent goes through our client, so retries, the concurrency cap,
accounting and trace events stay in one place. Tool choices and answers are `AgentModelCalls`'
(JSON-schema decisions where native tool calls do not work); a choice is handed to AutoGen as an
ordinary function call.
"""

from __future__ import annotations

import json
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

from ..serving.client import ChatMessage, ChatResult, TextDelta
from ..tools import ToolContext, ToolRegistry
from .model_calls import AgentModelCalls, decision_schema, tool_call_text, tool_result_text

__all__ = ["RegistryTool", "ScriptoriumChatClient", "decision_schema"]


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

    def __init__(self, calls: AgentModelCalls) -> None:
        self.calls = calls

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
        if schemas and self.calls.may_use_tools():
            calls = await self.calls.choose_tool(conversation, schemas, required=tool_choice == "required")
            if calls:
                return CreateResult(
                    finish_reason="function_calls",
                    content=[FunctionCall(id=c.id, name=c.name, arguments=c.arguments) for c in calls],
                    usage=self._last_usage(),
                    cached=False,
                )
        output = json_output if isinstance(json_output, type) and issubclass(json_output, BaseModel) else None
        text = await self.calls.answer(conversation, output)
        return CreateResult(finish_reason="stop", content=text, usage=self._last_usage(), cached=False)

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
        plain = not (tools and tool_choice != "none") and not json_output and self.calls.output_schema is None
        if not plain:
            yield await self.create(messages, tools=tools, tool_choice=tool_choice, json_output=json_output)
            return
        result: ChatResult | None = None
        async for item in self.calls.client.stream(to_chat_messages(messages), **self.calls.settings):
            if isinstance(item, TextDelta):
                yield item.text
            else:
                result = item
        assert result is not None
        self.calls.count(result)
        yield CreateResult(finish_reason="stop", content=result.text, usage=self._last_usage(), cached=False)

    async def close(self) -> None:
        """The shared `ModelClient` outlives this adapter; nothing to close here."""

    def actual_usage(self) -> RequestUsage:
        return self.total_usage()

    def total_usage(self) -> RequestUsage:
        return RequestUsage(
            prompt_tokens=self.calls.prompt_tokens, completion_tokens=self.calls.completion_tokens
        )

    def count_tokens(self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = ()) -> int:
        # A cheap estimate (about four characters a token); the served tokenizer is authoritative.
        text = json.dumps(to_chat_messages(messages)) + json.dumps([_schema(t) for t in tools])
        return len(text) // 4

    def remaining_tokens(
        self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = ()
    ) -> int:
        return (self.calls.profile.context_length or 8192) - self.count_tokens(messages, tools=tools)

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

    def _last_usage(self) -> RequestUsage:
        last = self.calls.last
        return RequestUsage(
            prompt_tokens=last.prompt_tokens if last else 0,
            completion_tokens=last.completion_tokens if last else 0,
        )


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
                calls = [tool_call_text(c.name, c.arguments) for c in message.content]
                out.append(
                    {"role": "assistant", "content": json.dumps(calls[0] if len(calls) == 1 else calls)}
                )
        elif isinstance(message, FunctionExecutionResultMessage):
            results = "\n\n".join(tool_result_text(r.name, r.content) for r in message.content)
            out.append({"role": "user", "content": results})
    return out


def _schema(tool: Tool | ToolSchema) -> ToolSchema:
    return tool.schema if isinstance(tool, Tool) else tool
