"""The CrewAI engine's plumbing with a scripted endpoint (the model's choices fixed in advance):
a chosen tool runs through the registry on CrewAI's worker thread, its result reaches the next
prompt, the trace keeps the agent's name, and a repeated call ends the tool loop.
The same engine against the real server is tested in tests/agents and tests/workflows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from scriptorium.agents import AgentSpec, default_outputs
from scriptorium.agents.crewai_engine import CrewAIRuntime, to_chat_messages
from scriptorium.events import EventBus, LoopEnded, ModelRequest, ToolCall
from scriptorium.serving.client import Endpoint, ModelClient
from scriptorium.serving.probe import CapabilityProfile
from scriptorium.tools import ToolContext, default_registry

from .test_adapter_stall import reply

WRITE: dict[str, object] = {
    "action": "write_file",
    "arguments": {"path": "notes.txt", "content": "LoRA notes"},
}


class Collect:
    def __init__(self) -> None:
        self.events: list[object] = []

    def handle(self, event: object) -> None:
        self.events.append(event)


def scripted_engine(
    decisions: list[dict[str, object]], tmp_path: Path
) -> tuple[CrewAIRuntime, list[dict[str, Any]]]:
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        stream = bool(body.get("stream"))
        if body.get("response_format", {}).get("json_schema", {}).get("name") == "next_step":
            return reply(json.dumps(decisions.pop(0) if decisions else {"action": "answer"}), stream)
        return reply("Done: the notes are written.", stream)

    client = ModelClient(
        Endpoint("http://m.test/v1", SecretStr("k"), "m"),
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
    )
    engine = CrewAIRuntime(
        client,
        tools=default_registry(plugins=False),
        outputs=default_outputs(),
        context=ToolContext(run_dir=tmp_path),
    )
    engine._profile = CapabilityProfile(
        "http://m.test/v1", "m", ("m",), 4096, json_schema=True, tool_calls=False
    )
    return engine, bodies


SPEC = AgentSpec(name="scribe", role="Scribe", goal="Keep notes.", tools=["write_file"], max_turns=3)


async def test_a_chosen_tool_runs_through_the_registry_and_its_result_reaches_the_model(
    tmp_path: Path,
) -> None:
    engine, bodies = scripted_engine([WRITE, {"action": "answer"}], tmp_path)
    sink = Collect()
    async with engine.client:
        with EventBus("r", [sink]).active():
            result = await engine.run(SPEC, "Write down that LoRA trains low-rank adapters.")
    assert (tmp_path / "notes.txt").read_text() == "LoRA notes"  # the tool really ran, confined to the run
    assert result.tools_used == ["write_file"] and result.tool_calls == 1
    assert result.output == "Done: the notes are written."
    assert result.model_calls == 3  # choose the tool, choose to answer, answer
    after_tool = json.dumps(bodies[1]["messages"])
    assert "Result of write_file" in after_tool and "notes.txt" in after_tool
    requests = [e for e in sink.events if isinstance(e, ModelRequest)]
    assert len(requests) == 3 and {e.agent for e in requests} == {"scribe"}
    assert [e.tool for e in sink.events if isinstance(e, ToolCall)] == ["write_file"]


async def test_the_same_call_twice_ends_the_tool_loop(tmp_path: Path) -> None:
    engine, _ = scripted_engine([WRITE, WRITE, WRITE], tmp_path)
    sink = Collect()
    async with engine.client:
        with EventBus("r", [sink]).active():
            result = await engine.run(SPEC, "Write it down.")
    assert result.tools_used == ["write_file"]  # the repeat was not run
    assert [e.reason for e in sink.events if isinstance(e, LoopEnded)] == ["stalled"]


async def test_a_tool_outside_the_allowlist_is_not_offered(tmp_path: Path) -> None:
    engine, bodies = scripted_engine([], tmp_path)
    async with engine.client:
        await engine.run(SPEC, "Write it down.")
    offered = json.dumps(bodies[0]["response_format"])
    assert "write_file" in offered and "memory_search" not in offered and "web_search" not in offered


async def test_expected_output_reaches_crewai_as_its_own_field(tmp_path: Path) -> None:
    engine, bodies = scripted_engine([], tmp_path)
    plain = AgentSpec(name="scribe", role="Scribe", goal="Keep notes.")
    async with engine.client:
        await engine.run(
            plain, "Write down what LoRA is.", expected_output="One sentence naming LoRA's rank."
        )
    prompt = json.dumps(bodies[-1]["messages"])
    # CrewAI words its own field into the task ("This is the expected criteria for your final answer")
    assert "expected criteria for your final answer: One sentence naming LoRA's rank." in prompt
    assert "Your answer." not in prompt


def test_crewai_tool_turns_become_plain_text_turns() -> None:
    messages = to_chat_messages(
        [
            {"role": "system", "content": "s", "cache_breakpoint": True},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "1", "type": "function", "function": {"name": "t", "arguments": '{"a": 1}'}}
                ],
            },
            {"role": "tool", "tool_call_id": "1", "name": "t", "content": "42"},
        ]
    )
    assert messages == [
        {"role": "system", "content": "s"},
        {"role": "assistant", "content": '{"action": "t", "arguments": {"a": 1}}'},
        {"role": "user", "content": "Result of t:\n42"},
    ]
