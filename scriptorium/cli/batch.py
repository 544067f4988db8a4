"""`scriptorium batch`: one workflow over a task list (YAML, JSONL or CSV), concurrently, resumably."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..agents.engine import ENGINES, check_engine
from ..config import Settings
from ..errors import ConfigError
from ..workflows.batch import Executor, LocalExecutor, TaskOutcome, load_tasks, read_manifest
from ..workflows.gates import GateParked
from ._common import connect, console, open_project


def register(app: typer.Typer) -> None:
    app.command("batch")(batch)


def batch(
    ctx: typer.Context,
    tasks_file: Annotated[
        Path | None, typer.Argument(help="Tasks: .yaml, .jsonl or .csv.", exists=True)
    ] = None,
    workflow: Annotated[str, typer.Option(help="Workflow name or path.")] = "paper",
    concurrency: Annotated[int, typer.Option(min=1, help="Tasks running at once.")] = 4,
    corpus: Annotated[
        list[Path] | None, typer.Option(help="Ingest these into memory first.", exists=True)
    ] = None,
    batches_dir: Annotated[
        Path | None, typer.Option(help="Where batch folders go (default: ./batches).")
    ] = None,
    engine: Annotated[
        str | None,
        typer.Option(help=f"Agent framework: {' or '.join(ENGINES)} (default: the workflow's `engine`)."),
    ] = None,
    resume: Annotated[Path | None, typer.Option(help="Resume the batch in this folder.", exists=True)] = None,
    executor: Annotated[
        str, typer.Option(help="Where tasks run: local (this process) or ray (a Ray cluster).")
    ] = "local",
    ray_address: Annotated[
        str, typer.Option(help="The Ray cluster: auto (the local one), HOST:PORT or ray://HOST:10001.")
    ] = "auto",
    review: Annotated[
        str | None,
        typer.Option(help="Open these optional review gates; tasks that reach one wait for `review`."),
    ] = None,
) -> None:
    """Run a workflow once per task; a failed task is recorded and the others go on."""
    check_engine(engine)
    project = open_project(ctx)
    settings = project.settings
    if resume is not None:
        workflow_path, tasks = read_manifest(resume)
        loaded = project.workflow(workflow_path)
        batch_dir = resume
    else:
        if tasks_file is None:
            raise ConfigError("give a task file (or --resume BATCH_DIR)")
        loaded = project.workflow(workflow)
        tasks = load_tasks(tasks_file, loaded.spec)  # every problem, before anything starts
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        batch_dir = (batches_dir or settings.project_dir / "batches") / f"{stamp}-{loaded.spec.name}"
        batch_dir.mkdir(parents=True)
    runner = _executor(settings, executor, ray_address)
    endpoint = connect(project)
    console.print(
        f"[dim]{len(tasks)} tasks, model {endpoint.model} at {endpoint.base_url}; folder {batch_dir}[/]"
    )
    if corpus:
        console.print(f"[dim]memory: {project.ingest(corpus).summary()}[/]")

    async def go() -> list[TaskOutcome]:
        progress = Progress(
            TextColumn("[bold]tasks"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        with progress:
            bar = progress.add_task("tasks", total=len(tasks))

            def done(outcome: TaskOutcome) -> None:
                progress.advance(bar)
                if outcome.status == "waiting":
                    progress.console.print(f"[yellow]…[/] {outcome.id}: waits for review", soft_wrap=True)
                elif outcome.status != "succeeded":
                    progress.console.print(f"[red]✗[/] {outcome.id}: {outcome.error}", soft_wrap=True)

            gates = [g.strip() for g in (review or "").split(",") if g.strip()]
            return await project.batch(
                loaded,
                tasks,
                batch_dir,
                concurrency=concurrency,
                on_task=done,
                engine=engine,
                executor=runner,
                review=gates,
            )

    try:
        outcomes = asyncio.run(go())
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted[/]; resume with: scriptorium batch --resume {batch_dir}")
        raise typer.Exit(130) from None
    _report(outcomes, batch_dir)
    if not settings.endpoint_urls:
        console.print("[dim]the model server keeps running; `scriptorium serve --stop` stops it[/]")
    if any(o.status not in ("succeeded", "waiting") for o in outcomes):
        console.print(f"resume with: scriptorium batch --resume {batch_dir}")
        raise typer.Exit(1)
    if any(o.status == "waiting" for o in outcomes):
        console.print(f"answer the gates with: scriptorium review {batch_dir}")
        console.print(f"then: scriptorium batch --resume {batch_dir}")
        raise typer.Exit(GateParked.exit_code)


def _executor(settings: Settings, name: str, address: str) -> Executor:
    if name == "local":
        return LocalExecutor()
    if name != "ray":
        raise ConfigError(f"unknown executor '{name}'", hint="executors: local, ray")
    if not settings.memory.url:
        console.print(
            "[yellow]warning:[/] Ray workers share memory only through a Chroma server; without "
            "memory.url they run with none (see docs/scale-out.md)",
            soft_wrap=True,
        )
    from ..workflows.ray_executor import RayExecutor

    return RayExecutor(address, memory_url=settings.memory.url, memory_collection=settings.memory_collection)


def _report(outcomes: list[TaskOutcome], batch_dir: Path) -> None:
    table = Table("task", "status", "time", "tokens", "output")
    for o in outcomes:
        colour = {"succeeded": "green", "waiting": "yellow"}.get(o.status, "red")
        first: Any = next(iter(o.outputs.values()), "") if o.outputs else (o.error or "")
        table.add_row(
            o.id,
            f"[{colour}]{o.status}[/]",
            f"{o.duration_s:.1f}s",
            f"{o.prompt_tokens + o.completion_tokens}",
            str(first),
        )
    console.print(table)
    console.print(f"summary: {batch_dir / 'summary.json'}")
