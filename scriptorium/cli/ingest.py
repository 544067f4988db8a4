"""`scriptorium ingest`: add documents to the project's memory.

Bad input never costs the good: every path is tried, what could not be used is listed with its reason
after the summary, and the exit code says whether a path named could not be read (see `ingest`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ..errors import ConfigError
from ..memory import FileOutcome, open_store
from ..memory.paths import walk
from ._common import console, settings_from

_PLAIN_EVERY_S = 10.0
"""Without a terminal (a log, CI) there is no live bar: a line of progress this often instead."""


def register(app: typer.Typer) -> None:
    app.command()(ingest)


def ingest(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (Markdown, text, HTML, PDF).")],
    max_size: Annotated[
        float | None,
        typer.Option("--max-size", metavar="MB", min=0, help="Skip files larger than this many megabytes."),
    ] = None,
) -> None:
    """Add documents to the project's shared memory; unchanged files are not embedded again.

    Files with no text to give (binary, an encoding other than UTF-8 or Windows Latin-1, an
    unsupported type) are skipped with their reason. A path that cannot be read (missing, a symlink
    loop, no permission) is reported and the rest is ingested all the same; the command then exits
    with 2 (bad input), otherwise with 0.
    """
    settings = settings_from(ctx)
    total = sum(1 for _ in walk(paths))
    with open_store(settings) as store:
        with _Reporter(total) as reporter:
            report = store.ingest(
                paths,
                on_file=reporter.file,
                on_warning=reporter.warning,
                on_chunks=reporter.chunks,
                max_file_bytes=None if max_size is None else int(max_size * 1024 * 1024),
            )
        for label, outcomes in (("[yellow]skipped[/]", report.skipped), ("[red]not read[/]", report.failed)):
            for outcome in outcomes:
                console.print(f"{label} {escape(outcome.source)}: {escape(outcome.reason)}", soft_wrap=True)
        console.print(report.summary(), soft_wrap=True)
        console.print(
            f"[dim]memory: {store.location} "
            f"(collection {settings.memory_collection}, {store.count()} chunks)[/]"
        )
    if report.failed:
        console.print("fix the paths marked 'not read' and run again: what is stored is not embedded twice")
        # The good files are stored; the exit code still tells a script that its input was wrong.
        raise typer.Exit(ConfigError.exit_code)


class _Reporter:
    """Progress of one ingest: files read and chunks embedded, as live bars on a terminal and as a
    line every few seconds elsewhere; warnings as they come."""

    def __init__(self, files: int) -> None:
        self.live = console.is_terminal
        self.progress = Progress(
            TextColumn("[bold]{task.fields[label]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.description}"),
            console=console,
            transient=True,
            disable=not self.live,
        )
        self.files = self.progress.add_task("", total=files, label="reading  ")
        self.embedding: TaskID | None = None
        self.last_line = time.monotonic()

    def __enter__(self) -> _Reporter:
        self.progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.progress.stop()

    def file(self, outcome: FileOutcome) -> None:
        self.progress.update(self.files, advance=1, description=escape(Path(outcome.source).name))

    def warning(self, source: str, message: str) -> None:
        console.print(f"[yellow]warning[/] {escape(source)}: {escape(message)}", soft_wrap=True)

    def chunks(self, embedded: int, planned: int) -> None:
        if self.embedding is None:
            self.embedding = self.progress.add_task("chunks", total=planned, label="embedding")
        self.progress.update(self.embedding, completed=embedded, total=planned)
        now = time.monotonic()
        if not self.live and embedded and now - self.last_line >= _PLAIN_EVERY_S:
            self.last_line = now
            console.print(f"embedding: {embedded:,} of {planned:,} chunks so far")
