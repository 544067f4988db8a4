"""The event bus, its context, and trace files (including a run still writing and a corrupt line)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
from pydantic import SecretStr

from scriptorium.events import (
    CorruptLine,
    EventBus,
    ModelRequest,
    ModelResponse,
    StepStarted,
    TokenDelta,
    ToolCall,
    TraceWriter,
    emit,
    read_trace,
    scope,
)
from scriptorium.serving.client import Endpoint, ModelClient


class Collect:
    def __init__(self) -> None:
        self.events: list[object] = []

    def handle(self, event: object) -> None:
        self.events.append(event)


def test_emit_without_a_bus_is_a_no_op() -> None:
    assert emit(StepStarted(step_kind="agent")) is None


async def test_events_get_sequence_and_context_across_tasks() -> None:
    sink = Collect()
    bus = EventBus("run-1", [sink])

    async def agent_work(name: str) -> None:
        with scope(agent=name):
            await asyncio.sleep(0)
            emit(ToolCall(call_id=name, tool="memory_search", args={}))

    with bus.active(), scope(step_id="plan"):
        emit(StepStarted(step_kind="agent"))
        await asyncio.gather(agent_work("a"), agent_work("b"))
    assert [e.seq for e in sink.events] == [1, 2, 3]  # type: ignore[attr-defined]
    assert all(e.run_id == "run-1" and e.step_id == "plan" for e in sink.events)  # type: ignore[attr-defined]
    assert sorted(e.agent for e in sink.events[1:]) == ["a", "b"]  # type: ignore[attr-defined]


def test_a_failing_sink_does_not_stop_the_others() -> None:
    class Broken:
        def handle(self, event: object) -> None:
            raise RuntimeError("boom")

    sink = Collect()
    EventBus("r", [Broken(), sink]).emit(StepStarted(step_kind="tool"))
    assert len(sink.events) == 1


def test_trace_round_trips_and_tolerates_truncation_and_corruption(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    writer = TraceWriter(path)
    bus = EventBus("run-2", [writer])
    bus.emit(StepStarted(step_kind="agent", step_id="s1"))
    bus.emit(ToolCall(call_id="c1", tool="write_file", args={"path": "a.md"}))
    writer.close()
    with path.open("a") as handle:
        handle.write("{not json}\n")
        handle.write('{"kind": "step_finished", "duration_s"')  # a run still writing
    items = list(read_trace(path))
    assert [type(i).__name__ for i in items] == ["StepStarted", "ToolCall", "CorruptLine"]
    assert isinstance(items[1], ToolCall) and items[1].args == {"path": "a.md"}
    corrupt = items[2]
    assert isinstance(corrupt, CorruptLine) and corrupt.line_no == 3
    assert len(list(read_trace(path, complete_only=False))) == 4


async def test_client_traces_requests_responses_and_deltas_without_the_key() -> None:
    body = {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "hi"}}],
        "usage": {"prompt_tokens": 4, "completion_tokens": 1, "total_tokens": 5},
    }
    chunks = [
        {
            "id": "x",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "m",
            "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
        }
        for piece in ("he", "llo")
    ] + [
        {
            "id": "x",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "m",
            "choices": [],
            "usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6},
        }
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content).get("stream"):
            text = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
            return httpx.Response(200, text=text, headers={"content-type": "text/event-stream"})
        return httpx.Response(200, json=body)

    sink = Collect()
    client = ModelClient(
        Endpoint("http://m.test/v1", SecretStr("sk-secret"), "m"),
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
    )
    async with client:
        with EventBus("r", [sink]).active(), scope(step_id="write", agent="writer"):
            await client.chat([{"role": "user", "content": "hello"}], max_tokens=5)
            async for _ in client.stream([{"role": "user", "content": "again"}]):
                pass
    kinds = [type(e).__name__ for e in sink.events]
    # Deltas are coalesced (one per 0.1 s burst): these two chunks arrive together.
    assert kinds == ["ModelRequest", "ModelResponse", "ModelRequest", "TokenDelta", "ModelResponse"]
    request = sink.events[0]
    assert isinstance(request, ModelRequest) and request.settings == {"max_tokens": 5}
    assert request.messages == [{"role": "user", "content": "hello"}]
    response = sink.events[1]
    assert isinstance(response, ModelResponse) and response.request_id == request.request_id
    assert response.completion_tokens == 1
    deltas = [e.text for e in sink.events if isinstance(e, TokenDelta)]
    assert deltas == ["hello"]
    assert all(e.agent == "writer" and e.step_id == "write" for e in sink.events)  # type: ignore[attr-defined]
    assert "sk-secret" not in "".join(e.model_dump_json() for e in sink.events)  # type: ignore[attr-defined]
