"""An OpenTelemetry sink: the run as spans, following the GenAI semantic conventions where they fit.

Every span also carries the OpenInference attributes Arize Phoenix reads (`openinference`): CHAIN,
AGENT, LLM (messages, answer, tokens), TOOL and RETRIEVER (a memory search with its documents).

Off unless asked for (`[otel] endpoint` in scriptorium.toml, or `SCRIPTORIUM_OTEL__ENDPOINT`):
nothing leaves the machine by default. One span for the run, one per step (nested as the steps
are), one per model request (`chat {model}`, with `gen_ai.*` request and usage attributes) and one
per tool call (`execute_tool {name}`); a review gate's question and answer are events
(`gate_opened`, `gate_decided` with the action) on its step's span. Span times are the events'
own, so replaying a finished `trace.jsonl` through this sink exports the run as it happened.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from . import openinference as oi
from .models import (
    Event,
    GateDecided,
    GateOpened,
    MemoryHits,
    MemoryQuery,
    ModelFailed,
    ModelRequest,
    ModelResponse,
    RunFailed,
    RunFinished,
    RunStarted,
    StepFailed,
    StepFinished,
    StepStarted,
    ToolCall,
    ToolError,
    ToolResult,
)

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer

__all__ = ["OtelSink", "otlp_tracer"]

SYSTEM = "vllm"
"""`gen_ai.system` of every model span: the served model is always behind vLLM's API."""


def _ns(ts: datetime) -> int:
    return int(ts.timestamp() * 1_000_000_000)


