"""The AutoGen adapter's tool loop ends when the model repeats the same call (scripted transport)."""

from __future__ import annotations

import json

import httpx
from autogen_core.models import UserMessage
from pydantic import SecretStr

from scriptorium.agents.autogen_adapter import ScriptoriumChatClient
from scriptorium.agents.model_calls import AgentModelCalls, decision_schema
from scriptorium.events import EventBus, LoopEnded
from scriptorium.serving.client import Endpoint, ModelClient
from scriptorium.serving.probe import CapabilityProfile

SEARCH = {
    "name": "memory_search",
    "description": "search",
    "parameters": {"type": "object", "properties": {}},
}


def reply(content: str, stream: bool = False) -> httpx.Response:
    if stream:  # with a trace listening, structured replies are streamed
        chunks = [
            {
                "id": "x",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": "m",
                "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": "stop"}],
            },
            {
                "id": "x",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": "m",
                "choices": [],
                "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
            },
        ]
        text = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
        return httpx.Response(200, text=text, headers={"content-type": "text/event-stream"})
    return httpx.Response(
        200,
        json={
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [
                {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        },
    )


async def test_a_repeated_tool_call_ends_the_tool_loop_with_an_event() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body.get("response_format", {}).get("json_schema", {}).get("name") == "next_step":
            return reply(
                json.dumps({"action": "memory_search", "arguments": {"query": "lora"}}),
                bool(body.get("stream")),
            )
        return reply("final answer", bool(body.get("stream")))

    client = ModelClient(
        Endpoint("http://m.test/v1", SecretStr("k"), "m"),
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
    )
    profile = CapabilityProfile("http://m.test/v1", "m", ("m",), 4096, json_schema=True, tool_calls=False)
    adapter = ScriptoriumChatClient(
        AgentModelCalls(
            client, profile, caller="a", model=None, temperature=0, max_tokens=50, max_tool_rounds=5
        )
    )
    seen: list[object] = []

    class Sink:
        def handle(self, event: object) -> None:
            seen.append(event)

    messages = [UserMessage(content="find lora", source="u")]
    async with client:
        with EventBus("r", [Sink()]).active():
            first = await adapter.create(messages, tools=[SEARCH])  # type: ignore[list-item]
            second = await adapter.create(messages, tools=[SEARCH])  # type: ignore[list-item]
            third = await adapter.create(messages, tools=[SEARCH])  # type: ignore[list-item]
    assert first.finish_reason == "function_calls"
    assert second.finish_reason == "stop" and second.content == "final answer"
    assert (
        third.content == "final answer" and adapter.calls.tool_rounds == 2
    )  # no more decisions once stalled
    ended = [e for e in seen if isinstance(e, LoopEnded)]
    assert len(ended) == 1 and ended[0].reason == "stalled" and "memory_search" in ended[0].detail


def test_decision_schema_offers_each_tool_and_answer() -> None:
    schema = decision_schema([SEARCH])
    assert [b["properties"]["action"]["const"] for b in schema["anyOf"]] == ["memory_search", "answer"]
    assert len(decision_schema([SEARCH], allow_answer=False)["anyOf"]) == 1
