"""OpenInference span attributes (the conventions Arize Phoenix reads), beside the GenAI ones.

Phoenix draws a trace as a tree by `openinference.span.kind`: CHAIN (the run, a plain step), AGENT
(a step an agent answers), LLM (a model request: its messages, answer and token counts), TOOL (a
tool call: arguments and result) and RETRIEVER (a memory search: the documents and their scores).
Attribute names are the OpenInference semantic conventions, written out here so that no
instrumentation package is needed.
"""

from __future__ import annotations

import json
from typing import Any

from .models import MemoryHits, MemoryQuery, ModelRequest, ModelResponse, RunStarted, ToolCall, ToolResult

__all__ = [
    "KIND",
    "hits",
    "model_request",
    "model_response",
    "query",
    "run",
    "step",
    "tool_call",
    "tool_result",
]

KIND = "openinference.span.kind"
_JSON = "application/json"


def run(event: RunStarted) -> dict[str, Any]:
    return {KIND: "CHAIN", "input.value": json.dumps(event.inputs, default=str), "input.mime_type": _JSON}


def step(agent: str | None) -> dict[str, Any]:
    return {KIND: "AGENT", "agent.name": agent} if agent else {KIND: "CHAIN"}


def model_request(event: ModelRequest) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        KIND: "LLM",
        "llm.model_name": event.model,
        "llm.provider": "vllm",
        "llm.invocation_parameters": json.dumps(event.settings, default=str),
    }
    for n, message in enumerate(event.messages):
        attributes[f"llm.input_messages.{n}.message.role"] = message.get("role", "")
        attributes[f"llm.input_messages.{n}.message.content"] = message.get("content", "")
    if event.messages:
        attributes["input.value"] = event.messages[-1].get("content", "")
    return attributes


def model_response(event: ModelResponse) -> dict[str, Any]:
    return {
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.content": event.text,
        "output.value": event.text,
        "llm.token_count.prompt": event.prompt_tokens,
        "llm.token_count.completion": event.completion_tokens,
        "llm.token_count.total": event.prompt_tokens + event.completion_tokens,
    }


def tool_call(event: ToolCall) -> dict[str, Any]:
    return {
        KIND: "TOOL",
        "tool.name": event.tool,
        "tool.parameters": json.dumps(event.args, default=str),
        "input.value": json.dumps(event.args, default=str),
        "input.mime_type": _JSON,
    }


def tool_result(event: ToolResult) -> dict[str, Any]:
    return {"output.value": event.result}


def query(event: MemoryQuery) -> dict[str, Any]:
    return {KIND: "RETRIEVER", "input.value": event.query}


_DOCUMENTS = 10
"""Documents a retriever span lists (the best ones): OpenTelemetry keeps 128 attributes a span."""


def hits(event: MemoryHits) -> dict[str, Any]:
    attributes: dict[str, Any] = {"scriptorium.documents_found": len(event.hits)}
    for n, hit in enumerate(event.hits[:_DOCUMENTS]):
        prefix = f"retrieval.documents.{n}.document"
        attributes[f"{prefix}.id"] = hit.key
        attributes[f"{prefix}.score"] = hit.score
        if hit.text:  # a trace written before hits carried their text has none to show
            attributes[f"{prefix}.content"] = hit.text
        attributes[f"{prefix}.metadata"] = json.dumps({"source": hit.source})
    return attributes
