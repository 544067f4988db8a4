"""The OpenTelemetry sink, fed the recorded trace of a real paper run, into the SDK's in-memory
exporter (no collector, no socket)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from scriptorium.config import load_settings
from scriptorium.events import (
    MemoryQuery,
    ModelRequest,
    ModelResponse,
    StepStarted,
    ToolCall,
    openinference,
    read_trace,
)
from scriptorium.events.otel import OtelSink

RECORDED = Path(__file__).parents[1] / "data" / "runs" / "paper" / "trace.jsonl"


def test_a_run_becomes_nested_spans_with_genai_attributes() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    sink = OtelSink(provider.get_tracer("test"))
    events = [e for e in read_trace(RECORDED)]
    for event in events:
        sink.handle(event)  # type: ignore[arg-type]
    spans = {span.name: span for span in exporter.get_finished_spans()}
    finished = exporter.get_finished_spans()
    steps = [e for e in events if isinstance(e, StepStarted)]
    requests = [e for e in events if isinstance(e, ModelRequest)]
    tools = [e for e in events if isinstance(e, ToolCall)]
    searches = [e for e in events if isinstance(e, MemoryQuery)]
    assert len(finished) == 1 + len(steps) + len(requests) + len(tools) + len(searches)  # every span ended
    run = spans["workflow paper"]
    assert run.parent is None
    assert spans["step draft"].parent.span_id == run.context.span_id  # type: ignore[union-attr]
    assert spans["step draft[0]"].parent.span_id == spans["step draft"].context.span_id  # type: ignore[union-attr]
    chats = [s for s in finished if s.name.startswith("chat ")]

    def attrs(span: ReadableSpan) -> dict[str, Any]:
        return dict(span.attributes or {})

    usage = sum(
        int(attrs(s)["gen_ai.usage.output_tokens"]) for s in chats if "gen_ai.usage.output_tokens" in attrs(s)
    )
    assert usage == sum(e.completion_tokens for e in events if isinstance(e, ModelResponse))
    writer = next(s for s in chats if attrs(s).get("gen_ai.agent.name") == "writer")
    assert attrs(writer)["gen_ai.operation.name"] == "chat" and attrs(writer)["gen_ai.system"] == "vllm"
    assert writer.parent is not None
    assert spans_by_id(finished)[writer.parent.span_id].name.startswith("step draft[")
    failed = [s for s in chats if s.status.status_code == StatusCode.ERROR]
    assert len(failed) == 1  # the endpoint probe's refused tool-call test
    tool = next(s for s in finished if s.name == "execute_tool survey_sources")
    assert attrs(tool)["gen_ai.tool.name"] == "survey_sources"
    assert run.start_time == int(events[0].ts.timestamp() * 1e9)  # type: ignore[union-attr]


def test_spans_carry_the_openinference_attributes_phoenix_reads() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    sink = OtelSink(provider.get_tracer("test"))
    events = list(read_trace(RECORDED))
    for event in events:
        sink.handle(event)  # type: ignore[arg-type]
    finished = exporter.get_finished_spans()

    def kind(span: ReadableSpan) -> str:
        return str(dict(span.attributes or {}).get("openinference.span.kind"))

    by_kind: dict[str, list[ReadableSpan]] = {}
    for span in finished:
        by_kind.setdefault(kind(span), []).append(span)
    assert set(by_kind) == {"CHAIN", "LLM", "TOOL", "RETRIEVER"}  # this recording names no step's agent
    assert kind(next(s for s in finished if s.parent is None)) == "CHAIN"
    assert openinference.step("writer") == {"openinference.span.kind": "AGENT", "agent.name": "writer"}
    answered: list[dict[str, Any]] = [
        dict(s.attributes or {}) for s in by_kind["LLM"] if "output.value" in dict(s.attributes or {})
    ]
    assert answered and all(
        a["llm.token_count.total"] > 0 and a["llm.input_messages.0.message.role"] for a in answered
    )
    tokens = sum(int(a["llm.token_count.completion"]) for a in answered)
    assert tokens == sum(e.completion_tokens for e in events if isinstance(e, ModelResponse))
    retrieved = dict(by_kind["RETRIEVER"][0].attributes or {})
    assert retrieved["input.value"] and retrieved["retrieval.documents.0.document.id"]
    assert "retrieval.documents.9.document.id" in retrieved and len(retrieved) <= 128  # none dropped
    assert isinstance(retrieved["retrieval.documents.0.document.score"], float)
    tool = dict(by_kind["TOOL"][0].attributes or {})
    assert tool["tool.name"] and tool["input.mime_type"] == "application/json"


def spans_by_id(spans: Sequence[ReadableSpan]) -> dict[int, ReadableSpan]:
    return {s.context.span_id: s for s in spans if s.context is not None}


def test_export_is_off_unless_an_endpoint_is_set() -> None:
    assert load_settings().otel.endpoint is None
    assert load_settings(otel={"endpoint": "http://127.0.0.1:4318"}).otel.endpoint == "http://127.0.0.1:4318"


def test_the_otlp_exporter_is_built_from_the_installed_packages() -> None:
    from scriptorium.events.otel import otlp_tracer

    tracer, provider = otlp_tracer("http://127.0.0.1:9")  # nothing listens; no span is exported
    assert tracer is not None
    provider.shutdown()
