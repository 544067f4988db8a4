"""Typed trace events, the bus that carries them, and the trace file that records them."""

from .bus import EventBus, EventSink, active_bus, emit, scope
from .models import (
    CheckpointWritten,
    Event,
    EventAdapter,
    GateDecided,
    GateOpened,
    LoopEnded,
    MemoryHit,
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
    TokenDelta,
    ToolCall,
    ToolError,
    ToolResult,
)
from .trace import CorruptLine, TraceWriter, read_trace

__all__ = [
    # the bus
    "EventBus",
    "EventSink",
    "active_bus",
    "emit",
    "scope",
    # trace files
    "CorruptLine",
    "TraceWriter",
    "read_trace",
    # events
    "CheckpointWritten",
    "Event",
    "EventAdapter",
    "GateDecided",
    "GateOpened",
    "LoopEnded",
    "MemoryHit",
    "MemoryHits",
    "MemoryQuery",
    "ModelRequest",
    "ModelFailed",
    "ModelResponse",
    "RunFailed",
    "RunFinished",
    "RunStarted",
    "StepFailed",
    "StepFinished",
    "StepStarted",
    "TokenDelta",
    "ToolCall",
    "ToolError",
    "ToolResult",
]
