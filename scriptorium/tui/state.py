"""What the terminal UI shows, built from trace events alone (no Textual here, so it is testable and
the same for a live run, a followed trace file and a replay)."""

from __future__ import annotations

import json
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from ..events import (
    CheckpointWritten,
    CorruptLine,
    Event,
    GateDecided,
    GateOpened,
    LoopEnded,
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

__all__ = ["Entry", "RunState", "StepNode"]

StepStatus = Literal["running", "succeeded", "failed", "cached"]
EntryKind = Literal["prompt", "reply", "stream", "tool", "result", "error", "memory", "note"]
RATE_WINDOW_S = 10.0
"""Tokens per second are measured over this much trace time."""


@dataclass
class StepNode:
    path: str
    kind: str
    parent: str | None
    agent: str | None = None
    status: StepStatus = "running"
    started: datetime | None = None
    duration_s: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None
    children: list[str] = field(default_factory=list)


@dataclass
class Entry:
    """One row of a step's conversation."""

    seq: int
    step: str | None
    agent: str | None
    kind: EntryKind
    title: str
    body: str = ""

    def matches(self, needle: str) -> bool:
        needle = needle.lower()
        return (
            needle in (self.agent or "").lower()
            or needle in self.title.lower()
            or needle in self.body.lower()
        )


class RunState:
    """Steps as a tree, conversations per step, counters, and how the run ended."""

    def __init__(self) -> None:
        self.workflow: str | None = None
        self.inputs: dict[str, object] = {}
        self.status: Literal["waiting", "running", "succeeded", "failed", "cancelled"] = "waiting"
        self.error: str | None = None
        self.started: datetime | None = None
        self.last_ts: datetime | None = None
        self.steps: dict[str, StepNode] = {}
        self.roots: list[str] = []
        self.entries: list[Entry] = []
        self.in_flight: set[str] = set()
        self.tokens_by_agent: dict[str, int] = defaultdict(int)
        self.requests = 0
        self.errors = 0
        self.corrupt_lines = 0
        self._recent: deque[tuple[datetime, int]] = deque()
        self._streams: dict[str, Entry] = {}

    # -- feeding ----------------------------------------------------------------------------------

    def apply(self, item: Event | CorruptLine) -> None:
        if isinstance(item, CorruptLine):
            self.corrupt_lines += 1
            self.errors += 1
            self._add(None, None, "error", f"corrupt trace line {item.line_no}: {item.error}", item.text)
            return
        event = item
        self.last_ts = event.ts
        if isinstance(event, RunStarted):
            self.workflow, self.inputs, self.status = event.workflow, event.inputs, "running"
            self.started = self.started or event.ts
            self._add(None, None, "note", f"run started: {event.workflow}", json.dumps(event.inputs))
        elif isinstance(event, RunFinished):
            self.status = event.status
            self.in_flight.clear()
            self._add(None, None, "note", f"run {event.status} in {event.duration_s:.1f}s")
        elif isinstance(event, RunFailed):
            self.status, self.error = "failed", event.error
            self.in_flight.clear()
            self.errors += 1
            self._add(None, None, "error", "run failed", event.error)
        elif isinstance(event, StepStarted):
            self._step_started(event)
        elif isinstance(event, StepFinished):
            node = self._node(event.step_id)
            node.status = "cached" if event.cached else "succeeded"
            node.duration_s = event.duration_s
            node.prompt_tokens, node.completion_tokens = event.prompt_tokens, event.completion_tokens
        elif isinstance(event, StepFailed):
            node = self._node(event.step_id)
            node.status, node.error, node.duration_s = "failed", event.error, event.duration_s
            self.errors += 1
            self._add(event.step_id, event.agent, "error", "step failed", event.error)
        elif isinstance(event, ModelRequest):
            self.requests += 1
            self.in_flight.add(event.request_id)
            last = event.messages[-1]["content"] if event.messages else ""
            self._add(event.step_id, event.agent, "prompt", f"prompt to {event.model}", last)
        elif isinstance(event, TokenDelta):
            stream = self._streams.get(event.request_id)
            if stream is None:
                stream = self._add(event.step_id, event.agent, "stream", "streaming…")
                self._streams[event.request_id] = stream
            stream.body += event.text
        elif isinstance(event, ModelResponse):
            self.in_flight.discard(event.request_id)
            if event.agent:
                self.tokens_by_agent[event.agent] += event.prompt_tokens + event.completion_tokens
            self._recent.append((event.ts, event.completion_tokens))
            title = (
                f"reply: {event.completion_tokens} tokens in {event.latency_s:.1f}s ({event.finish_reason})"
            )
            stream = self._streams.pop(event.request_id, None)
            if stream is None:
                self._add(event.step_id, event.agent, "reply", title, event.text)
            else:  # the streamed row becomes the reply, where the streaming began
                stream.kind, stream.title, stream.body = "reply", title, event.text
        elif isinstance(event, ModelFailed):
            self.in_flight.discard(event.request_id)
            self._streams.pop(event.request_id, None)
            self.errors += 1
            self._add(event.step_id, event.agent, "error", "request failed", event.error)
        elif isinstance(event, ToolCall):
            self._add(event.step_id, event.agent, "tool", f"tool {event.tool}", json.dumps(event.args)[:2000])
        elif isinstance(event, ToolResult):
            self._add(
                event.step_id,
                event.agent,
                "result",
                f"{event.tool} → result in {event.duration_s:.2f}s",
                event.result,
            )
        elif isinstance(event, ToolError):
            self.errors += 1
            self._add(event.step_id, event.agent, "error", f"{event.tool} failed", event.error)
        elif isinstance(event, MemoryQuery):
            pass  # shown with its hits
        elif isinstance(event, MemoryHits):
            hits = "\n".join(f"[{h.key}] {h.score:.2f}  {h.source}" for h in event.hits)
            self._add(event.step_id, event.agent, "memory", f"memory: {event.query[:80]}", hits)
        elif isinstance(event, LoopEnded):
            detail = f" ({event.detail})" if event.detail else ""
            self._add(
                event.step_id,
                event.agent,
                "note",
                f"loop ended after {event.rounds} rounds: {event.reason}{detail}",
            )
        elif isinstance(event, GateOpened):
            shown = json.dumps(event.shown, indent=2, ensure_ascii=False)[:4000]
            self._add(
                event.step_id, None, "note", f"review gate (round {event.round}): waiting for a person", shown
            )
        elif isinstance(event, GateDecided):
            body = (
                event.note if event.action == "reject" else json.dumps(event.value, ensure_ascii=False)[:4000]
            )
            self._add(event.step_id, None, "note", f"review: {event.action} (round {event.round})", body)
        elif isinstance(event, CheckpointWritten):
            pass  # every finished step writes one; the tree already shows it

    def _step_started(self, event: StepStarted) -> None:
        assert event.step_id is not None
        node = self.steps.get(event.step_id)
        if node is None:
            node = StepNode(event.step_id, event.step_kind, event.parent, agent=event.agent, started=event.ts)
            self.steps[event.step_id] = node
            siblings = self.steps[event.parent].children if event.parent in self.steps else self.roots
            siblings.append(event.step_id)
        else:  # resumed
            node.status, node.started, node.error = "running", event.ts, None

    def _node(self, step_id: str | None) -> StepNode:
        assert step_id is not None
        if step_id not in self.steps:  # a trace that starts mid-run
            self.steps[step_id] = StepNode(step_id, "step", None)
            self.roots.append(step_id)
        return self.steps[step_id]

    def _add(self, step: str | None, agent: str | None, kind: EntryKind, title: str, body: str = "") -> Entry:
        entry = Entry(len(self.entries), step, agent, kind, title, body)
        self.entries.append(entry)
        return entry

    # -- reading ----------------------------------------------------------------------------------

    def conversation(self, step: str | None, needle: str = "") -> list[Entry]:
        """Rows of `step` and the steps under it (all rows when None), filtered by `needle`."""
        if step is None:
            rows = self.entries
        else:
            scope = {step, *self.descendants(step)}
            rows = [e for e in self.entries if e.step in scope]
        return [e for e in rows if e.matches(needle)] if needle else rows

    def descendants(self, step: str) -> list[str]:
        found = []
        for child in self.steps[step].children if step in self.steps else []:
            found += [child, *self.descendants(child)]
        return found

    def tokens_per_s(self) -> float:
        """Completion tokens per second over the last RATE_WINDOW_S of trace time."""
        if self.last_ts is None:
            return 0.0
        while self._recent and (self.last_ts - self._recent[0][0]).total_seconds() > RATE_WINDOW_S:
            self._recent.popleft()
        return sum(n for _, n in self._recent) / RATE_WINDOW_S

    @property
    def total_tokens(self) -> int:
        return sum(self.tokens_by_agent.values())

    @property
    def elapsed_s(self) -> float:
        if self.started is None or self.last_ts is None:
            return 0.0
        return (self.last_ts - self.started).total_seconds()
