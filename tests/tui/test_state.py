"""The UI's model of a run, from the recorded trace of a real paper run and from hand-made lines."""

from __future__ import annotations

from pathlib import Path

from scriptorium.events import (
    CorruptLine,
    ModelFailed,
    ModelRequest,
    ModelResponse,
    StepStarted,
    TokenDelta,
    read_trace,
)
from scriptorium.tui import RunState, TraceTail

from .conftest import RECORDED


def test_the_recorded_run_builds_a_nested_tree_with_counters() -> None:
    events = list(read_trace(RECORDED / "trace.jsonl"))
    state = RunState()
    for event in events:
        state.apply(event)
    assert state.workflow == "paper" and state.status == "succeeded"
    started = [e for e in events if isinstance(e, StepStarted)]
    assert set(state.steps) == {e.step_id for e in started}
    assert all(node.status in ("succeeded", "cached") for node in state.steps.values())
    assert {"survey", "plan", "queries", "research", "draft", "assemble"} <= set(state.roots)
    assert "draft[0]" in state.steps["draft"].children  # map items nest under their step
    assert state.descendants("draft")[-1].startswith("draft[")
    responses = [e for e in events if isinstance(e, ModelResponse)]
    failed = [e for e in events if isinstance(e, ModelFailed)]  # the probe's tool-call test
    assert state.requests == len(responses) + len(failed) and not state.in_flight
    assert state.errors == len(failed)
    assert state.total_tokens == sum(r.prompt_tokens + r.completion_tokens for r in responses)
    assert set(state.tokens_by_agent) == {r.agent for r in responses}
    writer_rows = state.conversation("draft[0]", "writer")
    assert writer_rows and all(r.step and r.step.startswith("draft[0]") for r in writer_rows)
    assert all("writer" in (r.agent or "") + r.title + r.body for r in writer_rows)


def test_tail_waits_for_a_line_still_being_written_and_reports_corrupt_ones(tmp_path: Path) -> None:
    lines = (RECORDED / "trace.jsonl").read_text().splitlines(keepends=True)
    trace = tmp_path / "trace.jsonl"
    tail = TraceTail(trace)
    assert tail.read() == []  # no file yet
    trace.write_text(lines[0] + lines[1][:40])
    assert len(tail.read()) == 1
    with trace.open("a") as handle:
        handle.write(lines[1][40:] + "{not json\n" + lines[2])
    items = tail.read()
    assert len(items) == 3
    first, corrupt, third = items
    assert isinstance(corrupt, CorruptLine) and corrupt.line_no == 3 and corrupt.text == "{not json"
    assert not isinstance(first, CorruptLine) and not isinstance(third, CorruptLine)
    assert first.seq < third.seq
    state = RunState()
    for item in items:
        state.apply(item)
    assert state.corrupt_lines == 1 and state.errors == 1
    assert any(e.kind == "error" and "line 3" in e.title for e in state.entries)


def test_a_streamed_reply_grows_in_place_then_becomes_the_reply() -> None:
    state = RunState()
    where = {"run_id": "r", "step_id": "write", "agent": "writer"}
    state.apply(
        ModelRequest(request_id="q1", model="m", messages=[{"role": "user", "content": "go"}], **where)
    )
    state.apply(TokenDelta(request_id="q1", text='{"sent', **where))
    state.apply(TokenDelta(request_id="q1", text='ences": []}', **where))
    rows = state.conversation("write")
    assert [r.kind for r in rows] == ["prompt", "stream"] and rows[1].body == '{"sentences": []}'
    assert state.in_flight == {"q1"}
    state.apply(
        ModelResponse(
            request_id="q1",
            text='{"sentences": []}',
            finish_reason="stop",
            prompt_tokens=3,
            completion_tokens=5,
            latency_s=0.2,
            **where,
        )
    )
    rows = state.conversation("write")
    assert [r.kind for r in rows] == ["prompt", "reply"] and rows[1].title.startswith("reply: 5 tokens")
    assert not state.in_flight and state.tokens_by_agent == {"writer": 8}
