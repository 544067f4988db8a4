"""Batch mode: one workflow over a task list, tasks concurrent and isolated, resumable by manifest.

A task file is YAML (a list of input mappings), JSONL (an object a line) or CSV (a header of input
names); an optional `id` names a task. Every task's inputs are checked before any task starts, and
each problem names the file and line. Each task runs in its own run folder under the batch folder
(`tasks/<id>/`), sharing one model client and one memory; a failed task is recorded and the others
go on. Resuming skips finished tasks and, inside unfinished ones, finished steps.

How a task is executed is an `Executor`: the local one runs it as an asyncio task in this process,
`ray_executor.RayExecutor` on a Ray cluster. Either way the task's folder ends up the same (this
process alone writes the batch folder), so skipping, resuming, outcomes and the summary are one code.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..agents import AgentCatalog, OutputRegistry
from ..errors import ConfigError, ScriptoriumError
from ..events import EventSink
from ..fileio import write_json_atomic
from ..memory import MemoryStore
from ..serving import ModelClient
from ..specfile import SpecError, SpecErrors, load_yaml, read_text
from ..tools import ToolRegistry
from .inputs import InputError, parse_cli_value, resolve_inputs
from .loader import LoadedWorkflow
from .run_folder import (
    BatchRunSummary,
    RunFolderError,
    RunSummary,
    TaskResult,
    read_run_summary,
    write_batch_run_summary,
)
from .session import run_workflow
from .spec import WorkflowSpec

__all__ = [
    "BatchJob",
    "BatchTask",
    "Executor",
    "LocalExecutor",
    "TaskOutcome",
    "load_tasks",
    "read_manifest",
    "run_batch",
    "write_batch_summary",
]

_TASK_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class BatchTask:
    id: str
    inputs: dict[str, Any]
    line: int | None


TaskOutcome = TaskResult
"""How a task of a batch ended (the row the batch's summary.json records for it)."""


@dataclass(frozen=True)
class BatchJob:
    """What every task of a batch shares."""

    loaded: LoadedWorkflow
    client: ModelClient
    catalog: AgentCatalog
    tools: ToolRegistry
    outputs: OutputRegistry
    memory: MemoryStore | None
    engine: str
    sinks: list[EventSink] = field(default_factory=list)
    review: tuple[str, ...] = ()
    """Optional review gates to open: a task that reaches one parks ("waiting") for `review`."""


class Executor(Protocol):
    """Runs one task of a batch into its folder (its `summary.json` says how it went). The batch
    runner calls `start` before any task (a problem it can find then stops the batch), bounds how
    many tasks run at once, and calls `close` when every task is done."""

    async def start(self) -> None: ...

    async def run_task(self, job: BatchJob, task: BatchTask, task_dir: Path, resume: bool) -> None: ...

    async def close(self) -> None: ...


class LocalExecutor:
    """Tasks as asyncio tasks in this process (they share its model client and memory)."""

    async def start(self) -> None:
        """Nothing to prepare."""

    async def run_task(self, job: BatchJob, task: BatchTask, task_dir: Path, resume: bool) -> None:
        await run_workflow(
            job.loaded,
            task_dir,
            client=job.client,
            catalog=job.catalog,
            tools=job.tools,
            outputs=job.outputs,
            memory=job.memory,
            inputs=task.inputs,
            resume=resume,
            sinks=job.sinks,
            engine=job.engine,
            review=job.review,
        )

    async def close(self) -> None:
        """Nothing to release."""


def load_tasks(path: Path, spec: WorkflowSpec) -> list[BatchTask]:
    """The tasks of a YAML, JSONL or CSV file, every input checked; raises `SpecErrors` with all problems."""
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        raw = _yaml_rows(path)
    elif suffix == ".jsonl":
        raw = _jsonl_rows(path)
    elif suffix == ".csv":
        raw = _csv_rows(path, spec)
    else:
        raise ConfigError(f"{path}: task files are .yaml, .jsonl or .csv, not '{suffix or path.name}'")
    tasks: list[BatchTask] = []
    problems: list[SpecError] = []
    seen: dict[str, int | None] = {}
    for number, (line, row) in enumerate(raw, start=1):
        if not isinstance(row, dict):
            problems.append(SpecError(path, "a task must be a mapping of input names to values", line=line))
            continue
        values = dict(row)
        task_id = str(values.pop("id", f"task-{number:03d}"))
        if not _TASK_ID.match(task_id):
            problems.append(
                SpecError(path, f"task id '{task_id}' must be letters, digits, '.', '_' or '-'", line=line)
            )
            continue
        if task_id in seen:
            problems.append(
                SpecError(path, f"duplicate task id '{task_id}' (also at line {seen[task_id]})", line=line)
            )
            continue
        seen[task_id] = line
        try:
            resolved = resolve_inputs(spec, values)
        except InputError as exc:
            problems.extend(SpecError(path, problem, line=line) for problem in exc.problems)
            continue
        tasks.append(BatchTask(task_id, resolved, line))
    if not raw:
        problems.append(SpecError(path, "no tasks in the file"))
    if problems:
        raise SpecErrors(problems)
    return tasks


def _yaml_rows(path: Path) -> list[tuple[int | None, Any]]:
    located = load_yaml(path)
    data = located.data
    if isinstance(data, dict) and isinstance(data.get("tasks"), list):
        prefix: tuple[Any, ...] = ("tasks",)
        data = data["tasks"]
    else:
        prefix = ()
    if not isinstance(data, list):
        raise SpecErrors([SpecError(path, "expected a list of tasks (or a mapping with a 'tasks' list)")])
    return [(located.position((*prefix, index))[0], row) for index, row in enumerate(data)]


def _jsonl_rows(path: Path) -> list[tuple[int | None, Any]]:
    rows: list[tuple[int | None, Any]] = []
    problems = []
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            problems.append(SpecError(path, f"invalid JSON: {exc.msg}", line=number, column=exc.colno))
    if problems:
        raise SpecErrors(problems)
    return rows


def _csv_rows(path: Path, spec: WorkflowSpec) -> list[tuple[int | None, Any]]:
    reader = csv.DictReader(io.StringIO(read_text(path)))
    columns = [c for c in reader.fieldnames or [] if c != "id"]
    unknown = [c for c in columns if c not in spec.inputs]
    if unknown:
        raise SpecErrors(
            [
                SpecError(
                    path,
                    f"unknown column '{name}'",
                    line=1,
                    hint="columns are the workflow's inputs: " + ", ".join(spec.inputs),
                )
                for name in unknown
            ]
        )
    rows: list[tuple[int | None, Any]] = []
    problems = []
    header = reader.fieldnames or []
    for row in reader:
        extra = row.pop(None, None)  # DictReader's restkey: cells past the header
        if extra:
            problems.append(
                SpecError(
                    path,
                    f"{len(header) + len(extra)} cells for {len(header)} columns",
                    line=reader.line_num,
                    hint='a cell holding a comma needs quotes: "a, b"',
                )
            )
            continue
        values = {
            key: value if key == "id" else parse_cli_value(spec, key, value)
            for key, value in row.items()
            if value not in (None, "")
        }
        rows.append((reader.line_num, values))
    if problems:
        raise SpecErrors(problems)
    return rows


def write_batch_summary(batch_dir: Path, workflow: str, outcomes: list[TaskOutcome]) -> None:
    summary = BatchRunSummary(
        workflow=workflow,
        tasks=len(outcomes),
        succeeded=sum(o.status == "succeeded" for o in outcomes),
        failed=sum(o.status != "succeeded" for o in outcomes),
        prompt_tokens=sum(o.prompt_tokens for o in outcomes),
        completion_tokens=sum(o.completion_tokens for o in outcomes),
        results=outcomes,
    )
    write_batch_run_summary(batch_dir, summary)


async def run_batch(
    loaded: LoadedWorkflow,
    tasks: Sequence[BatchTask],
    batch_dir: Path,
    *,
    client: ModelClient,
    catalog: AgentCatalog,
    tools: ToolRegistry,
    outputs: OutputRegistry,
    memory: MemoryStore | None,
    concurrency: int,
    executor: Executor | None = None,
    on_task: Callable[[TaskOutcome], None] | None = None,
    sinks: list[EventSink] | None = None,
    engine: str | None = None,
    review: Sequence[str] = (),
) -> list[TaskOutcome]:
    """Run every task (resuming those already begun in `batch_dir`); writes `summary.json`.

    `engine` overrides the workflow's; a resumed batch keeps the one it started with unless given.
    """
    engine = engine or _recorded_engine(batch_dir) or loaded.spec.engine
    write_json_atomic(
        batch_dir / "manifest.json",
        {
            "workflow_path": str(loaded.file.resolve()),
            "spec_hash": loaded.spec_hash(catalog),
            "engine": engine,
            "tasks": [{"id": t.id, "inputs": t.inputs} for t in tasks],
        },
    )

    job = BatchJob(loaded, client, catalog, tools, outputs, memory, engine, list(sinks or []), tuple(review))
    executor = executor or LocalExecutor()
    slots = asyncio.Semaphore(concurrency)

    async def run_one(task: BatchTask) -> TaskOutcome:
        task_dir = batch_dir / "tasks" / task.id
        recorded = _read_summary(task_dir)
        if recorded is not None and recorded.status == "succeeded":
            outcome = _outcome(task.id, task_dir, recorded)
        else:
            resume = (task_dir / "checkpoint.sqlite").is_file() and (task_dir / "inputs.json").is_file()
            task_dir.mkdir(parents=True, exist_ok=True)
            try:
                async with slots:
                    await executor.run_task(job, task, task_dir, resume)
                finished = read_run_summary(task_dir)
                if finished is None:
                    raise RunFolderError(f"task {task.id} ended without writing {task_dir / 'summary.json'}")
                outcome = _outcome(task.id, task_dir, finished)
            except ScriptoriumError as exc:  # a task that could not even start is one failed task
                outcome = TaskOutcome(
                    id=task.id,
                    status="failed",
                    duration_s=0.0,
                    prompt_tokens=0,
                    completion_tokens=0,
                    run_dir=str(task_dir),
                    error=exc.message,
                )
        if on_task is not None:
            on_task(outcome)
        return outcome

    await executor.start()
    try:
        outcomes = list(await asyncio.gather(*(run_one(t) for t in tasks)))
    finally:
        await executor.close()
    write_batch_summary(batch_dir, loaded.spec.name, outcomes)
    return outcomes


def read_manifest(batch_dir: Path) -> tuple[Path, list[BatchTask]]:
    """The workflow file and tasks of an earlier batch, for `--resume`."""
    try:
        manifest = json.loads((batch_dir / "manifest.json").read_text())
        tasks = [BatchTask(t["id"], t["inputs"], None) for t in manifest["tasks"]]
        return Path(manifest["workflow_path"]), tasks
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"{batch_dir} is not a batch folder (no readable manifest.json)",
            hint="pass a folder that `scriptorium batch` wrote",
        ) from exc


def _read_summary(task_dir: Path) -> RunSummary | None:
    """A task's summary, or None when it has none yet (or an unreadable one: the task runs again)."""
    try:
        return read_run_summary(task_dir)
    except RunFolderError:
        return None


def _recorded_engine(batch_dir: Path) -> str | None:
    try:
        engine = json.loads((batch_dir / "manifest.json").read_text()).get("engine")
    except (OSError, ValueError, AttributeError):
        return None
    return engine if isinstance(engine, str) else None


def _outcome(task_id: str, task_dir: Path, summary: RunSummary) -> TaskOutcome:
    return TaskOutcome(
        id=task_id,
        status=summary.status,
        duration_s=summary.duration_s,
        prompt_tokens=summary.prompt_tokens,
        completion_tokens=summary.completion_tokens,
        run_dir=str(task_dir),
        outputs=summary.outputs,
        error=summary.error,
    )
