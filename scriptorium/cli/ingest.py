"""`scriptorium ingest`: add documents to the project's memory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..memory import FileOutcome, open_store
from ..memory.store import expand_paths
from ._common import console, settings_from


def register(app: typer.Typer) -> None:
    app.command()(ingest)


def ingest(
    ctx: typer.Context,
    paths: Annotated[
        list[Path], typer.Argument(help="Files or folders (Markdown, text, HTML, PDF).", exists=True)
    ],
) -> None:
    """Add documents to the project's shared memory; unchanged files are not embedded again."""
    settings = settings_from(ctx)
    files = expand_paths(paths)
    with open_store(settings) as store:
        progress = Progress(
            TextColumn("[bold]ingesting"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=console,
            transient=True,
        )
        with progress:
            task = progress.add_task("", total=len(files))

            def advance(outcome: FileOutcome) -> None:
                progress.update(task, advance=1, description=Path(outcome.source).name)

            report = store.ingest(files, on_file=advance)
        for skipped in report.skipped:
            console.print(f"[yellow]skipped[/] {skipped.source}: {skipped.reason}", soft_wrap=True)
        console.print(report.summary(), soft_wrap=True)
        console.print(
            f"[dim]memory: {store.location} "
            f"(collection {settings.memory_collection}, {store.count()} chunks)[/]"
        )
