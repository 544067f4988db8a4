"""The registry: validation, allowlists, timeouts, crashes, tracing and plugins."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field

from scriptorium.errors import (
    ConfigError,
    ToolArgumentsInvalid,
    ToolError,
    ToolNotAllowed,
    ToolTimeout,
    UnknownTool,
)
from scriptorium.events import EventBus, ToolCall, ToolResult
from scriptorium.events import ToolError as ToolErrorEvent
from scriptorium.tools import Tool, ToolContext, ToolRegistry, default_registry, tool


class EchoArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=20)
    times: int = Field(default=1, ge=1, le=3)


class Echoed(BaseModel):
    text: str


@tool("echo")
async def echo(args: EchoArgs, ctx: ToolContext) -> Echoed:
    """Repeat the text."""
    return Echoed(text=args.text * args.times)


@tool("slow", timeout_s=0.05)
async def slow(args: EchoArgs, ctx: ToolContext) -> Echoed:
    """Never finishes in time."""
    await asyncio.sleep(5)
    return Echoed(text="late")


@tool("buggy")
async def buggy(args: EchoArgs, ctx: ToolContext) -> Echoed:
    """Raises like a bug would."""
    raise KeyError("oops")


@pytest.fixture
def registry() -> ToolRegistry:
    return ToolRegistry([echo, slow, buggy])


async def test_valid_call_returns_the_value(registry: ToolRegistry) -> None:
    outcome = await registry.call("echo", {"text": "ab", "times": 2}, ToolContext(), allowed={"echo"})
    assert outcome.ok and outcome.value == Echoed(text="abab")
    assert outcome.for_model().startswith("<<<DATA source=tool echo>>>")


async def test_json_string_arguments_are_accepted(registry: ToolRegistry) -> None:
    outcome = await registry.call("echo", '{"text": "x"}', ToolContext(), allowed=None)
    assert outcome.value == Echoed(text="x")


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"text": "", "times": 9}, ["text:", "times:"]),
        (
            {"txt": "a"},
            ["txt: unknown field 'txt'", "text: is required but missing", "(fields: text, times)"],
        ),
        ('{"text": ', ["not JSON"]),
        ("[1, 2]", ["must be a JSON object"]),
    ],
)
async def test_bad_arguments_become_a_readable_error_not_a_crash(
    registry: ToolRegistry, arguments: object, expected: list[str]
) -> None:
    outcome = await registry.call("echo", arguments, ToolContext(), allowed=None)  # type: ignore[arg-type]
    assert isinstance(outcome.error, ToolArgumentsInvalid)
    for fragment in expected:
        assert fragment in outcome.error.message
    assert (
        outcome.for_model().startswith("TOOL ERROR (echo): invalid arguments")
        or "JSON" in outcome.for_model()
    )


async def test_allowlist_is_enforced_before_anything_runs(registry: ToolRegistry) -> None:
    outcome = await registry.call("echo", {"text": "a"}, ToolContext(), allowed={"slow"})
    assert isinstance(outcome.error, ToolNotAllowed)
    assert "allowed: slow" in outcome.error.message


async def test_unknown_tool_suggests_the_closest(registry: ToolRegistry) -> None:
    outcome = await registry.call("ecko", {}, ToolContext(), allowed=None)
    assert isinstance(outcome.error, UnknownTool)
    assert "did you mean 'echo'?" in outcome.error.message
    with pytest.raises(UnknownTool):
        registry.check(["echo", "nope"])


async def test_timeout_and_crash_are_tool_errors(registry: ToolRegistry) -> None:
    late = await registry.call("slow", {"text": "a"}, ToolContext(), allowed=None)
    assert isinstance(late.error, ToolTimeout) and late.duration_s < 1
    crashed = await registry.call("buggy", {"text": "a"}, ToolContext(), allowed=None)
    assert type(crashed.error) is ToolError and "KeyError" in crashed.error.message


def test_duplicate_names_are_refused(registry: ToolRegistry) -> None:
    with pytest.raises(ConfigError, match="already registered"):
        registry.register(echo)


def test_openai_schema_comes_from_the_args_model(registry: ToolRegistry) -> None:
    (schema,) = registry.openai_tools(["echo"])
    assert schema["function"]["name"] == "echo"
    assert schema["function"]["description"] == "Repeat the text."
    assert schema["function"]["parameters"]["properties"]["times"]["maximum"] == 3
    assert schema["function"]["parameters"]["additionalProperties"] is False


async def test_calls_are_traced(registry: ToolRegistry) -> None:
    seen: list[object] = []

    class Sink:
        def handle(self, event: object) -> None:
            seen.append(event)

    with EventBus("r", [Sink()]).active():
        await registry.call("echo", {"text": "a"}, ToolContext(), allowed=None)
        await registry.call("echo", {"text": ""}, ToolContext(), allowed=None)
    assert [type(e) for e in seen] == [ToolCall, ToolResult, ToolCall, ToolErrorEvent]
    assert seen[0].call_id == seen[1].call_id  # type: ignore[attr-defined]
    assert json.loads(seen[1].result) == {"text": "a"}  # type: ignore[attr-defined]


def test_tool_decorator_checks_annotations() -> None:
    with pytest.raises(TypeError, match="pydantic model"):

        @tool("bad")
        async def bad(args: dict, ctx: ToolContext) -> Echoed:  # type: ignore[type-arg]
            return Echoed(text="")


def test_builtins_and_entry_point_plugins_register_through_one_hook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dist = tmp_path / "demo_tools-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: demo-tools\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[scriptorium.tools]\ndemo = demo_tools_plugin:register_tools\n")
    (tmp_path / "demo_tools_plugin.py").write_text(
        "from tests.tools.test_registry import echo\ndef register_tools(register):\n    register(echo)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "demo_tools_plugin", raising=False)
    registry = default_registry()
    assert registry.names() == [
        "assemble_paper",
        "draft_paper",
        "echo",
        "memory_search",
        "outline_paper",
        "read_source",
        "review_tries",
        "survey_topic",
        "web_search",
        "write_file",
    ]
    monkeypatch.setenv("SCRIPTORIUM_PLUGINS", "")
    assert "echo" not in default_registry().names()
    assert isinstance(default_registry().get("write_file"), Tool)