class OtelSink:
    """An event sink turning events into spans on `tracer`."""

    def __init__(self, tracer: Tracer) -> None:
        self.tracer = tracer
        self._runs: dict[str | None, Span] = {}
        self._steps: dict[tuple[str | None, str], Span] = {}
        """Keyed by run as well: a batch's runs share one sink."""
        self._requests: dict[str, Span] = {}
        self._tools: dict[str, Span] = {}
        self._searches: dict[tuple[str | None, str | None, str], Span] = {}

    def handle(self, event: Event) -> None:
        from opentelemetry.trace import SpanKind, Status, StatusCode

        run = self._runs.get(event.run_id)
        if isinstance(event, RunStarted):
            self._runs[event.run_id] = self.tracer.start_span(
                f"workflow {event.workflow}",
                start_time=_ns(event.ts),
                attributes={
                    "scriptorium.run_id": event.run_id or "",
                    "scriptorium.workflow": event.workflow,
                    **oi.run(event),
                },
            )
        elif isinstance(event, RunFinished | RunFailed) and run is not None:
            if isinstance(event, RunFailed):
                run.set_status(Status(StatusCode.ERROR, event.error[:500]))
            for open_search in [k for k in self._searches if k[0] == event.run_id]:
                self._searches.pop(open_search).end(end_time=_ns(event.ts))
            for key in [k for k in self._steps if k[0] == event.run_id][::-1]:
                self._steps.pop(key).end(end_time=_ns(event.ts))  # what a cancelled run left open
            run.end(end_time=_ns(event.ts))
            del self._runs[event.run_id]
        elif isinstance(event, StepStarted) and event.step_id:
            parent = self._steps.get((event.run_id, event.parent or "")) or run
            attributes: dict[str, Any] = {
                "scriptorium.step": event.step_id,
                "scriptorium.step_kind": event.step_kind,
            }
            if event.agent:
                attributes["gen_ai.agent.name"] = event.agent
            attributes.update(oi.step(event.agent))
            self._steps[(event.run_id, event.step_id)] = self.tracer.start_span(
                f"step {event.step_id}",
                context=_context(parent),
                start_time=_ns(event.ts),
                attributes=attributes,
            )
        elif (
            isinstance(event, StepFinished | StepFailed)
            and (event.run_id, event.step_id or "") in self._steps
        ):
            span = self._steps.pop((event.run_id, event.step_id or ""))
            if isinstance(event, StepFailed):
                span.set_status(Status(StatusCode.ERROR, event.error[:500]))
            else:
                span.set_attribute("scriptorium.cached", event.cached)
            span.end(end_time=_ns(event.ts))
        elif isinstance(event, ModelRequest):
            settings = event.settings
            attributes = {
                "gen_ai.operation.name": "chat",
                "gen_ai.system": SYSTEM,
                "gen_ai.request.model": event.model,
            }
            for name, attribute in (
                ("temperature", "gen_ai.request.temperature"),
                ("max_tokens", "gen_ai.request.max_tokens"),
            ):
                if name in settings:
                    attributes[attribute] = settings[name]
            if "response_format" in settings:
                attributes["gen_ai.output.type"] = "json"
            if event.agent:
                attributes["gen_ai.agent.name"] = event.agent
            attributes.update(oi.model_request(event))
            self._requests[event.request_id] = self.tracer.start_span(
                f"chat {event.model}",
                context=_context(self._steps.get((event.run_id, event.step_id or "")) or run),
                kind=SpanKind.CLIENT,
                start_time=_ns(event.ts),
                attributes=attributes,
            )
        elif isinstance(event, ModelResponse | ModelFailed) and event.request_id in self._requests:
            span = self._requests.pop(event.request_id)
            if isinstance(event, ModelResponse):
                span.set_attribute("gen_ai.usage.input_tokens", event.prompt_tokens)
                span.set_attribute("gen_ai.usage.output_tokens", event.completion_tokens)
                span.set_attribute("gen_ai.response.finish_reasons", [event.finish_reason or ""])
                span.set_attributes(oi.model_response(event))
            else:
                span.set_status(Status(StatusCode.ERROR, event.error[:500]))
            span.end(end_time=_ns(event.ts))
        elif isinstance(event, ToolCall):
            self._tools[event.call_id] = self.tracer.start_span(
                f"execute_tool {event.tool}",
                context=_context(self._steps.get((event.run_id, event.step_id or "")) or run),
                start_time=_ns(event.ts),
                attributes={
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": event.tool,
                    **oi.tool_call(event),
                },
            )
        elif isinstance(event, MemoryQuery):
            self._searches[(event.run_id, event.step_id, event.query)] = self.tracer.start_span(
                "retrieve",
                context=_context(self._steps.get((event.run_id, event.step_id or "")) or run),
                start_time=_ns(event.ts),
                attributes=oi.query(event),
            )
        elif isinstance(event, MemoryHits) and (event.run_id, event.step_id, event.query) in self._searches:
            search = self._searches.pop((event.run_id, event.step_id, event.query))
            search.set_attributes(oi.hits(event))
            search.end(end_time=_ns(event.ts))
        elif isinstance(event, GateOpened | GateDecided):
            # A person's part in the run: events on the gate's step span (what was done, not the
            # words: those stay in trace.jsonl, on this machine).
            on = self._steps.get((event.run_id, event.step_id or "")) or run
            if on is not None:
                gate: dict[str, Any] = {"scriptorium.gate.round": event.round}
                if isinstance(event, GateDecided):
                    gate["scriptorium.gate.action"] = event.action
                    gate["scriptorium.gate.note"] = event.note[:500]
                on.add_event(event.kind, attributes=gate, timestamp=_ns(event.ts))
        elif isinstance(event, ToolResult | ToolError) and event.call_id in self._tools:
            span = self._tools.pop(event.call_id)
            if isinstance(event, ToolError):
                span.set_status(Status(StatusCode.ERROR, event.error[:500]))
            else:
                span.set_attributes(oi.tool_result(event))
            span.end(end_time=_ns(event.ts))


def _context(parent: Span | None) -> Any:
    from opentelemetry import trace

    return trace.set_span_in_context(parent) if parent is not None else None


def otlp_tracer(endpoint: str) -> tuple[Tracer, Any]:
    """A tracer exporting to an OTLP/HTTP collector at `endpoint`, and its provider (call
    `shutdown()` on it to flush)."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "scriptorium"}))
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces"))
    )
    return provider.get_tracer("scriptorium"), provider
