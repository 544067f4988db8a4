"""The typed trace events. Every event carries where it happened (run, step, agent) and when.

`kind` is the discriminator, so a `trace.jsonl` line parses back into its own class.
Payloads are summaries, never secrets: no API key, no full evidence dumps.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

__all__ = [
    "TRACE_TEXT_LIMIT",
    "CheckpointWritten",
    "Event",
    "EventAdapter",
    "GateDecided",
    "GateOpened",
    "LoopEnded",
    "MemoryHit",
    "MemoryHits",
    "MemoryQuery",
    "ModelFailed",
    "ModelRequest",
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


def _now() -> datetime:
    return datetime.now(UTC)


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str | None = None
    step_id: str | None = None
    agent: str | None = None
    ts: datetime = Field(default_factory=_now)
    seq: int = 0
    """Monotonic within one bus; assigned when the event is emitted."""


class RunStarted(_Base):
    kind: Literal["run_started"] = "run_started"
    workflow: str
    inputs: dict[str, Any] = Field(default_factory=dict)


class RunFinished(_Base):
    kind: Literal["run_finished"] = "run_finished"
    status: Literal["succeeded", "cancelled", "waiting"] = "succeeded"
    """`waiting`: parked at a review gate until a person answers (`scriptorium review`)."""
    duration_s: float = 0.0


class RunFailed(_Base):
    kind: Literal["run_failed"] = "run_failed"
    error: str
    duration_s: float = 0.0


class StepStarted(_Base):
    kind: Literal["step_started"] = "step_started"
    step_kind: str
    parent: str | None = None
    """The enclosing step of a map item or loop round."""


class StepFinished(_Base):
    kind: Literal["step_finished"] = "step_finished"
    duration_s: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False
    """True when the result came from a checkpoint instead of being computed."""


class StepFailed(_Base):
    kind: Literal["step_failed"] = "step_failed"
    error: str
    duration_s: float = 0.0


TRACE_TEXT_LIMIT = 16_000
"""A traced message or reply longer than this is cut to it. Whole prompts matter: `finetune collect`
turns traced requests back into training examples (and skips any that were cut)."""


class ModelRequest(_Base):
    kind: Literal["model_request"] = "model_request"
    request_id: str
    model: str
    messages: list[dict[str, str]]
    """Role and content of each message (cut at `TRACE_TEXT_LIMIT` characters)."""
    settings: dict[str, Any] = Field(default_factory=dict)


class TokenDelta(_Base):
    kind: Literal["token_delta"] = "token_delta"
    request_id: str
    text: str


class ModelResponse(_Base):
    kind: Literal["model_response"] = "model_response"
    request_id: str
    text: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    latency_s: float


class ModelFailed(_Base):
    """A request given up on (after its retries): it is no longer in flight."""

    kind: Literal["model_failed"] = "model_failed"
    request_id: str
    error: str


class ToolCall(_Base):
    kind: Literal["tool_call"] = "tool_call"
    call_id: str
    tool: str
    args: dict[str, Any]


class ToolResult(_Base):
    kind: Literal["tool_result"] = "tool_result"
    call_id: str
    tool: str
    result: str
    """The result as the model sees it, shortened."""
    duration_s: float


class ToolError(_Base):
    kind: Literal["tool_error"] = "tool_error"
    call_id: str
    tool: str
    error: str
    duration_s: float


class MemoryQuery(_Base):
    kind: Literal["memory_query"] = "memory_query"
    query: str
    k: int
    sources: list[str] | None = None


class MemoryHit(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    source: str
    score: float
    text: str = ""
    """The passage's first characters (what a trace viewer shows as the retrieved document)."""


class MemoryHits(_Base):
    kind: Literal["memory_hits"] = "memory_hits"
    query: str
    hits: list[MemoryHit]


class LoopEnded(_Base):
    kind: Literal["loop_ended"] = "loop_ended"
    rounds: int
    reason: Literal["until", "max_rounds", "stalled"]
    detail: str = ""


class GateOpened(_Base):
    """A review gate shows a person what a step produced (`shown`), and waits for an answer."""

    kind: Literal["gate_opened"] = "gate_opened"
    round: int = 1
    shown: Any = None
    description: str = ""


class GateDecided(_Base):
    """A person's answer at a review gate: approved as shown, edited (`value`), or rejected."""

    kind: Literal["gate_decided"] = "gate_decided"
    round: int = 1
    action: Literal["approve", "edit", "reject"]
    value: Any = None
    note: str = ""


class CheckpointWritten(_Base):
    kind: Literal["checkpoint_written"] = "checkpoint_written"
    path: str


Event = Annotated[
    RunStarted
    | RunFinished
    | RunFailed
    | StepStarted
    | StepFinished
    | StepFailed
    | ModelRequest
    | TokenDelta
    | ModelResponse
    | ModelFailed
    | ToolCall
    | ToolResult
    | ToolError
    | MemoryQuery
    | MemoryHits
    | LoopEnded
    | GateOpened
    | GateDecided
    | CheckpointWritten,
    Field(discriminator="kind"),
]

EventAdapter: TypeAdapter[Event] = TypeAdapter(Event)
