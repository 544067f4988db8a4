"""The async runner: every step whose inputs are ready runs at once, bounded by `concurrency`.

A finished step's output is committed to the checkpoint before any dependant starts, so a run killed
at any moment resumes without repeating it (no model call is made for a recorded step). Leaf steps
(agent, tool) hold a concurrency slot; map and loop steps only orchestrate. A failed step fails its
dependants, never its siblings: every map item finishes (and is checkpointed) before a map fails.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from ..agents import AgentCatalog, OutputRegistry, default_outputs
from ..agents.engine import AgentEngine
from ..errors import ScriptoriumError
from ..events import GateDecided, GateOpened, LoopEnded, StepFailed, StepFinished, StepStarted, emit, scope
from ..tools import ToolContext, ToolRegistry
from .checkpoint import Checkpoint, StepRow
from .gates import Gate, GateParked, Reviewer, check_edit, edit_model, park, record_answer, recorded_answer
from .loader import LoadedWorkflow, step_dependencies
from .spec import StepSpec
from .templates import evaluate, render_value

__all__ = ["RunStatus", "StepError", "StepRecord", "WorkflowResult", "WorkflowRunner"]

log = logging.getLogger(__name__)

RunStatus = Literal["succeeded", "failed", "cancelled", "limit_reached", "waiting"]


class StepError(ScriptoriumError):
    """A step failed; `path` says which (e.g. `draft[2].r1.write`)."""

    def __init__(self, path: str, message: str, *, cause: BaseException | None = None) -> None:
        super().__init__(f"step '{path}' failed: {message}")
        self.path = path
        self.reason = message
        if cause is not None:  # kept for whoever reads the traceback or `__cause__`
            self.__cause__ = cause


@dataclass
class StepRecord:
    status: Literal["succeeded", "failed", "skipped", "cached"]
    duration_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None


@dataclass
class WorkflowResult:
    status: RunStatus
    outputs: dict[str, Any]
    steps: dict[str, StepRecord]
    duration_s: float
    error: str | None = None
    model_calls_made: int = 0

    @property
    def prompt_tokens(self) -> int:
        return sum(r.prompt_tokens for r in self.steps.values() if r.status == "succeeded")

    @property
    def completion_tokens(self) -> int:
        return sum(r.completion_tokens for r in self.steps.values() if r.status == "succeeded")


@dataclass
class _Leaf:
    output: Any
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass
class _RunState:
    done: dict[str, StepRow]
    records: dict[str, StepRecord] = field(default_factory=dict)


class WorkflowRunner:
    def __init__(
        self,
        loaded: LoadedWorkflow,
        *,
        runtime: AgentEngine,
        catalog: AgentCatalog,
        tools: ToolRegistry,
        context: ToolContext,
        checkpoint: Checkpoint,
        reviewer: Reviewer | None = None,
        review: Collection[str] = (),
        outputs: OutputRegistry | None = None,
    ) -> None:
        """`reviewer` answers review gates as they come (without one, the run parks at the first);
        `review` names the optional gates to open ("all" for every one)."""
        self.spec = loaded.spec
        self.reviewer = reviewer
        self.review = set(review)
        self.outputs = outputs or default_outputs()
        self.runtime = runtime
        self.catalog = catalog
        self.tools = tools
        self.context = context
        self.checkpoint = checkpoint
        self._slots = asyncio.Semaphore(self.spec.concurrency)

    async def run(self, inputs: Mapping[str, Any]) -> WorkflowResult:
        started = time.perf_counter()
        state = _RunState(done=await asyncio.to_thread(self.checkpoint.finished))
        outputs: dict[str, Any] = {}
        context: dict[str, Any] = {"inputs": dict(inputs), "steps": {}}
        status: RunStatus = "succeeded"
        error: str | None = None
        try:
            async with asyncio.timeout(self.spec.budget_s):
                await self._run_graph(context, state)
            outputs = render_value(dict(self.spec.outputs), context)
        except TimeoutError:
            status, error = "limit_reached", f"the run's budget of {self.spec.budget_s:.0f}s ran out"
        except GateParked as exc:
            status, error = "waiting", str(exc)
        except StepError as exc:
            status, error = "failed", exc.message
        except asyncio.CancelledError:
            status, error = "cancelled", "cancelled; resume to finish"
            raise
        except ScriptoriumError as exc:
            status, error = "failed", exc.message
        finally:
            self.result = WorkflowResult(status, outputs, state.records, time.perf_counter() - started, error)
        return self.result

    async def _run_graph(self, context: dict[str, Any], state: _RunState) -> None:
        steps = self.spec.steps
        finished: dict[str, asyncio.Future[None]] = {
            sid: asyncio.get_running_loop().create_future() for sid in steps
        }
        deps = {sid: step_dependencies(step, steps) for sid, step in steps.items()}

        async def run_one(sid: str) -> None:
            try:
                for dep in deps[sid]:
                    await finished[dep]
                output = await self._execute(sid, steps[sid], context, state, parent=None)
                context["steps"][sid] = {"output": output}
                finished[sid].set_result(None)
            except BaseException as exc:
                kept = isinstance(exc, StepError | GateParked)  # dependants wait on a parked gate too
                finished[sid].set_exception(exc if kept else StepError(sid, str(exc), cause=exc))
                raise

        tasks = [asyncio.create_task(run_one(sid), name=f"step:{sid}") for sid in steps]
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for future in finished.values():
            if future.done() and not future.cancelled():
                future.exception()  # mark retrieved: dependants already saw it
        failures = [r for r in results if isinstance(r, BaseException)]
        for failure in failures:
            if isinstance(failure, asyncio.CancelledError):
                raise failure
        if failures and all(isinstance(f, GateParked) for f in failures):
            raise failures[0]  # every branch finished or waits at the gate: the run waits
        failures = [f for f in failures if not isinstance(f, GateParked)]
        if failures:
            first = next((f for f in failures if isinstance(f, StepError) and f.path in steps), failures[0])
            raise first if isinstance(first, StepError) else StepError("?", str(first), cause=first)

    async def _execute(
        self, path: str, step: StepSpec, context: Mapping[str, Any], state: _RunState, parent: str | None
    ) -> Any:
        if path in state.done:
            record = state.done[path]
            state.records[path] = StepRecord(
                "cached", record.duration_s, record.prompt_tokens, record.completion_tokens
            )
            emit(StepFinished(step_id=path, duration_s=0.0, cached=True))
            return record.output
        if step.when is not None and not evaluate(step.when, context):
            state.records[path] = StepRecord("skipped")
            await self._commit(path, _Leaf(None), 0.0, state)
            return None
        emit(StepStarted(step_id=path, step_kind=step.kind, parent=parent))
        started = time.perf_counter()
        try:
            with scope(step_id=path):
                leaf = await self._by_kind(path, step, context, state)
        except StepError as exc:
            self._failed(path, exc.reason, started, state)
            raise
        except (asyncio.CancelledError, GateParked):
            raise
        except TimeoutError:
            message = f"timed out after {step.timeout_s:.0f}s"
            self._failed(path, message, started, state)
            raise StepError(path, message) from None
        except ScriptoriumError as exc:
            self._failed(path, str(exc), started, state)
            raise StepError(path, str(exc)) from exc
        duration = time.perf_counter() - started
        await self._commit(path, leaf, duration, state)
        emit(
            StepFinished(
                step_id=path,
                duration_s=duration,
                prompt_tokens=leaf.prompt_tokens,
                completion_tokens=leaf.completion_tokens,
            )
        )
        return leaf.output

    async def _commit(self, path: str, leaf: _Leaf, duration: float, state: _RunState) -> None:
        await asyncio.to_thread(
            self.checkpoint.record, path, leaf.output, leaf.prompt_tokens, leaf.completion_tokens, duration
        )
        state.records.setdefault(
            path, StepRecord("succeeded", duration, leaf.prompt_tokens, leaf.completion_tokens)
        )

    def _failed(self, path: str, message: str, started: float, state: _RunState) -> None:
        duration = time.perf_counter() - started
        state.records[path] = StepRecord("failed", duration, error=message)
        emit(StepFailed(step_id=path, error=message, duration_s=duration))

    async def _by_kind(
        self, path: str, step: StepSpec, context: Mapping[str, Any], state: _RunState
    ) -> _Leaf:
        if step.agent is not None:
            async with self._slots, asyncio.timeout(step.timeout_s):
                return await self._agent(step, context)
        if step.tool is not None:
            async with self._slots, asyncio.timeout(step.timeout_s):
                return await self._tool(path, step, context)
        if step.map is not None:
            return await self._map(path, step, context, state)
        if step.loop is not None:
            return await self._loop(path, step, context, state)
        if step.review is not None:
            return await self._review(path, step, context, state)
        assert step.gather is not None
        return _Leaf(render_value(step.gather, context))

    async def _review(self, path: str, step: StepSpec, context: Mapping[str, Any], state: _RunState) -> _Leaf:
        shown = render_value(step.review, context)
        if step.optional and not ({path, "all"} & self.review):
            return _Leaf(shown)  # a gate nobody asked for: the value passes as it is
        for round_ in range(1, step.rounds + 2):
            gate = Gate(path, round_, shown, step.description, step.shape)
            model = edit_model(self.outputs, gate)
            decision = await asyncio.to_thread(recorded_answer, self.checkpoint, gate)
            if decision is None:
                emit(GateOpened(round=round_, shown=shown, description=step.description))
                if self.reviewer is None:
                    await asyncio.to_thread(park, self.checkpoint, gate)
                    raise GateParked(gate, self.context.run_dir)
                decision = await self.reviewer(gate)
                if decision.action == "edit":
                    decision = decision.model_copy(update={"value": check_edit(shown, decision.value, model)})
                await asyncio.to_thread(record_answer, self.checkpoint, gate, decision)
            emit(GateDecided(round=round_, action=decision.action, value=decision.value, note=decision.note))
            if decision.action == "approve":
                return _Leaf(shown)
            if decision.action == "edit":
                return _Leaf(decision.value)
            if step.revise is None or round_ > step.rounds:
                raise StepError(path, f"rejected at review: {decision.note or 'no note'}")
            # Back to the named step, with the note; its new output is shown again.
            note = {"note": decision.note, "round": round_}
            redo = await self._execute(
                f"{path}.r{round_}.{step.revise}",
                self.spec.steps[step.revise],
                {**context, "review": note},
                state,
                parent=path,
            )
            steps = {**context["steps"], step.revise: {"output": redo}}
            shown = render_value(step.review, {**context, "steps": steps})
        raise StepError(path, "no answer")  # unreachable: the last round approves, edits or fails

    async def _agent(self, step: StepSpec, context: Mapping[str, Any]) -> _Leaf:
        assert step.agent is not None and step.prompt is not None
        spec = self.catalog.get(step.agent)
        if step.output is not None:
            spec = spec.model_copy(update={"output": step.output})
        prompt = str(evaluate(step.prompt, context))
        keys = _string_list("citations", step.citations, context)
        choices = _string_list("choices", step.choices, context)
        avoid = _string_list("avoid", step.avoid, context)
        variables = {name: str(evaluate(text, context)) for name, text in step.variables.items()}
        expected = str(evaluate(step.expected_output, context)) if step.expected_output else None
        result = await self.runtime.run(
            spec,
            prompt,
            variables=variables,
            citation_keys=keys,
            choices=choices,
            avoid=avoid,
            expected_output=expected,
        )
        output = (
            result.output.model_dump(mode="json") if isinstance(result.output, BaseModel) else result.output
        )
        return _Leaf(output, result.prompt_tokens, result.completion_tokens)

    async def _tool(self, path: str, step: StepSpec, context: Mapping[str, Any]) -> _Leaf:
        assert step.tool is not None
        args = render_value(step.args, context)
        outcome = await self.tools.call(step.tool, args, self.context, allowed=None)
        if outcome.error is not None:
            raise StepError(path, outcome.error.message)
        assert outcome.value is not None
        return _Leaf(outcome.value.model_dump(mode="json"))

    async def _map(self, path: str, step: StepSpec, context: Mapping[str, Any], state: _RunState) -> _Leaf:
        assert step.map is not None and step.step is not None
        items = evaluate(step.map, context)
        if not isinstance(items, list):
            raise StepError(path, f"map needs a list, got {type(items).__name__}")
        limit = asyncio.Semaphore(step.concurrency or len(items) or 1)
        inner = step.step

        async def one(index: int, item: Any) -> Any:
            async with limit:
                return await self._execute(
                    f"{path}[{index}]", inner, {**context, step.as_: item, "index": index}, state, parent=path
                )

        results = await asyncio.gather(
            *(one(i, item) for i, item in enumerate(items)), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return _Leaf(list(results))

    async def _loop(self, path: str, step: StepSpec, context: Mapping[str, Any], state: _RunState) -> _Leaf:
        loop = step.loop
        assert loop is not None
        previous: dict[str, Any] = {}
        current: dict[str, Any] = {}
        reason: Literal["until", "max_rounds", "stalled"] = "max_rounds"
        detail = ""
        rounds = 0
        for round_no in range(1, loop.max_rounds + 1):
            rounds = round_no
            current = {}
            for name, inner in loop.steps.items():
                scope_values = {"round": round_no, "previous": previous, **current}
                output = await self._execute(
                    f"{path}.r{round_no}.{name}", inner, {**context, "loop": scope_values}, state, parent=path
                )
                current[name] = {"output": output}
            done_context = {**context, "loop": {"round": round_no, "previous": previous, **current}}
            if evaluate(loop.until, done_context):
                reason = "until"
                break
            repeated = [
                n
                for n, v in current.items()
                if n in previous and v["output"] is not None and v == previous[n]
            ]
            if repeated:
                reason, detail = "stalled", f"'{repeated[0]}' gave the same output as in the round before"
                break
            previous = current
        emit(LoopEnded(step_id=path, rounds=rounds, reason=reason, detail=detail))
        final_context = {**context, "loop": {"round": rounds, "previous": previous, **current}}
        if loop.output:
            return _Leaf(evaluate(loop.output, final_context))
        last = list(loop.steps)[-1]
        return _Leaf(current[last]["output"])


def _string_list(field: str, template: str | None, context: Mapping[str, Any]) -> list[str]:
    """The list of strings a `citations:` or `choices:` template gives (empty when there is none)."""
    if not template:
        return []
    value = evaluate(template, context)
    if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
        raise ScriptoriumError(f"{field} must give a list of strings, got {type(value).__name__}")
    return value
