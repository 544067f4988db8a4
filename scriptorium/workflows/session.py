"""One run of a workflow, start to finish: the run folder, its trace, checkpoint and summary.

`runs/<run-id>/`: `workflow.yaml` (the resolved spec), `inputs.json`, `checkpoint.sqlite`,
`trace.jsonl`, `outputs/`, `summary.json`. Resuming reuses the folder: finished steps come from the
checkpoint, and a changed workflow or agent is refused unless forced.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from ..agents import AgentCatalog, OutputRegistry
from ..agents.engine import make_engine
from ..errors import ConfigError
from ..events import EventBus, EventSink, RunFailed, RunFinished, RunStarted, TraceWriter
from ..fileio import write_atomic, write_json_atomic
from ..memory import MemoryStore
from ..serving import ModelClient
from ..tools import ToolContext, ToolRegistry
from .checkpoint import Checkpoint
from .gates import Reviewer
from .inputs import resolve_inputs
from .loader import LoadedWorkflow
from .run_folder import RunSummary, StepSummary, write_run_summary
from .runner import WorkflowResult, WorkflowRunner

__all__ = ["ResumeRefused", "RunOutcome", "new_run_dir", "prepare_run", "run_workflow"]


class ResumeRefused(ConfigError):
    """The run folder was made by a different workflow or agent definition."""


@dataclass(frozen=True)
class RunOutcome:
    run_dir: Path
    result: WorkflowResult
    inputs: dict[str, Any]


def new_run_dir(runs_dir: Path, workflow: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    path = runs_dir / f"{stamp}-{workflow}-{secrets.token_hex(2)}"
    path.mkdir(parents=True)
    return path


async def run_workflow(
    loaded: LoadedWorkflow,
    run_dir: Path,
    *,
    client: ModelClient,
    catalog: AgentCatalog,
    tools: ToolRegistry,
    outputs: OutputRegistry,
    memory: MemoryStore | None,
    inputs: dict[str, Any] | None = None,
    resume: bool = False,
    force: bool = False,
    sinks: list[EventSink] | None = None,
    web: Any = None,
    engine: str | None = None,
    on_checkpoint: Callable[[str, dict[str, Any]], None] | None = None,
    reviewer: Reviewer | None = None,
    review: Collection[str] = (),
) -> RunOutcome:
    """Run (or resume) `loaded` in `run_dir`. With `resume`, inputs come from the folder.

    `engine` overrides the workflow's; a resumed run keeps the engine it started with unless given.
    `on_checkpoint` hears of each step recorded in the checkpoint. `review` opens optional review
    gates; `reviewer` answers gates as they come (without one the run parks, status "waiting").
    """
    checkpoint = Checkpoint(run_dir / "checkpoint.sqlite", on_record=on_checkpoint)
    try:
        values, engine = prepare_run(
            checkpoint, loaded, run_dir, catalog, inputs=inputs, resume=resume, force=force, engine=engine
        )
        if resume and not review:  # a resumed run keeps the gates it was started with
            review = json.loads(checkpoint.get_meta("review") or "[]")
        checkpoint.set_meta("review", json.dumps(sorted(set(review))))
        (run_dir / "outputs").mkdir(exist_ok=True)
        trace = TraceWriter(run_dir / "trace.jsonl")
        bus = EventBus(run_dir.name, [trace, *(sinks or [])])
        context = ToolContext(run_dir=run_dir, memory=memory, memory_writable=memory is not None, web=web)
        runtime = make_engine(engine, client, tools=tools, outputs=outputs, context=context)
        runner = WorkflowRunner(
            loaded,
            runtime=runtime,
            catalog=catalog,
            tools=tools,
            context=context,
            checkpoint=checkpoint,
            reviewer=reviewer,
            review=review,
            outputs=outputs,
        )
        with bus.active():
            bus.emit(RunStarted(workflow=loaded.spec.name, inputs=values))
            try:
                await runner.run(values)
            finally:
                result = runner.result  # set even when the run is cancelled
                if result.status in ("succeeded", "cancelled", "waiting"):
                    bus.emit(RunFinished(status=result.status, duration_s=result.duration_s))
                else:
                    bus.emit(RunFailed(error=result.error or result.status, duration_s=result.duration_s))
                _write_summary(run_dir, loaded, engine, values, result)
                trace.close()
        return RunOutcome(run_dir, result, values)
    finally:
        checkpoint.close()


def prepare_run(
    checkpoint: Checkpoint,
    loaded: LoadedWorkflow,
    run_dir: Path,
    catalog: AgentCatalog,
    *,
    inputs: dict[str, Any] | None = None,
    resume: bool = False,
    force: bool = False,
    engine: str | None = None,
) -> tuple[dict[str, Any], str]:
    """Check a resume, or record a new run's inputs and spec; returns the inputs and the engine."""
    spec_hash = loaded.spec_hash(catalog)
    if resume:
        recorded = checkpoint.get_meta("spec_hash")
        if recorded is None:
            raise ResumeRefused(f"{run_dir} holds no run to resume")
        if recorded != spec_hash and not force:
            raise ResumeRefused(
                f"the workflow or its agents changed since {run_dir.name} started "
                f"(spec hash {recorded} then, {spec_hash} now)",
                hint="resume with --force to continue with the new definition anyway",
            )
        values = json.loads((run_dir / "inputs.json").read_text())
        engine = engine or checkpoint.get_meta("engine")
    else:
        values = resolve_inputs(loaded.spec, inputs or {})
        write_json_atomic(run_dir / "inputs.json", values)
        write_atomic(
            run_dir / "workflow.yaml",
            yaml.safe_dump(loaded.spec.model_dump(mode="json", by_alias=True), sort_keys=False),
        )
        checkpoint.set_meta("workflow_path", str(loaded.file.resolve()))
    checkpoint.set_meta("spec_hash", spec_hash)
    engine = engine or loaded.spec.engine
    checkpoint.set_meta("engine", engine)
    return values, engine


def _write_summary(
    run_dir: Path, loaded: LoadedWorkflow, engine: str, inputs: dict[str, Any], result: WorkflowResult
) -> None:
    steps = {
        path: StepSummary(
            status=record.status,
            duration_s=round(record.duration_s, 3),
            prompt_tokens=record.prompt_tokens,
            completion_tokens=record.completion_tokens,
            error=record.error,
        )
        for path, record in sorted(result.steps.items())
    }
    summary = RunSummary(
        workflow=loaded.spec.name,
        engine=engine,
        status=result.status,
        error=result.error,
        inputs=inputs,
        outputs=result.outputs,
        duration_s=round(result.duration_s, 3),
        prompt_tokens=result.prompt_tokens,
        completion_tokens=result.completion_tokens,
        steps=steps,
    )
    write_run_summary(run_dir, summary)
