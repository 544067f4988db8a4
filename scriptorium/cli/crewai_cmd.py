"""`scriptorium import crewai` and `scriptorium export crewai`: arrive from CrewAI, or leave for it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..project import Project
from ..workflows.crewai_export import export_crewai
from ..workflows.crewai_project import Translation, import_crewai
from ._common import console, open_project, settings_from

import_app = typer.Typer(help="Bring agents and workflows in from another framework.", no_args_is_help=True)
export_app = typer.Typer(
    help="Write a workflow and its agents out for another framework.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(import_app, name="import")
    app.add_typer(export_app, name="export")


@import_app.command("crewai")
def import_crewai_cmd(
    ctx: typer.Context,
    project: Annotated[Path, typer.Argument(help="The CrewAI project folder.", exists=True, file_okay=False)],
    name: Annotated[str | None, typer.Option(help="Workflow name (default: the folder's).")] = None,
    to: Annotated[Path | None, typer.Option(help="Project folder to write into (default: this one).")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite files of the same name.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be written; write nothing.")
    ] = False,
) -> None:
    """Translate a CrewAI project (config/agents.yaml, config/tasks.yaml and the @CrewBase class in
    its Python) into agents/NAME.yaml and workflows/NAME.yaml; nothing is written unless it validates."""
    settings = settings_from(ctx)
    dest = to or settings.project_dir
    translation = import_crewai(project, dest, name=name, force=force, dry_run=dry_run)
    if dry_run:
        for path, text in translation.contents.items():
            console.rule(f"would write {path}")
            console.print(text, highlight=False, markup=False, soft_wrap=True)
        _report(translation)
        console.print("[green]valid[/]; nothing written (--dry-run)")
        return
    _report(translation)
    workflow = translation.files[-1]
    Project(settings.model_copy(update={"project_dir": dest})).workflow(workflow)
    console.print(f"[green]valid[/]; run it with: scriptorium run {workflow} --input NAME=VALUE …")


@export_app.command("crewai")
def export_crewai_cmd(
    ctx: typer.Context,
    workflow: Annotated[str, typer.Argument(help="A workflow name or path.")],
    to: Annotated[Path, typer.Option(help="Folder for config/ and crew.py.")] = Path("crewai-export"),
    force: Annotated[bool, typer.Option(help="Overwrite files of the same name.")] = False,
) -> None:
    """Write config/agents.yaml, config/tasks.yaml and crew.py for a workflow's agent steps."""
    project = open_project(ctx)
    _report(export_crewai(project.workflow(workflow), project.catalog, to, force=force))


def _report(translation: Translation) -> None:
    for path in translation.files if translation.written else []:
        console.print(f"wrote {path}", highlight=False)
    if translation.notes:
        console.print(f"[yellow]not translated ({len(translation.notes)}):[/]")
        for note in translation.notes:
            console.print(f"  - {note}", highlight=False, soft_wrap=True)
