"""`scriptorium run`: run a workflow (the paper assistant by default) or resume one."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ..agents import OutputRegistry
from ..agents.engine import ENGINES, check_engine
from ..errors import ConfigError
from ..events import Event, StepFailed, StepFinished
from ..workflows import (
    RunOutcome,
    new_run_dir,
    resolve_inputs,
)
from ..workflows.checkpoint import Checkpoint
from ..workflows.gates import GateParked
from ..workflows.inputs import parse_cli_value
from ._common import connect, console, open_project
from .review_cmd import terminal_reviewer


def register(app: typer.Typer) -> None:
    app.command("run")(run)


class _Progress:
    """Prints each finished or failed step as the run goes (an event sink)."""

    def handle(self, event: Event) -> None:
        if isinstance(event, StepFinished) and not event.cached:
            tokens = (
                f"{event.prompt_tokens}+{event.completion_tokens} tokens" if event.completion_tokens else ""
            )
            console.print(
                f"[green]✓[/] {event.step_id} [dim]{event.duration_s:.1f}s {tokens}[/]", highlight=False
            )
        elif isinstance(event, StepFinished):
            console.print(f"[blue]↺[/] {event.step_id} [dim](from checkpoint)[/]", highlight=False)
        elif isinstance(event, StepFailed):
            console.print(f"[red]✗[/] {event.step_id}: {event.error}", highlight=False, soft_wrap=True)


def run(
    ctx: typer.Context,
    workflow: Annotated[
        str, typer.Argument(help="A workflow name (library or project) or a YAML path.")
    ] = "paper",
    topic: Annotated[str | None, typer.Option(help="The 'topic' input.")] = None,
    sections: Annotated[int | None, typer.Option(help="The 'sections' input.")] = None,
    inputs: Annotated[
        list[str] | None, typer.Option("--input", "-i", help="Any input, as name=value.")
    ] = None,
    corpus: Annotated[
        list[Path] | None, typer.Option(help="Ingest these files or folders into memory first.", exists=True)
    ] = None,
    runs_dir: Annotated[Path | None, typer.Option(help="Where run folders go (default: ./runs).")] = None,
    engine: Annotated[
        str | None,
        typer.Option(help=f"Agent framework: {' or '.join(ENGINES)} (default: the workflow's `engine`)."),
    ] = None,
    resume: Annotated[Path | None, typer.Option(help="Resume the run in this folder.", exists=True)] = None,
    force: Annotated[bool, typer.Option(help="Resume even though the workflow or agents changed.")] = False,
    tui: Annotated[bool, typer.Option("--tui", help="Watch the run in the terminal UI.")] = False,
    review: Annotated[
        str | None,
        typer.Option(help="Open these optional review gates (comma-separated, or 'all'), e.g. outline."),
    ] = None,
) -> None:
    """Run a workflow; by default the paper-writing assistant (`--topic` required)."""
    check_engine(engine)
    project = open_project(ctx)
    settings = project.settings
    if resume is not None:
        loaded = project.workflow(_recorded_workflow(resume))
    else:
        loaded = project.workflow(workflow)
    given: dict[str, Any] = {}
    if resume is None:
        for name, value in (("topic", topic), ("sections", sections)):
            if value is not None:
                given[name] = value
        for item in inputs or []:
            name, sep, text = item.partition("=")
            if not sep:
                raise ConfigError(f"--input takes name=value, got '{item}'")
            given[name.strip()] = parse_cli_value(loaded.spec, name.strip(), text)
        resolve_inputs(loaded.spec, given)  # every input problem, before anything starts
    endpoint = connect(project)
    console.print(f"[dim]model {endpoint.model} at {endpoint.base_url}[/]")
    if corpus:
        console.print(f"[dim]memory: {project.ingest(corpus).summary()}[/]")
    run_dir = resume or new_run_dir(runs_dir or settings.project_dir / "runs", loaded.spec.name)
    console.print(f"run folder: {run_dir}")
    gates = [g.strip() for g in (review or "").split(",") if g.strip()]
    # At a terminal a gate is answered here as the run goes; otherwise the run parks there.
    reviewer = terminal_reviewer(project.outputs) if sys.stdin.isatty() and not tui else None
    start = partial(
        project.run,
        loaded,
        given,
        run_dir=run_dir,
        resume=resume is not None,
        force=force,
        engine=engine,
        review=gates,
        reviewer=reviewer,
    )
    try:
        outcome = (
            _run_in_tui(start, run_dir, project.outputs) if tui else asyncio.run(start(sinks=[_Progress()]))
        )
    except KeyboardInterrupt:
        outcome = None
    if outcome is None:
        console.print(f"[yellow]interrupted[/]; resume with: scriptorium run --resume {run_dir}")
        raise typer.Exit(130)
    result = outcome.result
    table = Table(show_header=False, box=None)
    table.add_row("status", f"[{'green' if result.status == 'succeeded' else 'red'}]{result.status}[/]")
    if result.error:
        table.add_row("error", result.error)
    for name, value in result.outputs.items():
        table.add_row(name, str(value))
    table.add_row("tokens", f"{result.prompt_tokens} prompt + {result.completion_tokens} completion")
    table.add_row("time", f"{result.duration_s:.1f}s")
    table.add_row("run folder", str(run_dir))
    console.print(table)
    if result.status == "waiting":
        console.print(
            f"answer the gate with: scriptorium review {run_dir}; then: scriptorium run --resume {run_dir}"
        )
        raise typer.Exit(GateParked.exit_code)
    if result.status != "succeeded":
        console.print(f"resume with: scriptorium run --resume {run_dir}")
        raise typer.Exit(1)
    if not settings.endpoint_urls:
        console.print("[dim]the model server keeps running; `scriptorium serve --stop` stops it[/]")


def _run_in_tui(
    start: Callable[..., Awaitable[RunOutcome]], run_dir: Path, outputs: OutputRegistry
) -> RunOutcome | None:
    """The run as a worker of the terminal UI, its gates answered in the UI's editor; None when
    the UI was left before it ended (the run is then cancelled, and resumable)."""
    from ..tui import LiveSource, ScriptoriumTUI, tui_reviewer

    live = LiveSource()
    app = ScriptoriumTUI(run_dir, live=live)
    app.work = lambda: start(sinks=[live], reviewer=tui_reviewer(app, outputs))
    app.run()
    return app.result if isinstance(app.result, RunOutcome) else None


def _recorded_workflow(run_dir: Path) -> Path:
    checkpoint_file = run_dir / "checkpoint.sqlite"
    if not checkpoint_file.is_file():
        raise ConfigError(f"{run_dir} is not a run folder (no checkpoint.sqlite)")
    checkpoint = Checkpoint(checkpoint_file)
    try:
        recorded = checkpoint.get_meta("workflow_path")
    finally:
        checkpoint.close()
    if recorded is None or not Path(recorded).is_file():
        raise ConfigError(f"the workflow file of {run_dir} ({recorded}) is gone")
    return Path(recorded)
