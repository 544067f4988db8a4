"""The CrewAI engine: each agent call is a one-task `crewai.Crew` whose LLM is our model client.

The spec becomes a `crewai.Agent` (role, goal, backstory with our instructions and data rule),
the prompt a `crewai.Task` (its `output_pydantic` the same per-call output model the AutoGen engine
uses, citation keys as enums), and allowlisted registry tools `crewai` tools. The agent's LLM is
`ScriptoriumCrewLLM`, a `crewai.BaseLLM` that sends every request through our `ModelClient`, so
retries, the concurrency cap, accounting and trace events are the same as on the AutoGen engine;
tool choices are the same JSON-schema decisions (`AgentModelCalls`), handed to CrewAI as native
tool calls, which its executor runs. CrewAI calls its LLM synchronously from worker threads
(checked in 1.15: even `akickoff` does), so the LLM hands each request back to the event loop the
run lives on and waits for it there; the loop is never blocked.

CrewAI's telemetry, tracing and version check are switched off before it is first imported.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import json
import os
import threading
import time
import weakref
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, PrivateAttr

from ..errors import ScriptoriumError, StructuredOutputError
from ..events import scope
from ..serving.client import ChatMessage
from ..tools import DATA_RULE, ToolContext, ToolRegistry
from .engine import AgentEngine, AgentResult, AgentRunError, CallPlan, parse_answer
from .model_calls import AgentModelCalls, tool_call_text, tool_result_text
from .spec import AgentSpec, fill_placeholders

# Before crewai is imported: it reads these at import and at each kickoff.
for _name, _value in {
    "CREWAI_DISABLE_TELEMETRY": "true",
    "CREWAI_DISABLE_TRACKING": "true",
    "CREWAI_TRACING_ENABLED": "false",
    "CREWAI_DISABLE_VERSION_CHECK": "true",
    "CREWAI_STORAGE_DIR": "scriptorium-crewai",  # one folder, not one per working directory
}.items():
    os.environ.setdefault(_name, _value)

from crewai import Agent, BaseLLM, Crew, Process, Task  # noqa: E402
from crewai.tools import BaseTool  # noqa: E402

__all__ = ["CrewAIRuntime", "RegistryCrewTool", "ScriptoriumCrewLLM"]

T = TypeVar("T")
# CrewAI runs each LLM step in the loop's default thread pool (a handful of threads on a small
# machine): without more, at most that many agent calls could wait on the model at once.
_THREADS = 64
_sized_loops: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


class _LoopBridge:
    """Runs coroutines on the run's event loop for code on CrewAI's worker threads."""

    def __init__(self, loop: asyncio.AbstractEventLoop, context: contextvars.Context) -> None:
        self._loop = loop
        self._context = context  # the run's (trace bus, agent scope), so events stay attributed
        self._pending: set[asyncio.Task[Any]] = set()
        self._closed = False

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if self._closed:
            coroutine.close()
            raise concurrent.futures.CancelledError("the agent call was cancelled")
        if threading.get_ident() == getattr(self._loop, "_thread_id", None):
            coroutine.close()
            raise RuntimeError("a CrewAI LLM call reached the event loop's own thread")
        done: concurrent.futures.Future[T] = concurrent.futures.Future()

        def start() -> None:
            task = self._loop.create_task(coroutine)
            self._pending.add(task)
            task.add_done_callback(lambda t: self._settle(t, done))

        self._loop.call_soon_threadsafe(start, context=self._context.copy())
        return done.result()

    def _settle(self, task: asyncio.Task[T], done: concurrent.futures.Future[T]) -> None:
        self._pending.discard(task)
        if task.cancelled():
            done.cancel()
        elif task.exception() is not None:
            done.set_exception(task.exception())
        else:
            done.set_result(task.result())

    def close(self) -> None:
        """Cancel what is in flight and refuse more (a worker thread then ends with an error)."""
        self._closed = True
        for task in list(self._pending):
            task.cancel()


class ScriptoriumCrewLLM(BaseLLM):
    """CrewAI's LLM interface over `AgentModelCalls` (and so over our `ModelClient`)."""

    _calls: AgentModelCalls = PrivateAttr()
    _bridge: _LoopBridge = PrivateAttr()
    _output: type[BaseModel] | None = PrivateAttr(default=None)

    @classmethod
    def over(
        cls, calls: AgentModelCalls, bridge: _LoopBridge, output: type[BaseModel] | None
    ) -> ScriptoriumCrewLLM:
        llm = cls(model=calls.settings["model"] or calls.profile.model, provider="openai")
        llm._calls, llm._bridge, llm._output = calls, bridge, output
        return llm

    def call(
        self,
        messages: str | list[Any],
        tools: list[dict[str, Any]] | None = None,
        callbacks: list[Any] | None = None,
        available_functions: dict[str, Any] | None = None,
        from_task: Any = None,
        from_agent: Any = None,
        response_model: type[BaseModel] | None = None,
    ) -> Any:
        return self._bridge.run(self._respond(to_chat_messages(messages), tools or [], response_model))

    async def acall(
        self,
        messages: str | list[Any],
        tools: list[dict[str, Any]] | None = None,
        callbacks: list[Any] | None = None,
        available_functions: dict[str, Any] | None = None,
        from_task: Any = None,
        from_agent: Any = None,
        response_model: type[BaseModel] | None = None,
    ) -> Any:
        return await self._respond(to_chat_messages(messages), tools or [], response_model)

    async def _respond(
        self,
        conversation: list[ChatMessage],
        tools: list[dict[str, Any]],
        response_model: type[BaseModel] | None,
    ) -> Any:
        calls = self._calls
        if tools and calls.may_use_tools():
            chosen = await calls.choose_tool(conversation, [t.get("function", t) for t in tools])
            if chosen:
                return [
                    {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                    for c in chosen
                ]
        text = await calls.answer(conversation, response_model or self._output)
        return response_model.model_validate_json(text) if response_model is not None else text

    def supports_function_calling(self) -> bool:
        # Natively or by JSON-schema decisions (AgentModelCalls): either way CrewAI gets tool calls.
        return True

    def supports_stop_words(self) -> bool:
        return False

    def get_context_window_size(self) -> int:
        return self._calls.profile.context_length or 8192

    def get_input_tokens_count(self, messages: Any, tools: Any = None, response_model: Any = None) -> int:
        return sum(len(m["content"]) for m in to_chat_messages(messages)) // 4


class RegistryCrewTool(BaseTool):
    """A registry tool as CrewAI sees it; calls go through the registry, allowlist and all."""

    _registry: ToolRegistry = PrivateAttr()
    _context: ToolContext = PrivateAttr()
    _allowed: tuple[str, ...] = PrivateAttr()
    _bridge: _LoopBridge = PrivateAttr()
    _used: list[str] = PrivateAttr()

    @classmethod
    def over(
        cls,
        registry: ToolRegistry,
        name: str,
        context: ToolContext,
        allowed: Sequence[str],
        bridge: _LoopBridge,
        used: list[str],
    ) -> RegistryCrewTool:
        """`used` collects the name of every call, for the agent's result."""
        tool = registry.get(name)
        made = cls(name=tool.name, description=tool.description, args_schema=tool.args)
        made._registry, made._context, made._allowed = registry, context, tuple(allowed)
        made._bridge, made._used = bridge, used
        return made

    def _run(self, **arguments: Any) -> str:
        # The registry validates (with errors the model can read) and traces the call.
        self._used.append(self.name)
        outcome = self._bridge.run(
            self._registry.call(self.name, arguments, self._context, allowed=self._allowed)
        )
        return outcome.for_model()


class CrewAIRuntime(AgentEngine):
    """The CrewAI engine: a one-agent, one-task crew per call, on our model client."""

    name = "crewai"

    async def run(
        self,
        spec: AgentSpec,
        task: str,
        *,
        variables: Mapping[str, Any] | None = None,
        citation_keys: Sequence[str] = (),
        choices: Sequence[str] = (),
        avoid: Sequence[str] = (),
        expected_output: str | None = None,
    ) -> AgentResult:
        """One task for one agent; returns its validated answer."""
        plan = await self.plan(spec, task, variables, citation_keys, choices, avoid, expected_output)
        calls = await self.model_calls(spec, plan)
        loop = asyncio.get_running_loop()
        _enough_threads(loop)
        started = time.perf_counter()
        with scope(agent=spec.name):
            bridge = _LoopBridge(loop, contextvars.copy_context())
            tools_used: list[str] = []
            crew, crew_task = self._crew(spec, plan, calls, bridge, dict(variables or {}), tools_used)
            try:
                await crew.akickoff()
            except StructuredOutputError as exc:
                raise AgentRunError(
                    f"agent '{spec.name}' gave no valid answer: {exc.message}", agent=spec.name, raw=exc.raw
                ) from exc
            except ScriptoriumError:
                raise
            except Exception as exc:  # CrewAI's own failures (parsing, conversion) carry its message
                raise AgentRunError(
                    f"agent '{spec.name}' failed on the crewai engine: {type(exc).__name__}: {exc}",
                    agent=spec.name,
                ) from exc
            finally:
                bridge.close()
        output = crew_task.output
        if output is None:
            raise AgentRunError(f"agent '{spec.name}' ended without an answer", agent=spec.name)
        if output.pydantic is not None:
            value: Any = output.pydantic
            text = output.pydantic.model_dump_json()
        else:
            text = output.raw
            value = parse_answer(spec, plan, text)
        return AgentResult(
            agent=spec.name,
            output=value,
            text=text,
            prompt_tokens=calls.prompt_tokens,
            completion_tokens=calls.completion_tokens,
            model_calls=calls.model_calls,
            tool_calls=len(tools_used),
            duration_s=time.perf_counter() - started,
            tools_used=tools_used,
        )

    def _crew(
        self,
        spec: AgentSpec,
        plan: CallPlan,
        calls: AgentModelCalls,
        bridge: _LoopBridge,
        variables: dict[str, Any],
        tools_used: list[str],
    ) -> tuple[Crew, Task]:
        backstory = "\n\n".join(
            p for p in (spec.backstory.strip(), spec.instructions.strip(), DATA_RULE) if p
        )
        agent = Agent(
            role=fill_placeholders(spec.role, variables),
            goal=fill_placeholders(spec.goal, variables),
            backstory=fill_placeholders(backstory, variables),
            llm=ScriptoriumCrewLLM.over(calls, bridge, plan.output_type),
            tools=[
                RegistryCrewTool.over(self.tools, name, plan.context, spec.tools, bridge, tools_used)
                for name in spec.tools
            ],
            # Our own bound (tool rounds) ends the loop first; CrewAI's is a backstop.
            max_iter=spec.max_turns + 2,
            max_retry_limit=0,  # a failure is reported, not silently repeated
            allow_delegation=False,
            respect_context_window=False,
            memory=False,
            verbose=False,
        )
        task = Task(
            description=plan.task,
            expected_output=plan.expected_output or _expected_output(plan),
            agent=agent,
            output_pydantic=plan.output_type,
            # Also the response model: CrewAI then leaves the schema out of the prompt (decoding is
            # guided by it anyway): a planner call's prompt went from 634 to 201 tokens.
            response_model=plan.output_type,
        )
        crew = Crew(
            agents=[agent],
            tasks=[task],
            process=Process.sequential,
            memory=False,
            tracing=False,
            verbose=False,
        )
        return crew, task


def _expected_output(plan: CallPlan) -> str:
    if plan.output_type is not None or plan.output_schema is not None:
        return "Your answer, as JSON matching the schema."
    return "Your answer."


def to_chat_messages(messages: str | Sequence[Mapping[str, Any]]) -> list[ChatMessage]:
    """CrewAI's messages as plain chat turns; tool calls and results become text, since the model
    may not know a `tool` role (the same shapes the AutoGen engine shows it)."""
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    out: list[ChatMessage] = []
    for message in messages:
        role = message.get("role")
        if role == "tool":
            text = tool_result_text(str(message.get("name")), message.get("content"))
            out.append({"role": "user", "content": text})
        elif role == "assistant" and message.get("tool_calls"):
            shown = [
                tool_call_text(c["function"]["name"], c["function"].get("arguments") or "{}")
                for c in message["tool_calls"]
            ]
            out.append({"role": "assistant", "content": json.dumps(shown[0] if len(shown) == 1 else shown)})
        elif role in ("system", "user", "assistant"):
            out.append({"role": role, "content": str(message.get("content") or "")})
    return out


def _enough_threads(loop: asyncio.AbstractEventLoop) -> None:
    if loop not in _sized_loops:
        loop.set_default_executor(
            concurrent.futures.ThreadPoolExecutor(
                max_workers=_THREADS, thread_name_prefix="scriptorium-crewai"
            )
        )
        _sized_loops.add(loop)
